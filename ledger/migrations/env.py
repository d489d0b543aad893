"""Alembic's environment: run the revisions on the connection ``ledger.migrations`` hands in.

There is no alembic.ini and no URL here: ``waste-ledger db ...`` and the app open the
connection with the app's engine settings. ``render_as_batch`` makes autogenerate write
SQLite-safe revisions (SQLite alters most things only by copying the table); on PostgreSQL batch
operations are plain ALTERs.
"""

from __future__ import annotations

from alembic import context

from ledger.migrations import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through ledger.migrations (waste-ledger db upgrade)")
context.configure(connection=connection, target_metadata=metadata(), render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()

"""The per-connection settings the ledger relies on (ledger.tlog.db.configure_engine), on
every connection of the pool: SQLite's durability and locking, PostgreSQL without JIT
compilation (which cost about a second per append at 1M batches: docs/benchmarks.md) and with
each statement planned for its values (a generic plan kept from when the tables were small
scanned them whole once they had grown)."""

from __future__ import annotations

from sqlalchemy import text

from ledger.tlog.db import configure_engine
from tests.conftest import initialised_app


def test_every_connection_gets_the_settings(database):
    engine = database.engine()
    configure_engine(engine)
    try:
        with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                if database.kind == "sqlite":
                    assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                    assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
                    assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                else:
                    assert conn.execute(text("SHOW jit")).scalar() == "off"
                    assert conn.execute(text("SHOW plan_cache_mode")).scalar() == \
                        "force_custom_plan"
                    # the SET did not leave a transaction open or end the caller's
                    conn.execute(text("SELECT 1"))
                    assert conn.in_transaction()
                    conn.rollback()
    finally:
        engine.dispose()


def test_the_app_serves_appends_without_jit(database, tmp_path):
    with initialised_app(database, tmp_path) as app, app.app_context():
        from api.extensions import db

        if database.kind == "postgresql":
            assert db.session.execute(text("SHOW jit")).scalar() == "off"
            assert db.session.execute(text("SHOW plan_cache_mode")).scalar() == \
                "force_custom_plan"
        else:
            assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"

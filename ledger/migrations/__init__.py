"""The schema, owned by Alembic: upgrade any database to the head revision, read its revision.

``env.py`` and ``versions/`` are Alembic's; this module drives them from our code (the app,
``waste-ledger init`` and ``waste-ledger db``) on a connection we hand in, so migrations run
with the same engine settings as the app (SQLite's WAL and write lock, PostgreSQL's search
path). docs/deployment.md, "Schema changes", says how to add a revision.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text

import ledger.audit
import ledger.custody
import ledger.tlog
from ledger.tlog.db import WRITE_OPTION
from ledger.tlog.models import Base

HERE = Path(__file__).resolve().parent
# Any table of the release before migrations tells its database from an empty one.
_PRE_MIGRATION_TABLE = "log_entries"
# Serialises two processes that start on the same PostgreSQL database at once (SQLite takes its
# write lock with BEGIN IMMEDIATE); the number is arbitrary but fixed.
_PG_LOCK = 0x7761_7374_655F_6C67


@dataclass(frozen=True)
class SchemaUpgrade:
    """What ``upgrade`` did: the revision before (None: empty, or made before migrations)."""

    before: str | None
    after: str | None
    adopted: bool  # tables from the release before migrations, now under Alembic

    @property
    def changed(self) -> bool:
        return self.before != self.after


def metadata() -> MetaData:
    """Every table of the project: the models' metadata, once every module of ``ledger.tlog``,
    ``ledger.custody`` and ``ledger.audit`` is loaded (so a model in a new module is never
    missed by autogenerate and the models-match-migrations test)."""
    for package in (ledger.tlog, ledger.custody, ledger.audit):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    return Base.metadata


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code (there is no alembic.ini)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def heads() -> tuple[str, ...]:
    """The head revisions; a correct tree has exactly one."""
    return tuple(script_directory().get_heads())


def history() -> list[Script]:
    """Every revision, newest first."""
    return list(script_directory().walk_revisions())


def current(engine: Engine) -> str | None:
    """The database's revision; None for an empty database or one made before migrations."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> SchemaUpgrade:
    """Bring the database to ``revision`` in one transaction (all or nothing on PostgreSQL).

    A database made before migrations (our tables, no ``alembic_version``) goes through the
    baseline too: the baseline creates only what is missing (tables, indexes, triggers), so it
    is adopted as it is, without touching a row, and stamped.
    """
    with _locked(engine) as conn:
        ctx = MigrationContext.configure(conn)
        before = ctx.get_current_revision()
        adopted = before is None and inspect(conn).has_table(_PRE_MIGRATION_TABLE)
        command.upgrade(config(conn), revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return SchemaUpgrade(before, after, adopted)


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            yield conn

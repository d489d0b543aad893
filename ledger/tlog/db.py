"""Database engine settings the ledger relies on, and the write transaction.

SQLite: WAL with ``synchronous=FULL`` (an acknowledged append survives power loss) and
``BEGIN IMMEDIATE`` for writes, so two appenders queue on the write lock instead of both reading
the same log head and failing on upgrade. PostgreSQL: appends lock the log-head row
(``SELECT ... FOR UPDATE``) in the transaction that inserts; no SEQUENCE numbers the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, scoped_session

WRITE_OPTION = "waste_ledger_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def configure_engine(engine: Engine) -> None:
    """Install the per-connection settings; call once per engine."""
    if engine.dialect.name == "postgresql":
        _session_settings(engine)
        return
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is always DEFERRED).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _session_settings(engine: Engine) -> None:
    """PostgreSQL without JIT compilation, and every statement planned for its own values.

    JIT: the append transaction's summary refresh is a statement the planner costs in millions
    (its rarely run sub-plans would scan whole tables), so PostgreSQL JIT-compiled it on every
    append: about a second of compiling for 2 ms of work at 1M batches (measured: 84 -> 8 ms for
    an original's refresh, 650 -> 12 ms for a drum's; the gap scan and the report took the same
    time either way).

    Plans: psycopg prepares a statement run five times on a connection, and PostgreSQL may then
    keep one generic plan for it, made with the tables as they were. A log that grows fast from
    empty (a new installation's first import, a benchmark) kept whole-table scans of
    ``signing_keys`` and ``log_entries`` made when they held a few rows, and appends fell to a
    third of their rate once the tables held tens of thousands (bench/http.py, three of five
    runs). Planning each execution costs a fraction of a millisecond and follows the tables as
    they grow. docs/benchmarks.md."""

    @event.listens_for(engine, "connect")
    def _pg_connect(dbapi_conn: Any, _record: Any) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True  # a SET outside any transaction: it lasts the session
        try:
            with dbapi_conn.cursor() as cur:
                cur.execute("SET jit = off")
                cur.execute("SET plan_cache_mode = force_custom_plan")
        finally:
            dbapi_conn.autocommit = autocommit


@contextmanager
def write_transaction(session: Session | scoped_session[Session]) -> Iterator[Session]:
    """A transaction that takes the database's write lock first, commits on success and rolls
    back on any error. Any read-only transaction the caller had open is ended first."""
    if isinstance(session, scoped_session):
        session = session()
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("write_transaction needs a session without pending changes")
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={WRITE_OPTION: True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise

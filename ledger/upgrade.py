"""Bringing a database made by an earlier version up to date, on start.

``create_all`` adds missing tables but nothing to tables that exist. Two things it cannot do
are done here, idempotently: the integrity triggers on ``merkle_nodes`` and ``checkpoints``
(which send the gap scan's integrity watermark back to 0 when verified material is edited),
and filling the reconciliation summary (``batch_balances``) of batches appended before it
existed. Both are derived data, so nothing signed is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from ledger.custody.projections import Batch, BatchBalance
from ledger.tlog.models import Checkpoint, MerkleNode, integrity_reset_ddl

# Columns added to existing tables since the first release, with the DDL that both SQLite and
# PostgreSQL accept (a default, so existing rows get a value).
ADDED_COLUMNS = {("users", "active"): "BOOLEAN NOT NULL DEFAULT TRUE"}


@dataclass(frozen=True)
class Upgrade:
    triggers_added: tuple[str, ...]
    balances_rebuilt: int | None
    columns_added: tuple[str, ...] = ()


def upgrade_schema(session: Session) -> Upgrade:
    """Add what an older database lacks; report what was done (nothing on a current one)."""
    from ledger.audit.reconcile import rebuild_balances

    columns = tuple(_add_columns(session))
    added = tuple(_add_integrity_triggers(session))
    rebuilt = None
    has_batches = session.scalar(select(Batch.code).limit(1)) is not None
    if has_batches and not session.scalar(select(func.count()).select_from(BatchBalance)):
        rebuilt = rebuild_balances(session)
    session.commit()
    return Upgrade(added, rebuilt, columns)


def _add_columns(session: Session) -> list[str]:
    conn = session.connection()
    inspector = inspect(conn)
    added = []
    for (table, column), ddl in ADDED_COLUMNS.items():
        if column not in {c["name"] for c in inspector.get_columns(table)}:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))
            added.append(f"{table}.{column}")
    return added


def _add_integrity_triggers(session: Session) -> list[str]:
    conn = session.connection()
    dialect = conn.dialect.name
    added = []
    for table in (MerkleNode.__tablename__, Checkpoint.__tablename__):
        if _has_trigger(session, dialect, table):
            continue
        for ddl in integrity_reset_ddl(dialect):
            conn.execute(text(str(ddl.statement) % {"table": table}))
        added.append(table)
    return added


def _has_trigger(session: Session, dialect: str, table: str) -> bool:
    if dialect == "sqlite":
        query = text("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t "
                     "AND name LIKE '%integrity_reset%'")
    else:
        query = text("SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                     "WHERE c.relname = :t AND t.tgname LIKE '%integrity_reset%' "
                     "AND pg_table_is_visible(c.oid)")
    return session.execute(query, {"t": table}).first() is not None

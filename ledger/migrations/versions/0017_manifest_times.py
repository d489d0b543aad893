"""Each manifest's closing time and span (manifests.closed_t_ms, span_ms) and the index the gap
scan's manifest_open reads through (ix_manifests_span_ms); existing manifests filled from the
log, set-based.

``closed_t_ms`` is the signed time of the entry at ``closed_at``; ``span_ms`` is that minus the
arrival (the carrier's signed ``arrived_t_ms``, else ``opened_t_ms``); both NULL while the
manifest is open. The custody handlers keep them from now on (docs/gaps.md section 3).
Idempotent like the revisions before it: columns and index a database already has are left,
and the fill writes only rows that differ.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# One statement per dialect's UPDATE … FROM (PostgreSQL, SQLite 3.33+): a join of the manifests
# with the entries that closed them, not a statement per manifest.
FILL_CLOSED = """
UPDATE manifests
   SET closed_t_ms = log_entries.t_ms,
       span_ms = log_entries.t_ms - COALESCE(manifests.arrived_t_ms, manifests.opened_t_ms)
  FROM log_entries
 WHERE log_entries.idx = manifests.closed_at
   AND (manifests.closed_t_ms IS NULL OR manifests.span_ms IS NULL
        OR manifests.closed_t_ms <> log_entries.t_ms
        OR manifests.span_ms
           <> log_entries.t_ms - COALESCE(manifests.arrived_t_ms, manifests.opened_t_ms))
"""
CLEAR_OPEN = """
UPDATE manifests SET closed_t_ms = NULL, span_ms = NULL
 WHERE closed_at IS NULL AND (closed_t_ms IS NOT NULL OR span_ms IS NOT NULL)
"""


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    have = _columns("manifests")
    for name in ("closed_t_ms", "span_ms"):
        if name not in have:
            op.add_column("manifests", sa.Column(name, sa.BigInteger(), nullable=True))
    op.create_index("ix_manifests_span_ms", "manifests", ["span_ms"], if_not_exists=True)
    op.execute(FILL_CLOSED)
    op.execute(CLEAR_OPEN)
    if op.get_bind().dialect.name == "postgresql":
        # the planner's view of the new column: without it, span_ms > N is guessed at a third
        # of the table and read in full
        op.execute("ANALYZE manifests")


def downgrade() -> None:
    op.drop_index("ix_manifests_span_ms", table_name="manifests")
    with op.batch_alter_table("manifests") as batch_op:
        batch_op.drop_column("span_ms")
        batch_op.drop_column("closed_t_ms")

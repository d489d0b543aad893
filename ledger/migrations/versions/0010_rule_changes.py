"""Custody rules adopted on a log that already had entries (rule_changes).

Not a projection: the log index from which a rule applies, so that replaying an older log
decides as its appends did. One code per container (HJ 1276-2022 一物一码,
ledger/custody/containers.py) applies from the log's size when this revision runs; an empty
log gets no row, and the rule applies from index 0.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_changes",
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("from_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("rule", name=op.f("pk_rule_changes")),
        if_not_exists=True,  # adopting a database made before migrations runs every revision
    )
    conn = op.get_bind()
    if not sa.inspect(conn).has_table("log_head"):
        return
    size = conn.execute(sa.text("SELECT size FROM log_head")).scalar()
    known = conn.execute(sa.text(
        "SELECT 1 FROM rule_changes WHERE rule = 'one_code_per_container'")).scalar()
    if size and not known:
        conn.execute(sa.text("INSERT INTO rule_changes (rule, from_index) "
                             "VALUES ('one_code_per_container', :size)"), {"size": size})


def downgrade() -> None:
    op.drop_table("rule_changes")

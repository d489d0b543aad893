"""Cases (问题清单): the ``cases`` projection of the case:<id> streams.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_cases_assignee_state", ["assignee", "state"]),
    ("ix_cases_deadline", ["deadline"]),
    ("ix_cases_gap_id", ["gap_id"]),
    ("ix_cases_region_state", ["region", "state"]),
    ("ix_cases_type", ["type"]),
)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("gap_id", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("organisations", sa.Text(), nullable=False),
        sa.Column("batches", sa.Text(), nullable=False),
        sa.Column("assignee", sa.String(length=18), nullable=True),
        sa.Column("person", sa.String(length=100), nullable=True),
        sa.Column("measures", sa.Text(), nullable=True),
        sa.Column("deadline", sa.String(length=10), nullable=True),
        sa.Column("progress", sa.Text(), nullable=True),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.BigInteger(), nullable=False),
        sa.Column("opened_t_ms", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("closed_t_ms", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["closed_at"], ["log_entries.idx"],
                                name=op.f("fk_cases_closed_at_log_entries")),
        sa.ForeignKeyConstraint(["opened_at"], ["log_entries.idx"],
                                name=op.f("fk_cases_opened_at_log_entries")),
        sa.ForeignKeyConstraint(["updated_at"], ["log_entries.idx"],
                                name=op.f("fk_cases_updated_at_log_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        if_not_exists=True,
    )
    for name, columns in _INDEXES:
        op.create_index(name, "cases", columns, if_not_exists=True)


def downgrade() -> None:
    for name, _ in _INDEXES:
        op.drop_index(name, table_name="cases")
    op.drop_table("cases")

"""Plans (管理计划) and declarations (申报登记): the projections of the plan:<uscc>:<year> and
report:<uscc>:<period> streams (docs/plans.md).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_declarations_region_from", "declarations", ["region", "period_from"]),
    ("ix_plans_region_year", "plans", ["region", "year"]),
)


def upgrade() -> None:
    op.create_table(
        "declaration_lines",
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("waste_code", sa.String(length=10), nullable=False),
        sa.Column("generated_g", sa.BigInteger(), nullable=False),
        sa.Column("transferred_g", sa.BigInteger(), nullable=False),
        sa.Column("own_utilisation_g", sa.BigInteger(), nullable=False),
        sa.Column("own_disposal_g", sa.BigInteger(), nullable=False),
        sa.Column("opening_storage_g", sa.BigInteger(), nullable=False),
        sa.Column("closing_storage_g", sa.BigInteger(), nullable=False),
        sa.Column("ledger_generated_g", sa.BigInteger(), nullable=False),
        sa.Column("ledger_transferred_g", sa.BigInteger(), nullable=False),
        sa.Column("ledger_opening_storage_g", sa.BigInteger(), nullable=False),
        sa.Column("ledger_closing_storage_g", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org", "period", "waste_code", name=op.f("pk_declaration_lines")),
        if_not_exists=True,
    )
    op.create_table(
        "plan_lines",
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("waste_code", sa.String(length=10), nullable=False),
        sa.Column("generation_g", sa.BigInteger(), nullable=False),
        sa.Column("storage_g", sa.BigInteger(), nullable=False),
        sa.Column("own_utilisation_g", sa.BigInteger(), nullable=False),
        sa.Column("own_disposal_g", sa.BigInteger(), nullable=False),
        sa.Column("transfer_g", sa.BigInteger(), nullable=False),
        sa.Column("receivers", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("org", "year", "waste_code", name=op.f("pk_plan_lines")),
        if_not_exists=True,
    )
    op.create_table(
        "declarations",
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("period_from", sa.String(length=10), nullable=False),
        sa.Column("period_to", sa.String(length=10), nullable=False),
        sa.Column("due", sa.String(length=10), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("generated_g", sa.BigInteger(), nullable=False),
        sa.Column("transferred_g", sa.BigInteger(), nullable=False),
        sa.Column("ledger_generated_g", sa.BigInteger(), nullable=False),
        sa.Column("ledger_transferred_g", sa.BigInteger(), nullable=False),
        sa.Column("filed_at", sa.BigInteger(), nullable=False),
        sa.Column("filed_t_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("amendments", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["filed_at"], ["log_entries.idx"],
                                name=op.f("fk_declarations_filed_at_log_entries")),
        sa.ForeignKeyConstraint(["updated_at"], ["log_entries.idx"],
                                name=op.f("fk_declarations_updated_at_log_entries")),
        sa.PrimaryKeyConstraint("org", "period", name=op.f("pk_declarations")),
        if_not_exists=True,
    )
    op.create_table(
        "plans",
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("management_class", sa.String(length=12), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("generation_g", sa.BigInteger(), nullable=False),
        sa.Column("filed_at", sa.BigInteger(), nullable=False),
        sa.Column("filed_t_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("amendments", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["filed_at"], ["log_entries.idx"],
                                name=op.f("fk_plans_filed_at_log_entries")),
        sa.ForeignKeyConstraint(["updated_at"], ["log_entries.idx"],
                                name=op.f("fk_plans_updated_at_log_entries")),
        sa.PrimaryKeyConstraint("org", "year", name=op.f("pk_plans")),
        if_not_exists=True,
    )
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns, if_not_exists=True)


def downgrade() -> None:
    for name, table, _ in _INDEXES:
        op.drop_index(name, table_name=table)
    for table in ("plans", "declarations", "plan_lines", "declaration_lines"):
        op.drop_table(table)

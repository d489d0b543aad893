"""The custody-interval summary the gap scan reads (custody_intervals) and the reconciliation
summary's monthly totals (balance_months), projections.

An upgraded database gets them empty; the app fills them from the projections at its next start
(``api.bootstrap``), as it does ``batch_balances``.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custody_intervals",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=80), nullable=False),
        sa.Column("batch", sa.String(length=37), nullable=True),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("entry", sa.BigInteger(), nullable=True),
        sa.Column("start_t", sa.BigInteger(), nullable=False),
        sa.Column("end_t", sa.BigInteger(), nullable=True),
        sa.Column("end_at", sa.BigInteger(), nullable=True),
        sa.Column("span", sa.BigInteger(), nullable=True),
        sa.Column("org_a", sa.String(length=18), nullable=False),
        sa.Column("org_b", sa.String(length=18), nullable=True),
        sa.Column("manifest", sa.String(length=14), nullable=True),
        sa.Column("mass_g", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("kind", "ref", name=op.f("pk_custody_intervals")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_custody_intervals_batch"), "custody_intervals", ["batch"],
                    if_not_exists=True)
    op.create_index("ix_custody_intervals_kind_span", "custody_intervals", ["kind", "span"],
                    if_not_exists=True)


    op.create_table(
        "balance_months",
        sa.Column("generator", sa.String(length=18), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("waste_code", sa.String(length=10), nullable=False),
        sa.Column("category", sa.String(length=4), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in (
            "declared", "collected", "at_generator", "returned", "in_transit", "in_storage",
            "received_at_disposers", "disposed_utilisation", "disposed_disposal", "refused",
            "batches")),
        sa.PrimaryKeyConstraint("generator", "region", "waste_code", "category", "month",
                                name=op.f("pk_balance_months")),
        if_not_exists=True,
    )
    op.create_index("ix_balance_months_region_month", "balance_months", ["region", "month"],
                    if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_balance_months_region_month", table_name="balance_months")
    op.drop_table("balance_months")
    op.drop_index("ix_custody_intervals_kind_span", table_name="custody_intervals")
    op.drop_index(op.f("ix_custody_intervals_batch"), table_name="custody_intervals")
    op.drop_table("custody_intervals")

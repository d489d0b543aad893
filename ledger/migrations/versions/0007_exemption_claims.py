"""Exemptions claimed on handovers and disposals (exemption_claims), a projection.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_NOT_FITS = sa.text("NOT fits")


def upgrade() -> None:
    op.create_table(
        "exemption_claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch", sa.String(length=37), nullable=False),
        sa.Column("handover_entry", sa.BigInteger(), nullable=True),
        sa.Column("disposal_entry", sa.BigInteger(), nullable=True),
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("edition", sa.String(length=4), nullable=False),
        sa.Column("item", sa.BigInteger(), nullable=False),
        sa.Column("row", sa.BigInteger(), nullable=False),
        sa.Column("stage", sa.String(length=4), nullable=False),
        sa.Column("by_release", sa.Boolean(), nullable=False),
        sa.Column("by_answer", sa.Boolean(), nullable=False),
        sa.Column("fits", sa.Boolean(), nullable=False),
        sa.Column("misfit", sa.String(length=20), nullable=True),
        sa.Column("claimed_at", sa.BigInteger(), nullable=False),
        sa.Column("claimed_t_ms", sa.BigInteger(), nullable=False),
        sa.Column("misfit_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["batch"], ["batches.code"],
                                name=op.f("fk_exemption_claims_batch_batches")),
        sa.ForeignKeyConstraint(["claimed_at"], ["log_entries.idx"],
                                name=op.f("fk_exemption_claims_claimed_at_log_entries")),
        sa.ForeignKeyConstraint(["disposal_entry"], ["log_entries.idx"],
                                name=op.f("fk_exemption_claims_disposal_entry_log_entries")),
        sa.ForeignKeyConstraint(["handover_entry"], ["log_entries.idx"],
                                name=op.f("fk_exemption_claims_handover_entry_log_entries")),
        sa.ForeignKeyConstraint(["misfit_at"], ["log_entries.idx"],
                                name=op.f("fk_exemption_claims_misfit_at_log_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exemption_claims")),
        sa.UniqueConstraint("disposal_entry", name=op.f("uq_exemption_claims_disposal_entry")),
        sa.UniqueConstraint("handover_entry", name=op.f("uq_exemption_claims_handover_entry")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_exemption_claims_batch"), "exemption_claims", ["batch"],
                    if_not_exists=True)
    op.create_index("ix_exemption_claims_misfit", "exemption_claims", ["batch"],
                    postgresql_where=_NOT_FITS, sqlite_where=_NOT_FITS, if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_exemption_claims_misfit", table_name="exemption_claims")
    op.drop_index(op.f("ix_exemption_claims_batch"), table_name="exemption_claims")
    op.drop_table("exemption_claims")

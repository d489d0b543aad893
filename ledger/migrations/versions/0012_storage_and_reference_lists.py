"""Storage facilities and stays (入库/出库), residue links, and loaded official code lists
(利用/处置方式, general industrial solid waste codes).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_lists",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("csv_text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("imported_ms", sa.BigInteger(), nullable=False),
        sa.Column("from_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_reference_lists")),
        if_not_exists=True,
    )
    op.create_table(
        "residues",
        sa.Column("child", sa.String(length=37), nullable=False),
        sa.Column("source", sa.String(length=37), nullable=False),
        sa.Column("disposal_entry", sa.BigInteger(), nullable=False),
        sa.Column("child_entry", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["child"], ["batches.code"],
                                name=op.f("fk_residues_child_batches")),
        sa.ForeignKeyConstraint(["child_entry"], ["log_entries.idx"],
                                name=op.f("fk_residues_child_entry_log_entries")),
        sa.ForeignKeyConstraint(["disposal_entry"], ["log_entries.idx"],
                                name=op.f("fk_residues_disposal_entry_log_entries")),
        sa.ForeignKeyConstraint(["source"], ["batches.code"],
                                name=op.f("fk_residues_source_batches")),
        sa.PrimaryKeyConstraint("child", "source", name=op.f("pk_residues")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_residues_source"), "residues", ["source"], if_not_exists=True)
    op.create_table(
        "storage_facilities",
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("capacity_kg", sa.BigInteger(), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["org"], ["organisations.uscc"],
                                name=op.f("fk_storage_facilities_org_organisations")),
        sa.ForeignKeyConstraint(["registered_at"], ["log_entries.idx"],
                                name=op.f("fk_storage_facilities_registered_at_log_entries")),
        sa.PrimaryKeyConstraint("org", "code", name=op.f("pk_storage_facilities")),
        if_not_exists=True,
    )
    op.create_table(
        "storage_stays",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch", sa.String(length=37), nullable=False),
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("facility", sa.String(length=32), nullable=False),
        sa.Column("in_mass_g", sa.BigInteger(), nullable=False),
        sa.Column("in_at", sa.BigInteger(), nullable=False),
        sa.Column("in_t_ms", sa.BigInteger(), nullable=False),
        sa.Column("out_mass_g", sa.BigInteger(), nullable=True),
        sa.Column("out_at", sa.BigInteger(), nullable=True),
        sa.Column("out_t_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["batch"], ["batches.code"],
                                name=op.f("fk_storage_stays_batch_batches")),
        sa.ForeignKeyConstraint(["in_at"], ["log_entries.idx"],
                                name=op.f("fk_storage_stays_in_at_log_entries")),
        sa.ForeignKeyConstraint(["out_at"], ["log_entries.idx"],
                                name=op.f("fk_storage_stays_out_at_log_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_stays")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_storage_stays_batch"), "storage_stays", ["batch"],
                    if_not_exists=True)
    op.create_index(op.f("ix_storage_stays_org"), "storage_stays", ["org"], if_not_exists=True)
    op.create_index("ix_storage_stays_open", "storage_stays", ["batch"],
                    postgresql_where=sa.text("out_at IS NULL"),
                    sqlite_where=sa.text("out_at IS NULL"), if_not_exists=True)


def downgrade() -> None:
    op.drop_table("storage_stays")
    op.drop_table("storage_facilities")
    op.drop_table("residues")
    op.drop_table("reference_lists")

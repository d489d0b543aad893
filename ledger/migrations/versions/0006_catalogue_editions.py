"""Imported editions of the national catalogue (catalogue_editions).

Not a projection: the tables an operator loaded with ``waste-ledger catalogue import``, verbatim,
and the log index from which each applies (ledger/custody/editions.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalogue_editions",
        sa.Column("edition", sa.String(length=4), nullable=False),
        sa.Column("effective_from", sa.String(length=10), nullable=False),
        sa.Column("catalogue_csv", sa.Text(), nullable=False),
        sa.Column("categories_csv", sa.Text(), nullable=False),
        sa.Column("exemptions_csv", sa.Text(), nullable=False),
        sa.Column("successors_csv", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("imported_ms", sa.BigInteger(), nullable=False),
        sa.Column("from_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("edition", name=op.f("pk_catalogue_editions")),
        if_not_exists=True,  # adopting a database made before migrations runs every revision
    )


def downgrade() -> None:
    op.drop_table("catalogue_editions")

"""Witness cosignatures on stored checkpoints (checkpoint_cosignatures), docs/ledger-format.md
section 11. A new table only: nothing signed is touched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoint_cosignatures",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(length=140), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.LargeBinary(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["size"], ["checkpoints.size"],
                                name=op.f("fk_checkpoint_cosignatures_size_checkpoints")),
        sa.PrimaryKeyConstraint("size", "witness", name=op.f("pk_checkpoint_cosignatures")),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("checkpoint_cosignatures")

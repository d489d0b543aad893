"""Evidence files uploaded to cases (case_evidence): who uploaded which hash to which case.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_evidence",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=18), nullable=False),
        sa.Column("uploaded_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "sha256", name=op.f("pk_case_evidence")),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("case_evidence")

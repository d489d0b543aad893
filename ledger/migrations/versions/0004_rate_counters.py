"""Rate-limit counters in the database (rate_counters): Flask-Limiter's fixed windows for
log-in attempts and manifest reservations, shared by every worker (api/ratelimit.py).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_counters")),
        if_not_exists=True,  # adopting a database made before migrations runs every revision
    )
    op.create_index(op.f("ix_rate_counters_expires_at"), "rate_counters", ["expires_at"],
                    unique=False, if_not_exists=True)


def downgrade() -> None:
    with op.batch_alter_table("rate_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_counters_expires_at"))
    op.drop_table("rate_counters")

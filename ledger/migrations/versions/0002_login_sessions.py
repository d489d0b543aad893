"""Log-in sessions kept on the server (login_sessions) and users.active (de4fbee).

Idempotent like the baseline: a database made between that commit and migrations already has
both, and is adopted through here unchanged. Existing people stay active.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_login_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_login_sessions")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_login_sessions_user_id"), "login_sessions", ["user_id"],
                    if_not_exists=True)
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("users")}
    if "active" not in columns:
        with op.batch_alter_table("users") as batch_op:
            batch_op.add_column(sa.Column("active", sa.Boolean(), server_default=sa.true(),
                                          nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("active")
    op.drop_index(op.f("ix_login_sessions_user_id"), table_name="login_sessions")
    op.drop_table("login_sessions")

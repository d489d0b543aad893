"""users.is_admin: a person who manages their organisation's people, devices and API tokens
from the pages (单位管理员).

Idempotent like the revisions before it: a database that already has the column is left as it
is. Existing people are not admins; `waste-ledger user add --admin` or the operator's page makes
one.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("users")}
    if "is_admin" not in columns:
        with op.batch_alter_table("users") as batch_op:
            batch_op.add_column(sa.Column("is_admin", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("is_admin")

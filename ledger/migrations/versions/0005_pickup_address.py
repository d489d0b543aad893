"""pickup_requests.address: where to fetch the waste (取货地址), shown on the driver's round.

Idempotent like the revisions before it: a database that already has the column is left as it is.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("pickup_requests")}
    if "address" not in columns:
        with op.batch_alter_table("pickup_requests") as batch_op:
            batch_op.add_column(sa.Column("address", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pickup_requests") as batch_op:
        batch_op.drop_column("address")

"""The carrier's leg of a manifest (carrier_legs; manifests.driver, arrived_at, arrived_t_ms)
and the refused part of a partial refusal taken back as a batch (handovers.refused_part).

Idempotent like the revisions before it: what a database already has is left as it is.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    op.create_table(
        "carrier_legs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch", sa.String(length=37), nullable=False),
        sa.Column("manifest", sa.String(length=14), nullable=False),
        sa.Column("carrier", sa.String(length=18), nullable=False),
        sa.Column("vehicle", sa.String(length=20), nullable=False),
        sa.Column("driver", sa.String(length=40), nullable=False),
        sa.Column("departed_at", sa.BigInteger(), nullable=True),
        sa.Column("departed_t_ms", sa.BigInteger(), nullable=True),
        sa.Column("arrived_at", sa.BigInteger(), nullable=True),
        sa.Column("arrived_t_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["arrived_at"], ["log_entries.idx"],
                                name=op.f("fk_carrier_legs_arrived_at_log_entries")),
        sa.ForeignKeyConstraint(["batch"], ["batches.code"],
                                name=op.f("fk_carrier_legs_batch_batches")),
        sa.ForeignKeyConstraint(["departed_at"], ["log_entries.idx"],
                                name=op.f("fk_carrier_legs_departed_at_log_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carrier_legs")),
        sa.UniqueConstraint("batch", "manifest", name=op.f("uq_carrier_legs_batch_manifest")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_carrier_legs_carrier"), "carrier_legs", ["carrier"],
                    if_not_exists=True)
    op.create_index(op.f("ix_carrier_legs_manifest"), "carrier_legs", ["manifest"],
                    if_not_exists=True)
    if "refused_part" not in _columns("handovers"):
        op.add_column("handovers", sa.Column("refused_part", sa.String(length=37),
                                             nullable=True))
    have = _columns("manifests")
    for name, type_ in (("driver", sa.String(length=40)), ("arrived_at", sa.BigInteger()),
                        ("arrived_t_ms", sa.BigInteger())):
        if name not in have:
            op.add_column("manifests", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("manifests") as batch_op:
        batch_op.drop_column("arrived_t_ms")
        batch_op.drop_column("arrived_at")
        batch_op.drop_column("driver")
    with op.batch_alter_table("handovers") as batch_op:
        batch_op.drop_column("refused_part")
    op.drop_index(op.f("ix_carrier_legs_manifest"), table_name="carrier_legs")
    op.drop_index(op.f("ix_carrier_legs_carrier"), table_name="carrier_legs")
    op.drop_table("carrier_legs")

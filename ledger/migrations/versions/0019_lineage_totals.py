"""What each consolidated batch's parents gave (lineage_totals), the summary the gap scan's
lineage_imbalance reads, with its partial index on the rows whose given and declared masses
differ; filled from the projections, set-based.

One row per consolidated batch that has lineage rows: ``given_g`` the sum of their
``mass_g``, ``declared_g`` the batch's ``declared_mass_g``, and the batch's region, generator,
declaring entry and time, which a finding names (``ledger.audit.lineage``). The
append transaction keeps it from now on (docs/gaps.md section 3). Idempotent like the
revisions before it: a table or index the database already has is left, and the fill replaces
whatever rows it holds with the ones computed here (derived data: nothing signed is touched).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# One GROUP BY over the lineage rows joined with their consolidated child, on both dialects.
FILL = """
INSERT INTO lineage_totals (child, region, generator, declared_at, declared_t_ms, declared_g,
                            given_g)
SELECT batches.code, batches.region, batches.generator, batches.declared_at,
       batches.declared_t_ms, batches.declared_mass_g, SUM(lineage.mass_g)
  FROM batches
  JOIN lineage ON lineage.child = batches.code
 WHERE batches.consolidated
 GROUP BY batches.code, batches.region, batches.generator, batches.declared_at,
          batches.declared_t_ms, batches.declared_mass_g
"""


def upgrade() -> None:
    op.create_table(
        "lineage_totals",
        sa.Column("child", sa.String(length=37), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("generator", sa.String(length=18), nullable=False),
        sa.Column("declared_at", sa.BigInteger(), nullable=False),
        sa.Column("declared_t_ms", sa.BigInteger(), nullable=False),
        sa.Column("declared_g", sa.BigInteger(), nullable=False),
        sa.Column("given_g", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("child", name=op.f("pk_lineage_totals")),
        if_not_exists=True,
    )
    op.create_index("ix_lineage_totals_unbalanced", "lineage_totals", ["region"],
                    postgresql_where=sa.text("given_g <> declared_g"),
                    sqlite_where=sa.text("given_g <> declared_g"), if_not_exists=True)
    op.execute("DELETE FROM lineage_totals")
    op.execute(FILL)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE lineage_totals")


def downgrade() -> None:
    op.drop_index("ix_lineage_totals_unbalanced", table_name="lineage_totals")
    op.drop_table("lineage_totals")

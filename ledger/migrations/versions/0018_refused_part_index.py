"""The index from a refused part back to the handover that refused it
(ix_handovers_refused_part, partial: only handovers with a refused part).

The reconciliation summary's refresh, in the append transaction, asks for every batch it
touches whether it is a refused part (``EXISTS … WHERE handovers.refused_part = batches.code``);
without an index that is a pass over every handover, for a drum at a station on every append
that touches it. Idempotent like the revisions before it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

WHERE = sa.text("refused_part IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_handovers_refused_part", "handovers", ["refused_part"],
                    postgresql_where=WHERE, sqlite_where=WHERE, if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_handovers_refused_part", table_name="handovers")

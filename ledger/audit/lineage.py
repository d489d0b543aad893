"""What each consolidated batch's parents gave (合并平衡汇总), the summary ``lineage_imbalance``
reads.

One row per consolidated batch (a drum poured from parents, a refused part taken back): the
mass of its lineage rows summed (``given_g``, every hand-off into it, linked or not), its own
declared mass (``declared_g``) and what a finding names (region, generator, declaring entry and
time). The gap scan used to sum every lineage row per child on every scan (0.86 M rows at 1M
batches); it now reads only the rows whose two masses differ, through a partial index, and
compares each with its region's tolerance there (the tolerance stays out of the rows: it is per
query and per region).

A row depends on the child's batch row (its existence, ``consolidated``, the columns copied)
and on the lineage rows into it. Both are
written by entries of the child's own stream (``batch.consolidated`` links the hand-offs and
creates the child; ``batch.refused_part`` creates the part and its one lineage row; a
correction of the child's declaration) or of a parent's stream (``custody.consolidated_out``
writes a hand-off row, before the child exists). ``refresh_lineage_totals`` recomputes the rows
of the batches an entry changed and of the children those batches were poured into, in the
append transaction (wired by ``ledger.bootstrap`` as an after-batch-change hook, next to the
reconciliation and custody-interval summaries); ``rebuild`` replays the log through the same
hook and compares the table like any other projection.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import BindParameter, bindparam, delete, func, insert, select, true
from sqlalchemy.orm import Session

from ledger.audit.kept import kept_differences, rebuild_kept
from ledger.audit.models import LineageTotal
from ledger.custody.projections import Batch, Lineage

_COLUMNS: Final = ("child", "region", "generator", "declared_at", "declared_t_ms", "declared_g",
                   "given_g")
_CODES: Final[BindParameter[Any]] = bindparam("codes", expanding=True)


def _rows(restricted: bool) -> Any:
    """Every summary row, or (``restricted``) those of the batches named by the ``codes``
    parameter."""
    b = Batch
    query = (select(b.code.label("child"), b.region, b.generator, b.declared_at,
                    b.declared_t_ms, b.declared_mass_g.label("declared_g"),
                    func.sum(Lineage.mass_g).label("given_g"))
             .join(Lineage, Lineage.child == b.code)
             .where(b.consolidated == true())
             .group_by(b.code, b.region, b.generator, b.declared_at, b.declared_t_ms,
                       b.declared_mass_g))
    return query.where(b.code.in_(_CODES)) if restricted else query


@functools.cache
def _statements(dialect: str) -> tuple[Any, Any, Any]:
    """The refresh's statements, built once per dialect."""
    lt = LineageTotal
    poured_into = select(Lineage.child).where(Lineage.parent.in_(_CODES))
    remove = delete(lt).where(lt.child.in_(_CODES))
    add = insert(lt).from_select(_COLUMNS, _rows(True))
    return poured_into, remove, add


def refresh_lineage_totals(session: Session, codes: Iterable[str]) -> None:
    """Recompute the rows of the batches ``codes`` and of the children they were poured into;
    called after every entry that changes a batch, in its transaction."""
    codes = sorted(set(codes))
    if not codes:
        return
    session.flush()
    poured_into, remove, add = _statements(session.get_bind().dialect.name)
    conn = session.connection()
    affected = sorted(set(codes) | set(conn.execute(poured_into, {"codes": codes}).scalars()))
    conn.execute(remove, {"codes": affected})
    conn.execute(add, {"codes": affected})


def rebuild_lineage_totals(session: Session) -> int:
    """Recompute every row, set-based (bulk loads, repairs); the number of rows."""
    return rebuild_kept(session, LineageTotal, _COLUMNS, _rows(False))


def lineage_total_differences(session: Session) -> list[tuple[Any, ...]]:
    """Rows of the kept summary that differ from a fresh computation (empty when it is right)."""
    return kept_differences(session, LineageTotal, _COLUMNS, _rows(False))

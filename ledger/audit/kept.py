"""Summary tables kept at append time (``custody_intervals``, ``lineage_totals``): rebuilt from
scratch and checked against a fresh computation the same way, whichever table it is.

Each summary module supplies its table, its column names and the SELECT that computes every
row from the projections; the gap scan reads the kept rows, the rebuild and the check read
the SELECT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.orm import Session


def rebuild_kept(session: Session, model: Any, columns: Sequence[str], rows: Select[Any]) -> int:
    """Replace every row of ``model``'s table by ``rows``, set-based (bulk loads, an upgrade,
    repairs); the number of rows."""
    session.flush()
    conn = session.connection()
    conn.execute(delete(model))
    conn.execute(insert(model).from_select(list(columns), rows))
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def kept_differences(session: Session, model: Any, columns: Sequence[str],
                     rows: Select[Any]) -> list[tuple[Any, ...]]:
    """Rows of the kept table that differ from a fresh computation, and fresh rows it lacks
    (empty when it is right)."""
    fresh = {tuple(r) for r in session.execute(rows)}
    kept = {tuple(r) for r in session.execute(select(*(getattr(model, c) for c in columns)))}
    return sorted(fresh ^ kept, key=repr)

"""Where a merged batch ended: a batch a station consolidated (合并) is ``consolidated`` in its
own row for ever, but its generator wants to know whether the waste was disposed of. Followed
through the lineage rows (parent -> child, any depth), a merged batch counts as disposed when
every batch its mass went into was disposed of (``custody.disposed``); the date is the last of
those disposals."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.custody.projections import Batch, Disposal, Lineage

#: How deep a chain of merges is followed (a drum merged into a drum merged into …).
MAX_DEPTH = 16


def disposed_after_merge(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """Merged batch code -> the time (ms) of the last disposal its mass went into, for those of
    ``codes`` whose mass was all disposed of; the others are left out."""
    roots = list(dict.fromkeys(codes))
    children: dict[str, list[str]] = {}
    frontier = set(roots)
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        found: dict[str, list[str]] = {}
        for parent, child in session.execute(
                select(Lineage.parent, Lineage.child).where(Lineage.parent.in_(frontier))):
            found.setdefault(parent, []).append(child)
        children.update(found)
        frontier = {c for kids in found.values() for c in kids} - children.keys()
    nodes = set(children) | {c for kids in children.values() for c in kids}
    states: dict[str, str] = {code: state for code, state in session.execute(
        select(Batch.code, Batch.state).where(Batch.code.in_(nodes)))}
    disposed: dict[str, int] = {code: t for code, t in session.execute(
        select(Disposal.batch, Disposal.t_ms).where(Disposal.batch.in_(nodes)))}

    memo: dict[str, int | None] = {}

    def when(code: str, depth: int) -> int | None:
        if code in memo:
            return memo[code]
        memo[code] = None  # a cycle (never in a valid ledger) counts as not disposed
        state = states.get(code)
        result: int | None = None
        if state == "disposed":
            result = disposed.get(code)
        elif state == "consolidated" and children.get(code) and depth < MAX_DEPTH:
            times = [when(c, depth + 1) for c in children[code]]
            if all(t is not None for t in times):
                result = max(t for t in times if t is not None)
        memo[code] = result
        return result

    out = {}
    for code in roots:
        t = when(code, 0)
        if t is not None:
            out[code] = t
    return out

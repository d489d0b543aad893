"""The Merkle tree as the database keeps it: stored perfect subtrees and the right border.

An append touches only the border (``frontier``) and writes the perfect subtrees it completes;
roots and proofs for any earlier size read O(log n) stored subtrees in two queries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ledger.tlog.merkle import (
    SubtreeGetter,
    collect_subtrees,
    consistency_path,
    inclusion_path,
    subtree_root,
)
from ledger.tlog.models import LogEntry, MerkleNode

T = TypeVar("T")


def _fetch(session: Session, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    got: dict[tuple[int, int], bytes] = {}
    leaves = [i for lvl, i in wanted if lvl == 0]
    inner = [(lvl, i) for lvl, i in wanted if lvl > 0]
    if leaves:
        rows = session.execute(
            select(LogEntry.idx, LogEntry.leaf_hash).where(LogEntry.idx.in_(leaves))
        )
        got.update({(0, i): h for i, h in rows})
    if inner:
        rows2 = session.execute(
            select(MerkleNode.level, MerkleNode.idx, MerkleNode.hash).where(
                tuple_(MerkleNode.level, MerkleNode.idx).in_(inner)
            )
        )
        got.update({(lvl, i): h for lvl, i, h in rows2})
    return got


def _with_stored(session: Session, compute: Callable[[SubtreeGetter], T]) -> T:
    """Run a proof computation on the stored tree: first find which subtrees it reads, fetch
    them in two queries, then run it on those."""
    nodes = _fetch(session, collect_subtrees(compute))
    return compute(lambda level, index: nodes[(level, index)])


def stored_root(session: Session, size: int) -> bytes:
    """The root of the tree's first ``size`` leaves."""
    return _with_stored(session, lambda get: subtree_root(0, size, get))


def stored_inclusion_path(session: Session, index: int, size: int) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of ``size``."""
    return _with_stored(session, lambda get: inclusion_path(index, size, get))


def stored_consistency_path(session: Session, size1: int, size2: int) -> list[bytes]:
    """The consistency proof from ``size1`` to ``size2``."""
    return _with_stored(session, lambda get: consistency_path(size1, size2, get))

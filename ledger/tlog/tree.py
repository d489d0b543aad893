"""The Merkle tree as the database keeps it: stored perfect subtrees and the right border.

An append touches only the border (``frontier``) and writes the perfect subtrees it completes;
roots and proofs for any earlier size read O(log n) stored subtrees in two queries.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ledger.tlog.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    collect_subtrees,
    consistency_path,
    inclusion_path,
    node_hash,
    subtree_root,
)
from ledger.tlog.models import LogEntry, MerkleNode


def unpack_frontier(blob: bytes) -> list[bytes]:
    """The border hashes, largest subtree first."""
    return [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


def root_of_frontier(frontier: list[bytes]) -> bytes:
    """RFC 6962 root: the border folded right to left."""
    if not frontier:
        return EMPTY_ROOT
    r = frontier[-1]
    for h in reversed(frontier[:-1]):
        r = node_hash(h, r)
    return r


def append_to_frontier(
    frontier: list[bytes], size: int, leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Add leaf number ``size``; return the new border and the subtrees (level >= 1) it
    completes as (level, index, hash)."""
    border = list(frontier)
    carry, level, completed = leaf, 0, []
    while size >> level & 1:
        carry = node_hash(border.pop(), carry)
        level += 1
        completed.append((level, size >> level, carry))
    border.append(carry)
    return border, completed


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


def _with_stored(session: Session, compute: Callable[[Callable[[int, int], bytes]], object]):
    nodes = _fetch(session, collect_subtrees(compute))
    return compute(lambda level, index: nodes[(level, index)])


def stored_root(session: Session, size: int) -> bytes:
    """The root of the tree's first ``size`` leaves."""
    return _with_stored(session, lambda get: subtree_root(0, size, get))  # type: ignore[return-value]


def stored_inclusion_path(session: Session, index: int, size: int) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of ``size``."""
    return _with_stored(session, lambda get: inclusion_path(index, size, get))  # type: ignore[return-value]


def stored_consistency_path(session: Session, size1: int, size2: int) -> list[bytes]:
    """The consistency proof from ``size1`` to ``size2``."""
    return _with_stored(session, lambda get: consistency_path(size1, size2, get))  # type: ignore[return-value]

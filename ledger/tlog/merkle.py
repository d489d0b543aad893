"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification (stdlib only).

Two layers:

* plain functions over a list of leaf hashes (``root``, ``inclusion_proof``, ...), for tests,
  tools and the offline verifier;
* the same algorithms over a *subtree getter* ``get(level, index) -> bytes`` that returns the
  hash of the perfect subtree covering leaves ``[index * 2**level, (index + 1) * 2**level)``.
  The database keeps exactly those perfect subtrees, so roots and proofs for a log of any size
  cost O(log n) look-ups and never a rebuild (``ledger/tree.py``).

Verification follows RFC 9162 section 2.1.3.2 and 2.1.4.2. A malformed proof makes a verifier
return False; it never raises. Policy: a consistency proof from size 0 is valid only when the
proof is empty (the C2SP witness rule); from size1 == size2 only with an empty proof and equal
roots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

SubtreeGetter = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one log entry."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- algorithms over a subtree getter -------------------------------------------------------


def subtree_root(lo: int, hi: int, get: SubtreeGetter) -> bytes:
    """MTH(D[lo:hi]) for a range that starts on a perfect-subtree boundary of its left part."""
    size = hi - lo
    if size == 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0 and lo % size == 0:
        level = size.bit_length() - 1
        return get(level, lo >> level)
    k = _split(size)
    return node_hash(subtree_root(lo, lo + k, get), subtree_root(lo + k, hi, get))


def inclusion_path(index: int, size: int, get: SubtreeGetter) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 6962 section 2.1.1, leaf-to-root order."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    # Walk from the root down, remembering siblings; reverse at the end for leaf-to-root.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(subtree_root(lo + k, hi, get))
            hi = lo + k
        else:
            path.append(subtree_root(lo, lo + k, get))
            lo = lo + k
    path.reverse()
    return path


def consistency_path(size1: int, size2: int, get: SubtreeGetter) -> list[bytes]:
    """PROOF(size1, D[0:size2]) of RFC 6962 section 2.1.2."""
    if not 0 <= size1 <= size2:
        raise ValueError(f"cannot prove consistency from size {size1} to size {size2}")
    if size1 == 0 or size1 == size2:
        return []
    return _subproof(size1, 0, size2, True, get)


def _subproof(m: int, lo: int, hi: int, complete: bool, get: SubtreeGetter) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if complete else [subtree_root(lo, hi, get)]
    k = _split(n)
    if m <= k:
        return _subproof(m, lo, lo + k, complete, get) + [subtree_root(lo + k, hi, get)]
    return _subproof(m - k, lo + k, hi, False, get) + [subtree_root(lo, lo + k, get)]


def collect_subtrees(compute: Callable[[SubtreeGetter], object]) -> set[tuple[int, int]]:
    """Which perfect subtrees ``compute`` will read, so a store can fetch them in one query."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return bytes(HASH_SIZE)

    compute(record)
    return wanted


# --- plain functions over a list of leaf hashes ----------------------------------------------


def _list_getter(leaf_hashes: Sequence[bytes]) -> SubtreeGetter:
    cache: dict[tuple[int, int], bytes] = {}

    def get(level: int, index: int) -> bytes:
        if level == 0:
            return leaf_hashes[index]
        key = (level, index)
        if key not in cache:
            cache[key] = node_hash(get(level - 1, 2 * index), get(level - 1, 2 * index + 1))
        return cache[key]

    return get


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of all leaves (SHA-256 of the empty string for none)."""
    return subtree_root(0, len(leaf_hashes), _list_getter(leaf_hashes))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path for leaf ``index`` in the tree of all ``leaf_hashes``."""
    return inclusion_path(index, len(leaf_hashes), _list_getter(leaf_hashes))


def consistency_proof(size1: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The consistency proof from the first ``size1`` leaves to all of them."""
    return consistency_path(size1, len(leaf_hashes), _list_getter(leaf_hashes))


# --- verification (RFC 9162 section 2.1.3.2 and 2.1.4.2) -------------------------------------


def _well_formed(*hashes: object) -> bool:
    return all(isinstance(h, bytes | bytearray) and len(h) == HASH_SIZE for h in hashes)


def root_from_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes | None:
    """The root an inclusion proof leads to, or None if the proof cannot be right."""
    if not (isinstance(index, int) and isinstance(size, int)) or not 0 <= index < size:
        return None
    if not _well_formed(leaf, *proof):
        return None
    fn, sn = index, size - 1
    r = bytes(leaf)
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """True when ``proof`` puts ``leaf`` at ``index`` in the tree of ``size`` and ``root_hash``."""
    try:
        got = root_from_inclusion(index, size, leaf, proof)
        return got is not None and _well_formed(root_hash) and got == bytes(root_hash)
    except Exception:  # noqa: BLE001 - a verifier answers False to anything malformed
        return False


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """True when ``proof`` shows the tree (size1, root1) is a prefix of (size2, root2)."""
    try:
        return _verify_consistency(size1, size2, root1, root2, proof)
    except Exception:  # noqa: BLE001 - a verifier answers False to anything malformed
        return False


def _verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    if not (isinstance(size1, int) and isinstance(size2, int)) or not 0 <= size1 <= size2:
        return False
    if not _well_formed(root1, root2, *proof):
        return False
    if size1 == 0:
        return len(proof) == 0
    if size1 == size2:
        return len(proof) == 0 and bytes(root1) == bytes(root2)
    if not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root is the first node
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == bytes(root1) and sr == bytes(root2)


# --- the frontier (the border of an append-only tree) -----------------------------------------
# The hashes of the perfect subtrees that make up a tree of ``size`` leaves, largest first: all
# an appender needs to add the next leaf and compute the root. The append path, the gap scan's
# integrity check and the offline verifier all walk the log with these three functions.


def unpack_frontier(blob: bytes) -> list[bytes]:
    """The border hashes, largest subtree first, from their concatenation."""
    return [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


def root_of_frontier(frontier: Sequence[bytes]) -> bytes:
    """RFC 6962 root: the border folded right to left."""
    if not frontier:
        return EMPTY_ROOT
    r = frontier[-1]
    for h in reversed(frontier[:-1]):
        r = node_hash(h, r)
    return r


def push_leaf(frontier: list[bytes], size: int, leaf: bytes) -> list[tuple[int, int, bytes]]:
    """Add leaf number ``size`` to ``frontier`` in place; return the subtrees (level >= 1) it
    completes as (level, index, hash). In place because the verifier does this per entry."""
    carry, level, completed = leaf, 0, []
    while size >> level & 1:
        carry = node_hash(frontier.pop(), carry)
        level += 1
        completed.append((level, size >> level, carry))
    frontier.append(carry)
    return completed


def append_to_frontier(
    frontier: Sequence[bytes], size: int, leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Add leaf number ``size``; return the new border (``frontier`` is left as it was) and the
    subtrees it completes."""
    border = list(frontier)
    completed = push_leaf(border, size, leaf)
    return border, completed

"""RFC 6962 / 9162 Merkle hashing and proofs, against the transparency-dev vectors."""

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.tlog import merkle

DATA = Path(__file__).parents[2] / "data" / "merkle"


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def _vectors(kind: str) -> list[Path]:
    return sorted((DATA / kind).glob("*/*.json"))


def test_vectors_are_present():
    assert len(_vectors("inclusion")) >= 40
    assert len(_vectors("consistency")) >= 40


@pytest.mark.parametrize("path", _vectors("inclusion"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_inclusion_vector(path: Path):
    v = json.loads(path.read_text())
    ok = merkle.verify_inclusion(
        v["leafIdx"],
        v["treeSize"],
        _b64(v["leafHash"] or ""),
        [_b64(p) for p in v["proof"] or []],
        _b64(v["root"] or ""),
    )
    assert ok is (not v["wantErr"]), v["desc"]


@pytest.mark.parametrize(
    "path", _vectors("consistency"), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_consistency_vector(path: Path):
    v = json.loads(path.read_text())
    ok = merkle.verify_consistency(
        v["size1"],
        v["size2"],
        _b64(v["root1"] or ""),
        _b64(v["root2"] or ""),
        [_b64(p) for p in v["proof"] or []],
    )
    assert ok is (not v["wantErr"]), v["desc"]


RFC_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]


def test_rfc6962_reference_root():
    leaves = [merkle.leaf_hash(bytes.fromhex(x)) for x in RFC_LEAVES]
    assert merkle.root(leaves).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


def test_empty_tree_root_is_hash_of_nothing():
    assert merkle.root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_generated_proofs_match_vectors():
    """Our proof generation reproduces the happy-path vectors byte for byte."""
    leaves = [merkle.leaf_hash(bytes.fromhex(x)) for x in RFC_LEAVES]
    v = json.loads((DATA / "inclusion" / "1" / "happy-path.json").read_text())
    assert merkle.inclusion_proof(v["leafIdx"], leaves[: v["treeSize"]]) == [
        _b64(p) for p in v["proof"]
    ]
    c = json.loads((DATA / "consistency" / "1" / "happy-path.json").read_text())
    assert merkle.consistency_proof(c["size1"], leaves[: c["size2"]]) == [
        _b64(p) for p in c["proof"]
    ]


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_every_inclusion_proof_verifies_and_tampering_fails(n, data):
    leaves = _leaves(n)
    r = merkle.root(leaves)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = merkle.inclusion_proof(i, leaves)
    assert merkle.verify_inclusion(i, n, leaves[i], proof, r)
    # another leaf, another index, a flipped bit, a dropped hash: all rejected
    other = merkle.leaf_hash(b"not in the tree")
    assert not merkle.verify_inclusion(i, n, other, proof, r)
    if n > 1:
        assert not merkle.verify_inclusion((i + 1) % n, n, leaves[i], proof, r)
    if proof:
        j = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bad = list(proof)
        bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
        assert not merkle.verify_inclusion(i, n, leaves[i], bad, r)
        assert not merkle.verify_inclusion(i, n, leaves[i], proof[:-1], r)
    assert not merkle.verify_inclusion(i, n, leaves[i], proof + [r], r)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_every_consistency_proof_verifies_and_tampering_fails(n, data):
    leaves = _leaves(n)
    m = data.draw(st.integers(min_value=1, max_value=n))
    r1, r2 = merkle.root(leaves[:m]), merkle.root(leaves)
    proof = merkle.consistency_proof(m, leaves)
    assert merkle.verify_consistency(m, n, r1, r2, proof)
    if m < n:
        forked = leaves[: m - 1] + [merkle.leaf_hash(b"forked")] + leaves[m:]
        assert not merkle.verify_consistency(m, n, merkle.root(forked[:m]), r2, proof)
        assert not merkle.verify_consistency(m, n, r1, merkle.root(forked), proof)
        assert not merkle.verify_consistency(m, n, r1, r2, proof[:-1])


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=1000))
def test_getter_root_matches_list_root(n):
    """The stored-subtree path (used by the database) agrees with the plain list version."""
    leaves = _leaves(n)
    getter = merkle._list_getter(leaves)
    assert merkle.subtree_root(0, n, getter) == merkle.root(leaves)


@pytest.mark.parametrize(
    "args",
    [
        (0, 0, b"\x00" * 32, [], b"\x00" * 32),
        (-1, 4, b"\x00" * 32, [], b"\x00" * 32),
        (0, 1, b"short", [], b"short"),
        (0, 2, b"\x00" * 32, ["not bytes"], b"\x00" * 32),
        ("0", "1", b"\x00" * 32, [], b"\x00" * 32),
        (0, 1, None, None, None),
    ],
)
def test_malformed_inclusion_returns_false_never_raises(args):
    assert merkle.verify_inclusion(*args) is False


def test_malformed_consistency_returns_false_never_raises():
    h = b"\x00" * 32
    assert merkle.verify_consistency(2, 1, h, h, []) is False
    assert merkle.verify_consistency(1, 2, h, h, None) is False
    assert merkle.verify_consistency(1, 2, h[:5], h, [h]) is False
    assert merkle.verify_consistency(0, 5, h, h, []) is True  # C2SP: empty proof from size 0
    assert merkle.verify_consistency(3, 3, h, h, []) is True
    assert merkle.verify_consistency(3, 3, h, b"\x01" * 32, []) is False

"""Ed25519 under the format's strict rule: known answers, agreeing with libsodium on each."""

from __future__ import annotations

import json
from pathlib import Path

import nacl.exceptions
import nacl.signing
import pytest

from ledger.tlog.notes import is_weak_point, verify_ed25519
from tests import ed25519_ref as ref

DATA = Path(__file__).resolve().parents[2] / "data" / "ed25519"
VECTORS = [v for name in ("strict.json", "speccheck.json")
           for v in json.loads((DATA / name).read_text())]


def _raw(v: dict) -> tuple[bytes, bytes, bytes]:
    return (bytes.fromhex(v["public_key"]), bytes.fromhex(v["message"]),
            bytes.fromhex(v["signature"]))


def _libsodium_accepts(pub: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(pub).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        return False
    return True


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_known_answers_and_libsodium_agrees(vector):
    pub, message, signature = _raw(vector)
    expected = vector["expected"] == "accept"
    assert verify_ed25519(pub, message, signature) is expected
    assert _libsodium_accepts(pub, message, signature) is expected


def test_the_vectors_are_what_the_generator_makes():
    """The strict vectors pass the bare group equation: only the strict checks reject them."""
    made = ref.vectors()
    assert made == json.loads((DATA / "strict.json").read_text())
    assert all(v["cofactorless_equation_holds"] for v in made)
    assert {v["name"] for v in made} >= {"identity_R", "S_plus_L", "small_order_A_order_8",
                                         "identity_R_noncanonical", "noncanonical_A"}


def test_every_encoding_of_the_eight_small_order_points_is_weak():
    """Derived from the curve, not from the list in notes.py: [i]T for T of order 8."""
    t = ref.decode_lenient(ref.ORDER_8)
    assert t is not None
    points = [ref.mul(i, t) for i in range(8)]
    assert ref.equal(points[0], ref.IDENTITY) and not ref.equal(points[1], ref.IDENTITY)
    encodings = {ref.encode(p) for p in points}
    assert len(encodings) == 8
    for enc in encodings:
        flipped = enc[:31] + bytes([enc[31] ^ 0x80])
        assert is_weak_point(enc) and is_weak_point(flipped)
        y = int.from_bytes(enc, "little") & ((1 << 255) - 1)
        if y + ref.P < 2**255:  # y = 0 and y = 1 have a second spelling y + p
            assert is_weak_point((y + ref.P).to_bytes(32, "little"))


def test_ordinary_keys_and_points_are_not_weak():
    for seed in (bytes(32), bytes(range(32)), b"\xff" * 32):
        assert not is_weak_point(ref.public_key(seed))
    assert not is_weak_point(ref.encode(ref.B))

"""Cosignature/v1 and add-checkpoint formats (no database): known answers and refusals."""

from __future__ import annotations

import pytest

from ledger.errors import InvalidInput
from ledger.tlog.checkpoints import sign_checkpoint
from ledger.tlog.cosignatures import (
    CosignerKey,
    cosign,
    cosignature_time,
    cosigned_message,
    cosigners,
    format_add_checkpoint,
    parse_add_checkpoint,
    parse_cosigner_vkey,
)
from ledger.tlog.notes import Signer, parse_note, unb64
from tests.ledger.factories import operator

WITNESS = Signer.from_seed("witness.example/w1", bytes([7]) * 32)
ROOT = bytes(range(32))


def test_cosignature_line_and_message():
    note = sign_checkpoint(operator(), 6, ROOT)
    text = parse_note(note).text
    assert cosigned_message(text, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + text)
    line = cosign(WITNESS, text, 1679315147)
    key = CosignerKey(WITNESS.name, WITNESS.verifier.public_key)
    # key ID over 0x04, not the 0x01 of an ordinary note key of the same name
    assert key.key_id != WITNESS.verifier.key_id
    cosigned = parse_note(note + line)
    sig = cosigned.signatures[-1]
    assert sig.key_id == key.key_id and len(sig.signature) == 8 + 64
    assert sig.signature[:8] == (1679315147).to_bytes(8, "big")
    assert cosignature_time(sig, key, text) == 1679315147
    assert cosigners(cosigned, [key, key]) == [key]
    # the operator's own line is not a cosignature; another checkpoint's text fails
    assert cosignature_time(cosigned.signatures[0], key, text) is None
    other = parse_note(sign_checkpoint(operator(), 7, ROOT)).text
    assert cosignature_time(sig, key, other) is None


def test_a_changed_timestamp_breaks_the_cosignature():
    note = sign_checkpoint(operator(), 6, ROOT)
    text = parse_note(note).text
    key = CosignerKey(WITNESS.name, WITNESS.verifier.public_key)
    sig = parse_note(note + cosign(WITNESS, text, 100)).signatures[-1]
    forged = type(sig)(sig.name, sig.key_id, (101).to_bytes(8, "big") + sig.signature[8:])
    assert cosignature_time(forged, key, text) is None


def test_witness_vkeys():
    key = CosignerKey(WITNESS.name, WITNESS.verifier.public_key)
    assert parse_cosigner_vkey(key.vkey) == key
    assert key.vkey.split("+")[2].startswith("B")  # 0x04 first
    with pytest.raises(InvalidInput) as err:
        parse_cosigner_vkey(WITNESS.verifier.vkey)  # an Ed25519 note key, type 0x01
    assert err.value.code == "vkey_algorithm"
    name, _, rest = key.vkey.split("+")
    with pytest.raises(InvalidInput) as err:
        parse_cosigner_vkey(f"{name}+00000000+{rest}")
    assert err.value.code == "vkey_key_id"


def test_add_checkpoint_bodies():
    cp = sign_checkpoint(operator(), 6, ROOT)
    body = format_add_checkpoint(4, [ROOT, ROOT], cp)
    assert body.startswith(b"old 4\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")
    parsed = parse_add_checkpoint(body)
    assert (parsed.old_size, parsed.proof, parsed.checkpoint) == (4, [ROOT, ROOT], cp)
    for bad in (b"old 04\n\n" + cp, b"old -1\n\n" + cp, b"new 4\n\n" + cp, b"old 4\n" + cp,
                b"old 4\nnot base64\n\n" + cp, b"old 4\n" + b"AAAA\n\n" + cp,
                b"old 4\n" + (b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n" * 64) + b"\n" + cp,
                "old ４\n\n".encode() + cp):
        with pytest.raises(InvalidInput) as err:
            parse_add_checkpoint(bad)
        assert err.value.code == "witness_request_malformed", bad


def test_known_answer_of_docs_section_11_2():
    """docs/ledger-format.md 11.2: Appendix B's checkpoint at size 6, cosigned by
    witness.test/w1 (seed 0x20..0x3f) at time 1790000000."""
    witness = Signer.from_seed("witness.test/w1", bytes(range(32, 64)))
    key = CosignerKey(witness.name, witness.verifier.public_key)
    assert key.vkey == "witness.test/w1+ad1959f2+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X"
    root = unb64("RS3zHBT9Rq62is7oKsuwksrVS9axARcRraPFUfqJc4o=", field="root")
    checkpoint = sign_checkpoint(operator(), 6, root)
    line = cosign(witness, parse_note(checkpoint).text, 1790000000)
    assert line == ("— witness.test/w1 rRlZ8gAAAABqsTuA27bWJ6lQ5qAm2ZJQmq9DTNFns2AK5QHyDfIGa0op4U+J"
                    "gdJHOxl0228dmCW0MOJM0Xdq7xLWvjP8s9QlqH+KCQ==\n").encode()
    assert cosigners(parse_note(checkpoint + line), [key]) == [key]

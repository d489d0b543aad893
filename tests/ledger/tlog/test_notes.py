"""C2SP signed notes and keys: known answers from the Go reference, and strict parsing."""

import pytest

from ledger.errors import InvalidInput, NoteMalformed, SignatureInvalid, TooLarge
from ledger.tlog.notes import Signer, parse_note, parse_vkey, sign_note, verify_signature

# golang.org/x/mod/sumdb/note documentation example (Ed25519 is deterministic).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
    "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_go_reference_key_and_signature_reproduced_byte_for_byte():
    signer = Signer.from_private_key_text(GO_SKEY)
    assert signer.verifier.vkey == GO_VKEY
    assert signer.private_key_text() == GO_SKEY
    assert sign_note(GO_TEXT, signer).decode() == GO_NOTE


def test_go_reference_note_verifies_and_a_changed_byte_does_not():
    key = parse_vkey(GO_VKEY)
    note = parse_note(GO_NOTE.encode())
    verify_signature(note, note.signatures[0], key)
    tampered = parse_note(GO_NOTE.replace("cryptography", "cryptographY").encode())
    with pytest.raises(SignatureInvalid):
        verify_signature(tampered, tampered.signatures[0], key)


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        "PeterNeumann+c74f20a3+AhpcZQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong algorithm
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",  # short key
    ],
)
def test_malformed_vkeys_are_rejected(vkey):
    with pytest.raises(InvalidInput):
        parse_vkey(vkey)


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"text\n", "note_malformed"),  # no blank line
        (b"text\n\n", "note_unsigned"),
        (b"text\n\n- name AAAA\n", "note_malformed"),  # hyphen, not em dash
        ("text\n\n— name\n".encode(), "note_malformed"),
        ("text\n\n— name !!!\n".encode(), "note_malformed"),
        ("text\n\n— name AAAA\n".encode(), "note_malformed"),  # too short for Ed25519
        (b"text\x00\n\nx\n", "note_control_char"),
        (b"text\xff\n\nx\n", "note_not_utf8"),
        (GO_NOTE.encode()[:-1], "note_malformed"),  # no final newline
    ],
)
def test_malformed_notes_get_specific_errors(raw, code):
    with pytest.raises(NoteMalformed) as err:
        parse_note(raw)
    assert err.value.code == code


def test_oversized_note_is_rejected_before_parsing():
    with pytest.raises(TooLarge):
        parse_note(b"x" * 1001, max_size=1000)


def test_key_file_round_trip_and_tamper_detection():
    signer = Signer.generate("device-1")
    again = Signer.from_private_key_text(signer.private_key_text())
    assert again.verifier == signer.verifier
    text = signer.private_key_text()
    bad = text[:-8] + ("A" if text[-8] != "A" else "B") + text[-7:]
    with pytest.raises(InvalidInput):
        Signer.from_private_key_text(bad)


@pytest.mark.parametrize("pub_hex", [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "0100000000000000000000000000000000000000000000000000000000000080",  # with sign bit
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p
])
def test_weak_public_keys_are_refused(pub_hex):
    from ledger.tlog.notes import VerifierKey

    vk = VerifierKey("weak", bytes.fromhex(pub_hex))
    with pytest.raises(InvalidInput) as err:
        parse_vkey(vk.vkey)
    assert err.value.code in ("vkey_weak", "vkey_malformed")


def test_unknown_longer_signature_lines_are_tolerated_as_c2sp_says():
    """A witness cosignature (another signature type, longer) must not break parsing."""
    note = GO_NOTE + "— witness.example " + "A" * 100 + "\n"
    parsed = parse_note(note.encode())
    verify_signature(parsed, parsed.signatures[0], parse_vkey(GO_VKEY))

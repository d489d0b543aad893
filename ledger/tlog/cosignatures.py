"""Witness cosignatures (c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1``) and the body of
a c2sp.org/tlog-witness ``add-checkpoint`` request: the formats both sides and the offline
verifier share (stdlib and cryptography only, like ``verify.py``).

A cosignature is one more signature line on a checkpoint note::

    — <witness name> base64(key ID || timestamp (8 bytes, big-endian) || Ed25519 signature)

where the key ID is SHA-256(name || 0x0A || 0x04 || public key)[:4] (0x04 keeps a cosigning
key apart from an ordinary Ed25519 note key of the same name) and the signed message is
``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint text. By cosigning, a
witness states that, at that time, this is the largest tree consistent with everything it has
seen of the log.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ledger.errors import InvalidInput
from ledger.tlog.merkle import HASH_SIZE
from ledger.tlog.notes import (
    SIG_PREFIX,
    Note,
    NoteSignature,
    Signer,
    b64,
    check_key_name,
    is_weak_point,
    unb64,
    verify_ed25519,
)

ALG_COSIGNATURE_V1 = 0x04
COSIGNATURE_HEADER = b"cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
MAX_PROOF_LINES = 63
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1])
                          + public_key).digest()[:4]


@dataclass(frozen=True)
class CosignerKey:
    """A witness's public key, as a vkey of type 0x04: ``name+keyid+base64(0x04 || key)``."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return cosigner_key_id(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        raw = bytes([ALG_COSIGNATURE_V1]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{b64(raw)}"


def parse_cosigner_vkey(text: str) -> CosignerKey:
    """Parse a witness vkey (type 0x04), checking name, key and key ID."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise InvalidInput("a witness vkey is name+keyid+key", code="vkey_malformed",
                           field="witness")
    name, hex_id, key_b64 = parts
    check_key_name(name)
    raw = unb64(key_b64, field="witness", length=33)
    if raw[0] != ALG_COSIGNATURE_V1:
        raise InvalidInput("a witness vkey has type 0x04 (cosignature/v1)",
                           code="vkey_algorithm", field="witness")
    if is_weak_point(raw[1:]):
        raise InvalidInput("a small-order or non-canonical Ed25519 key cannot be used",
                           code="vkey_weak", field="witness")
    key = CosignerKey(name, raw[1:])
    if hex_id != key.key_id.hex():
        raise InvalidInput("witness vkey key ID does not match its name and key",
                           code="vkey_key_id", field="witness")
    return key


def cosigned_message(checkpoint_text: bytes, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: header, time line, then the checkpoint text."""
    return COSIGNATURE_HEADER + f"time {timestamp}\n".encode() + checkpoint_text


def cosign(witness: Signer, checkpoint_text: bytes, timestamp: int) -> bytes:
    """The witness's cosignature line (with its LF) on a checkpoint's text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise InvalidInput("cosignature time out of range", code="cosignature_time")
    key = CosignerKey(witness.name, witness.verifier.public_key)
    sig = witness.sign(cosigned_message(checkpoint_text, timestamp))
    body = key.key_id + timestamp.to_bytes(8, "big") + sig
    return f"{SIG_PREFIX}{witness.name} {b64(body)}\n".encode()


def cosignature_time(sig: NoteSignature, key: CosignerKey, checkpoint_text: bytes) -> int | None:
    """The timestamp of ``sig`` if it is ``key``'s valid cosignature on the text, else None."""
    if sig.name != key.name or sig.key_id != key.key_id or len(sig.signature) != 8 + 64:
        return None
    timestamp = int.from_bytes(sig.signature[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        return None
    if not verify_ed25519(key.public_key, cosigned_message(checkpoint_text, timestamp),
                          sig.signature[8:]):
        return None
    return timestamp


def cosigners(note: Note, witnesses: Iterable[CosignerKey]) -> list[CosignerKey]:
    """The witnesses among ``witnesses`` with a valid cosignature on ``note`` (each once)."""
    return [w for w in dict.fromkeys(witnesses)
            if any(cosignature_time(s, w, note.text) is not None for s in note.signatures)]


# --- the add-checkpoint request body (c2sp.org/tlog-witness) ------------------------------------


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: list[bytes]
    checkpoint: bytes


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], checkpoint: bytes) -> bytes:
    lines = [f"old {old_size}\n"] + [b64(h) + "\n" for h in proof] + ["\n"]
    return "".join(lines).encode() + checkpoint


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Split an add-checkpoint body: ``old N``, proof lines, an empty line, the checkpoint."""
    bad = InvalidInput("the body is not old size, proof lines, an empty line and a checkpoint",
                       code="witness_request_malformed", field="body")
    head, sep, checkpoint = body.partition(b"\n\n")
    if not sep:
        raise bad
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise bad from None
    if not lines[0].startswith("old ") or not _DECIMAL.fullmatch(lines[0][4:]):
        raise bad
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise bad
    try:
        proof = [unb64(line, field="proof", length=HASH_SIZE) for line in lines[1:]]
    except InvalidInput:
        raise bad from None
    return AddCheckpoint(int(lines[0][4:]), proof, checkpoint)

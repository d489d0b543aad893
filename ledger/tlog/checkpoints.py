"""Checkpoints (c2sp.org/tlog-checkpoint) and inclusion receipts (c2sp.org/tlog-proof@v1).

A checkpoint is a signed note whose text is ``<origin>\\n<size>\\n<base64 root>\\n``, signed by
the operator key whose name is the origin. A tlog-proof bundles an entry's index, its inclusion
path and a checkpoint, so whoever holds the entry can check it was logged, offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledger.errors import InvalidInput, SignatureInvalid
from ledger.tlog.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from ledger.tlog.notes import (
    Signer,
    VerifierKey,
    b64,
    parse_note,
    sign_note,
    unb64,
    verify_signature,
)

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class SignedCheckpoint:
    """A verified checkpoint: the operator vouches that the tree of ``size`` has ``root``."""

    origin: str
    size: int
    root: bytes
    note: bytes


def checkpoint_text(origin: str, size: int, root: bytes) -> bytes:
    """The checkpoint body (what the operator signs)."""
    return f"{origin}\n{size}\n{b64(root)}\n".encode()


def sign_checkpoint(signer: Signer, size: int, root: bytes) -> bytes:
    """A checkpoint note; the signer's key name is the log's origin. Ed25519 is deterministic,
    so the same (size, root) always yields the same bytes."""
    return sign_note(checkpoint_text(signer.name, size, root), signer)


def _decimal(text: str, field: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise InvalidInput(f"{field} must be a decimal number without leading zeros",
                           code="checkpoint_malformed", field=field)
    return int(text)


def parse_checkpoint(raw: bytes, operator: VerifierKey) -> SignedCheckpoint:
    """Parse a checkpoint and verify the operator's signature on it."""
    cp = read_checkpoint(raw, operator.name)
    check_checkpoint_signature(cp, operator)
    return cp


def read_checkpoint(raw: bytes, origin: str) -> SignedCheckpoint:
    """Parse a checkpoint of the log ``origin`` without checking who signed it: for a verifier
    that learns which operator key was in force at its size only while replaying the log.
    Follow it with ``check_checkpoint_signature``."""
    note = parse_note(raw, max_size=64 * 1024)
    lines = note.text.decode().split("\n")[:-1]
    if len(lines) < 3:
        raise InvalidInput("a checkpoint has origin, size and root lines",
                           code="checkpoint_malformed", field="checkpoint")
    cp_origin, size_text, root_text = lines[:3]
    if cp_origin != origin:
        raise InvalidInput(f"checkpoint origin {cp_origin!r} is not this log's ({origin!r})",
                           code="checkpoint_origin", field="checkpoint")
    size = _decimal(size_text, "size")
    root = unb64(root_text, field="root", length=HASH_SIZE)
    return SignedCheckpoint(cp_origin, size, root, raw)


def check_checkpoint_signature(cp: SignedCheckpoint, operator: VerifierKey) -> None:
    """Raise unless ``cp`` carries a valid signature by ``operator``."""
    note = parse_note(cp.note, max_size=64 * 1024)
    for sig in note.signatures:
        if sig.name == operator.name and sig.key_id == operator.key_id:
            verify_signature(note, sig, operator)
            return
    raise SignatureInvalid("checkpoint is not signed by the operator key",
                           code="checkpoint_unsigned", field="checkpoint")


def format_tlog_proof(index: int, path: list[bytes], checkpoint: bytes) -> str:
    """A c2sp.org/tlog-proof@v1 text."""
    hashes = "".join(b64(h) + "\n" for h in path)
    return f"{TLOG_PROOF_HEADER}\nindex {index}\n{hashes}\n{checkpoint.decode()}"


@dataclass(frozen=True)
class TlogProof:
    index: int
    path: list[bytes]
    checkpoint: bytes
    extra: bytes | None = None


def parse_tlog_proof(text: str) -> TlogProof:
    """Parse a tlog-proof; the checkpoint inside is returned unverified."""
    head, sep, checkpoint = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines or lines[0] != TLOG_PROOF_HEADER:
        raise InvalidInput("not a c2sp.org/tlog-proof@v1", code="proof_malformed", field="proof")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = unb64(rest.pop(0)[6:], field="extra")
    if not rest or not rest[0].startswith("index "):
        raise InvalidInput("tlog-proof lacks its index line", code="proof_malformed",
                           field="proof")
    index = _decimal(rest[0][6:], "index")
    path = [unb64(line, field="proof", length=HASH_SIZE) for line in rest[1:]]
    return TlogProof(index, path, checkpoint.encode(), extra)


def verify_tlog_proof(text: str, entry_note: bytes, operator: VerifierKey) -> SignedCheckpoint:
    """Check that ``entry_note`` is in the log at the proof's index, under a checkpoint signed by
    the operator. Returns the checkpoint; raises InvalidInput/SignatureInvalid otherwise."""

    proof = parse_tlog_proof(text)
    cp = parse_checkpoint(proof.checkpoint, operator)
    if not verify_inclusion(proof.index, cp.size, leaf_hash(entry_note), proof.path, cp.root):
        raise InvalidInput("inclusion proof does not lead to the checkpoint's root",
                           code="proof_invalid", field="proof")
    return cp

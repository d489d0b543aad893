"""The log's side of witnessing: send each new checkpoint to the configured witnesses
(c2sp.org/tlog-witness ``add-checkpoint``), keep the cosignatures they return, and serve
checkpoints and receipts with them.

Never on the append path: an append commits and answers without waiting for any witness.
``request_cosignatures`` runs in the background (``api/cosigning.py``, every few seconds) and on
the commands that publish a checkpoint (export, tiles export, ``witness push``), each witness
with a short timeout; a witness that is down or refuses only means fewer cosignatures.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.errors import ConfigurationError, InvalidInput, LedgerError, NotFound
from ledger.tlog.checkpoints import SignedCheckpoint, format_tlog_proof, parse_checkpoint
from ledger.tlog.cosignatures import (
    CosignerKey,
    cosignature_time,
    format_add_checkpoint,
    parse_cosigner_vkey,
)
from ledger.tlog.log import (
    MAX_INDEX,
    LogConfig,
    consistency_proof,
    inclusion_proof,
    issue_checkpoint,
    latest_checkpoint,
    with_cosignatures,
)
from ledger.tlog.models import Checkpoint, CheckpointCosignature
from ledger.tlog.notes import SIG_PREFIX, NoteSignature, b64, parse_note

SIZE_CONTENT_TYPE = "text/x.tlog.size"


@dataclass(frozen=True)
class Witness:
    """A witness the log asks: its add-checkpoint URL prefix and its cosigning key."""

    url: str
    key: CosignerKey

    @property
    def label(self) -> str:
        return f"{self.key.name}+{self.key.key_id.hex()}"


def parse_witnesses(setting: Any) -> list[Witness]:
    """``WASTE_LEDGER_WITNESSES``: a JSON list of ``{"url": ..., "vkey": ...}``."""
    if not setting:
        return []
    if not isinstance(setting, list) or not all(
            isinstance(w, Mapping) and isinstance(w.get("url"), str)
            and isinstance(w.get("vkey"), str) for w in setting):
        raise ConfigurationError('WITNESSES must be a JSON list of {"url": ..., "vkey": ...}',
                                 code="witnesses_invalid")
    try:
        witnesses = [Witness(w["url"].rstrip("/"), parse_cosigner_vkey(w["vkey"]))
                     for w in setting]
    except InvalidInput as exc:
        raise ConfigurationError(f"WITNESSES: {exc.message}", code="witnesses_invalid") from None
    if len({w.label for w in witnesses}) != len(witnesses):
        raise ConfigurationError("WITNESSES names a witness twice", code="witnesses_invalid")
    return witnesses


class WitnessUnavailable(LedgerError):
    """The witness did not answer, or answered something other than a cosignature."""

    code = "witness_unavailable"


@dataclass(frozen=True)
class Outcome:
    witness: str
    size: int
    cosigned: bool
    detail: str


def request_cosignatures(session: Session, config: LogConfig, witnesses: Sequence[Witness],
                         *, timeout: float = 3.0, fresh: bool = False) -> list[Outcome]:
    """Ask every witness to cosign the latest checkpoint (issued first if stale; with
    ``fresh``, one of the whole log as it is now, as an export writes)."""
    if not witnesses:
        return []
    note = issue_checkpoint(session, config) if fresh else latest_checkpoint(session, config)
    cp = parse_checkpoint(note, config.operator.verifier)
    session.rollback()
    return [_ask(session, w, cp, timeout) for w in witnesses]


def _ask(session: Session, witness: Witness, cp: SignedCheckpoint, timeout: float) -> Outcome:
    held = _held_size(session, witness)
    if held == cp.size:
        return Outcome(witness.label, cp.size, True, "already cosigned")
    try:
        try:
            line = _post(session, witness, cp, held, timeout)
        except _SizeMismatch as mismatch:  # the witness knows another size: prove from it
            if mismatch.size > cp.size:
                return Outcome(witness.label, cp.size, False,
                               f"the witness holds a larger size {mismatch.size}")
            line = _post(session, witness, cp, mismatch.size, timeout)
    except (WitnessUnavailable, _SizeMismatch) as exc:
        return Outcome(witness.label, cp.size, False, str(exc))
    _store(session, witness, cp, line)
    return Outcome(witness.label, cp.size, True, "cosigned")


class _SizeMismatch(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"the witness holds size {size}")
        self.size = size


def _post(session: Session, witness: Witness, cp: SignedCheckpoint, old: int,
          timeout: float) -> tuple[bytes, int]:
    proof = consistency_proof(session, old, cp.size) if old else []
    session.rollback()
    body = format_add_checkpoint(old, proof, cp.note)
    req = urllib.request.Request(f"{witness.url}/add-checkpoint", data=body, method="POST",
                                 headers={"Content-Type": "text/plain; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - configured URL
            answer = resp.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        text = exc.read(1024)
        if exc.code == 409 and exc.headers.get_content_type() == SIZE_CONTENT_TYPE:
            try:
                raise _SizeMismatch(int(text.decode("ascii").strip())) from None
            except ValueError:
                pass
        raise WitnessUnavailable(f"{witness.label} answered {exc.code}: "
                                 f"{text.decode('utf-8', 'replace')[:200]}") from None
    except (OSError, ValueError) as exc:
        raise WitnessUnavailable(f"{witness.label} did not answer: {exc}") from None
    return _cosignature_in(answer, witness, cp)


def _cosignature_in(answer: bytes, witness: Witness, cp: SignedCheckpoint) -> tuple[bytes, int]:
    """The witness's valid cosignature line in its answer (other lines are ignored)."""
    text = parse_note(cp.note).text
    try:
        note = parse_note(cp.note + answer)
    except LedgerError:
        raise WitnessUnavailable(f"{witness.label} answered no signature lines") from None
    for sig in note.signatures:
        stamp = cosignature_time(sig, witness.key, text)
        if stamp is not None:
            return _line(sig), stamp
    raise WitnessUnavailable(f"{witness.label} returned no valid cosignature")


def _line(sig: NoteSignature) -> bytes:
    return f"{SIG_PREFIX}{sig.name} {b64(sig.key_id + sig.signature)}\n".encode()


def _held_size(session: Session, witness: Witness) -> int:
    size = session.scalar(select(func.max(CheckpointCosignature.size))
                          .where(CheckpointCosignature.witness == witness.label))
    session.rollback()
    return size or 0


def _store(session: Session, witness: Witness, cp: SignedCheckpoint,
           line: tuple[bytes, int]) -> None:
    session.add(CheckpointCosignature(size=cp.size, witness=witness.label, line=line[0],
                                      timestamp=line[1], received_ms=time.time_ns() // 10**6))
    try:
        session.commit()
    except IntegrityError:  # another process stored this witness's cosignature first
        session.rollback()


# --- reading ---------------------------------------------------------------------------------


def current_checkpoint(session: Session, config: LogConfig) -> bytes:
    """The latest checkpoint with every cosignature it has (what /log/checkpoint serves)."""
    note = latest_checkpoint(session, config)
    cp = parse_checkpoint(note, config.operator.verifier)
    return with_cosignatures(session, note, cp.size)


def cosigned_receipt(session: Session, config: LogConfig, index: int) -> str:
    """A tlog-proof of entry ``index`` to the newest cosigned checkpoint that covers it, its
    cosignatures included; to the latest checkpoint while none covering it is cosigned."""
    if not 0 <= index < MAX_INDEX:  # beyond any log, and beyond a BIGINT
        raise NotFound(f"entry {index} is not in the log", code="entry_unknown", field="index")
    size = session.scalar(select(func.max(CheckpointCosignature.size))
                          .where(CheckpointCosignature.size > index))
    if size is None:
        note = latest_checkpoint(session, config)
        size = parse_checkpoint(note, config.operator.verifier).size
    else:
        note = session.scalars(select(Checkpoint.note).where(Checkpoint.size == size)).one()
    if index >= size:
        raise NotFound(f"entry {index} is not in the log yet", code="entry_unknown",
                       field="index")
    path = inclusion_proof(session, index, size)
    return format_tlog_proof(index, path, with_cosignatures(session, note, size))

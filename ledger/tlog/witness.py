"""A witness (c2sp.org/tlog-witness): checks that each checkpoint a log presents is consistent
with the last one it cosigned for that log, and cosigns it (``cosignatures.cosign``).

A regulator runs it on its own machine with its own key and its own database (``witness_*``
tables, a metadata of their own: they never live in a log's database). The check of the old
size and the update of the stored checkpoint are one transaction holding the write lock, so two
requests can never roll the witness back (the race tlog-witness describes). A signed checkpoint
that contradicts the stored one, whether of the same size with another root or with a
consistency proof that fails, is kept as evidence: two checkpoints signed by the log's key that
cannot both be prefixes of one log prove that the operator forked it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, LargeBinary, MetaData, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ledger.errors import Conflict, InvalidInput, NotFound, RuleViolation
from ledger.tlog.checkpoints import SignedCheckpoint, parse_checkpoint
from ledger.tlog.cosignatures import cosign, parse_add_checkpoint
from ledger.tlog.db import write_transaction
from ledger.tlog.merkle import verify_consistency
from ledger.tlog.models import NAMING_CONVENTION
from ledger.tlog.notes import Signer, VerifierKey, parse_note


class WitnessBase(DeclarativeBase):
    """The witness's own tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {int: BigInteger, bytes: LargeBinary}


class WitnessedLog(WitnessBase):
    """The latest checkpoint this witness cosigned for one log."""

    __tablename__ = "witness_logs"

    origin: Mapped[str] = mapped_column(String(128), primary_key=True)
    size: Mapped[int]
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    checkpoint: Mapped[bytes]
    updated_ms: Mapped[int]


class ForkEvidence(WitnessBase):
    """A signed checkpoint that contradicts the one the witness holds (kept, never cosigned)."""

    __tablename__ = "witness_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(128), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    received_ms: Mapped[int]
    held: Mapped[bytes]  # the checkpoint the witness had cosigned
    presented: Mapped[bytes]  # the whole add-checkpoint body: old size, proof, checkpoint


@dataclass(frozen=True)
class WitnessConfig:
    """Who the witness is and which logs it follows (by origin)."""

    key: Signer
    logs: Mapping[str, VerifierKey]
    clock: Callable[[], float] = time.time


class OldSizeMismatch(Conflict):
    """The client's old size is not the witness's (HTTP 409 with the witness's size)."""

    code = "witness_old_size"


class ForkDetected(Conflict):
    """Same size, another root: a fork (HTTP 409), recorded as evidence."""

    code = "witness_fork"


class ProofRejected(RuleViolation):
    """The consistency proof does not verify (HTTP 422), recorded as evidence."""

    code = "witness_proof_invalid"


def add_checkpoint(session: Session, config: WitnessConfig, body: bytes) -> bytes:
    """Check an add-checkpoint request and return the cosignature line; raise otherwise.

    Evidence of a fork is committed even though the request fails."""
    request = parse_add_checkpoint(body)
    cp = _checkpoint(config, request.checkpoint)
    if request.old_size > cp.size:
        raise InvalidInput("old size is larger than the checkpoint's",
                           code="witness_request_malformed", field="old")
    if request.old_size == 0 and request.proof:
        raise InvalidInput("a proof from size 0 must be empty", code="witness_request_malformed",
                           field="proof")
    now_ms = int(config.clock() * 1000)
    evidence: ForkEvidence | None = None
    try:
        with write_transaction(session):
            held = session.scalars(select(WitnessedLog).where(WitnessedLog.origin == cp.origin)
                                   .with_for_update()).first()
            evidence = _check(held, cp, request.old_size, request.proof, body, now_ms)
            if evidence is not None:
                session.add(evidence)
            elif held is None:
                session.add(WitnessedLog(origin=cp.origin, size=cp.size, root=cp.root,
                                         checkpoint=cp.note, updated_ms=now_ms))
            else:
                held.size, held.root, held.checkpoint = cp.size, cp.root, cp.note
                held.updated_ms = now_ms
    except IntegrityError:  # a concurrent first request for this origin won
        raise OldSizeMismatch("another request just updated this log; retry",
                              size=_held_size(session, cp.origin)) from None
    if evidence is not None:
        raise (ForkDetected if evidence.reason == "same_size_other_root" else ProofRejected)(
            f"checkpoint at size {cp.size} is inconsistent with the cosigned one; kept as "
            "evidence of a fork", field="checkpoint")
    text = parse_note(cp.note).text
    return cosign(config.key, text, int(config.clock()))


def _checkpoint(config: WitnessConfig, raw: bytes) -> SignedCheckpoint:
    origin = raw.split(b"\n", 1)[0].decode("utf-8", "replace")
    log_key = config.logs.get(origin)
    if log_key is None:
        raise NotFound(f"this witness does not follow {origin!r}", code="witness_log_unknown",
                       field="checkpoint")
    return parse_checkpoint(raw, log_key)  # checkpoint_unsigned / signature_invalid -> 403


def _check(held: WitnessedLog | None, cp: SignedCheckpoint, old_size: int,
           proof: list[bytes], body: bytes, now_ms: int) -> ForkEvidence | None:
    """None when ``cp`` may be cosigned; evidence when it contradicts ``held``."""
    held_size = 0 if held is None else held.size
    if old_size != held_size:
        raise OldSizeMismatch(f"this witness holds size {held_size}", size=held_size)
    if held is None:
        return None  # the first checkpoint of a log is trusted on first use (proof is empty)
    if old_size == cp.size:
        if cp.root == held.root:
            return None
        reason = "same_size_other_root"
    elif verify_consistency(held.size, cp.size, held.root, cp.root, proof):
        return None
    else:
        reason = "consistency_proof_failed"
    return ForkEvidence(origin=cp.origin, reason=reason, received_ms=now_ms,
                        held=held.checkpoint, presented=body)


def _held_size(session: Session, origin: str) -> int:
    session.rollback()
    held = session.get(WitnessedLog, origin)
    return 0 if held is None else held.size


def evidence(session: Session) -> list[ForkEvidence]:
    """Every fork the witness has seen, oldest first."""
    return list(session.scalars(select(ForkEvidence).order_by(ForkEvidence.id)))

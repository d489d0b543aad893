"""Persistence of the log: typed SQLAlchemy 2 models.

The log is append-only: ``log_entries`` rows are inserted once and never updated or deleted
(triggers on both databases refuse it; ``ledger/migrations`` creates them and every table), and
``note`` holds the exact bytes that were signed.
Everything else here (``log_head``, ``merkle_nodes``, ``signing_keys``, ``checkpoints``) is
derived from the entries and can be rebuilt from index 0.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every table of the project."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {int: BigInteger, bytes: LargeBinary}


class LogHead(Base):
    """The single row that every append locks: size, root and the right border of the tree.

    ``frontier`` is the concatenation of the hashes of the perfect subtrees that make up the
    tree, largest first (one per set bit of ``size``), so an append needs no other reads.
    """

    __tablename__ = "log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int]
    root: Mapped[bytes]
    frontier: Mapped[bytes]
    operator_vkey: Mapped[str] = mapped_column(String(300))
    operator_org: Mapped[str | None] = mapped_column(String(18))
    # the newest stored checkpoint, so an append need not look it up
    checkpoint_size: Mapped[int | None]
    checkpoint_ms: Mapped[int | None]


class LogEntry(Base):
    """One accepted entry at its log index; ``note`` is kept byte for byte."""

    __tablename__ = "log_entries"
    __table_args__ = (UniqueConstraint("stream", "seq"),)

    idx: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    stream: Mapped[str] = mapped_column(String(128))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(64), index=True)
    org: Mapped[str] = mapped_column(String(18), index=True)
    key_fp: Mapped[str] = mapped_column(String(64))
    t_ms: Mapped[int]
    received_ms: Mapped[int]
    note: Mapped[bytes]


class MerkleNode(Base):
    """The hash of the perfect subtree over leaves [idx * 2**level, (idx + 1) * 2**level),
    for level >= 1 (level 0 is ``log_entries.leaf_hash``)."""

    __tablename__ = "merkle_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    idx: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class SigningKey(Base):
    """A key registered to an organisation by a ``key.registered`` entry."""

    __tablename__ = "signing_keys"
    __table_args__ = (Index("ix_signing_keys_name_key_id", "name", "key_id"),)

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    org: Mapped[str] = mapped_column(String(18), index=True)
    name: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[bytes] = mapped_column(LargeBinary(4))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    label: Mapped[str | None] = mapped_column(String(200))
    registered_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    revoked_at: Mapped[int | None] = mapped_column(ForeignKey("log_entries.idx"))


class Checkpoint(Base):
    """A checkpoint the operator signed and published."""

    __tablename__ = "checkpoints"

    size: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[bytes]
    issued_ms: Mapped[int]


class CheckpointCosignature(Base):
    """A witness's cosignature on a stored checkpoint (c2sp.org/tlog-cosignature), the exact
    signature line the witness returned; served appended to the checkpoint note."""

    __tablename__ = "checkpoint_cosignatures"

    size: Mapped[int] = mapped_column(ForeignKey("checkpoints.size"), primary_key=True,
                                      autoincrement=False)
    witness: Mapped[str] = mapped_column(String(140), primary_key=True)  # name+hex key ID
    timestamp: Mapped[int]  # the witness's time, POSIX seconds
    line: Mapped[bytes]
    received_ms: Mapped[int]


class IntegrityWatermark(Base):
    """How far the gap scan has re-verified the stored log (docs/gaps.md, "integrity").

    Leaves ``[0, verified_size)`` were re-hashed from their notes and every tree node and
    published checkpoint inside that range was compared; ``frontier`` is the recomputed
    frontier at ``verified_size``, so the next scan verifies only what is new. Triggers reset it
    to 0 when a stored tree node or checkpoint is changed or deleted afterwards. Verification
    state, not a projection of the log: ``rebuild`` resets it rather than replaying it."""

    __tablename__ = "integrity_watermark"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    verified_size: Mapped[int]
    frontier: Mapped[bytes]


class IntegrityFinding(Base):
    """A disagreement the integrity scan found below the watermark (kept until a reset)."""

    __tablename__ = "integrity_findings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)  # entry:I, node:L:I, ...
    idx: Mapped[int]  # the log index it was found at
    t_ms: Mapped[int]
    reason: Mapped[str] = mapped_column(String(200))


# The triggers on these tables (log_entries refuses UPDATE and DELETE; editing merkle_nodes or
# checkpoints sends the integrity watermark back to 0) are created by the migrations, not here:
# see ledger/migrations/versions/0001_baseline.py.

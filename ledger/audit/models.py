"""Projections the audit layer keeps: cases (问题清单), derived from the log, rebuilt by
``rebuild``."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.tlog.models import Base


class Case(Base):
    """A case (问题): one ``case:<id>`` stream, its state after its last entry."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_region_state", "region", "state"),
        Index("ix_cases_assignee_state", "assignee", "state"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    region: Mapped[str] = mapped_column(String(6))
    state: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    gap_id: Mapped[str | None] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(String(200))
    facts: Mapped[str] = mapped_column(Text)
    organisations: Mapped[str] = mapped_column(Text)  # space-separated USCCs involved
    batches: Mapped[str] = mapped_column(Text)  # space-separated batch codes involved
    assignee: Mapped[str | None] = mapped_column(String(18))
    person: Mapped[str | None] = mapped_column(String(100))
    measures: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[str | None] = mapped_column(String(10), index=True)  # YYYY-MM-DD, Beijing
    progress: Mapped[str | None] = mapped_column(Text)  # the latest rectification report
    reopened: Mapped[int] = mapped_column(Integer)  # how many times it was reopened
    opened_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    opened_t_ms: Mapped[int] = mapped_column(BigInteger)
    closed_at: Mapped[int | None] = mapped_column(ForeignKey("log_entries.idx"))
    closed_t_ms: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))


class CaseEvidence(Base):
    """An evidence file uploaded to a case (整改照片, 文件): who uploaded it and what it is. The
    bytes are stored outside the database under their SHA-256 (``ledger.audit.evidence``).

    Not a projection: uploads happen before the response that names them is signed, so the log
    cannot remake this table; ``rebuild`` keeps it. It decides who may download a file."""

    __tablename__ = "case_evidence"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int]
    uploaded_by: Mapped[str] = mapped_column(String(18))
    uploaded_ms: Mapped[int]

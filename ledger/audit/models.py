"""Projections the audit layer keeps: cases (问题清单), plans (管理计划) and declarations
(申报登记), and the custody-interval summary the gap scan reads; derived from the log, rebuilt by
``rebuild``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
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


class Plan(Base):
    """An organisation's annual management plan (危险废物管理计划) for one year, as its latest
    ``plan.filed`` / ``plan.amended`` entry in ``plan:<uscc>:<year>`` says; docs/plans.md."""

    __tablename__ = "plans"
    __table_args__ = (Index("ix_plans_region_year", "region", "year"),)

    org: Mapped[str] = mapped_column(String(18), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    region: Mapped[str] = mapped_column(String(6))
    management_class: Mapped[str] = mapped_column(String(12))  # key | simplified | registered
    frequency: Mapped[str] = mapped_column(String(10))  # monthly | quarterly | yearly
    generation_g: Mapped[int]  # planned generation, every code
    filed_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    filed_t_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    amendments: Mapped[int] = mapped_column(Integer)


class PlanLine(Base):
    """One waste code of a plan: planned quantities and the receivers it names."""

    __tablename__ = "plan_lines"

    org: Mapped[str] = mapped_column(String(18), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    waste_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    generation_g: Mapped[int]
    storage_g: Mapped[int]
    own_utilisation_g: Mapped[int]
    own_disposal_g: Mapped[int]
    transfer_g: Mapped[int]
    receivers: Mapped[str] = mapped_column(Text)  # space-separated USCCs


class Declaration(Base):
    """An organisation's declaration (申报登记) for one period, as its latest
    ``report.declared`` / ``report.amended`` entry in ``report:<uscc>:<period>`` says."""

    __tablename__ = "declarations"
    __table_args__ = (Index("ix_declarations_region_from", "region", "period_from"),)

    org: Mapped[str] = mapped_column(String(18), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # 2026 | 2026-Q3 | 2026-07
    year: Mapped[int] = mapped_column(Integer)
    region: Mapped[str] = mapped_column(String(6))
    period_from: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, Beijing, inclusive
    period_to: Mapped[str] = mapped_column(String(10))
    due: Mapped[str] = mapped_column(String(10))  # the last day it was due
    late: Mapped[bool] = mapped_column(Boolean)  # first filed after its due day
    generated_g: Mapped[int]  # declared, every code
    transferred_g: Mapped[int]
    ledger_generated_g: Mapped[int]  # what the ledger recorded when it was signed
    ledger_transferred_g: Mapped[int]
    filed_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    filed_t_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    amendments: Mapped[int] = mapped_column(Integer)


class DeclarationLine(Base):
    """One waste code of a declaration: declared figures beside the ledger's."""

    __tablename__ = "declaration_lines"

    org: Mapped[str] = mapped_column(String(18), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    waste_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    generated_g: Mapped[int]
    transferred_g: Mapped[int]
    own_utilisation_g: Mapped[int]
    own_disposal_g: Mapped[int]
    opening_storage_g: Mapped[int]
    closing_storage_g: Mapped[int]
    ledger_generated_g: Mapped[int]
    ledger_transferred_g: Mapped[int]
    ledger_opening_storage_g: Mapped[int]
    ledger_closing_storage_g: Mapped[int]


class CustodyInterval(Base):
    """One situation a time-based gap is about (``ledger.audit.intervals``): its start, its
    end (NULL while open) and what a finding names. ``kind`` is the gap type it feeds and
    ``ref`` the rest of that finding's id."""

    __tablename__ = "custody_intervals"
    __table_args__ = (
        # the scan: a kind's open rows (span NULL) and those longer than a threshold
        Index("ix_custody_intervals_kind_span", "kind", "span"),
    )

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    ref: Mapped[str] = mapped_column(String(80), primary_key=True)
    batch: Mapped[str | None] = mapped_column(String(37), index=True)  # NULL: a manifest
    region: Mapped[str] = mapped_column(String(6))
    entry: Mapped[int | None] = mapped_column(BigInteger)  # the entry that opened it
    start_t: Mapped[int] = mapped_column(BigInteger)
    end_t: Mapped[int | None] = mapped_column(BigInteger)
    end_at: Mapped[int | None] = mapped_column(BigInteger)  # the entry that ended it
    span: Mapped[int | None] = mapped_column(BigInteger)  # end_t - start_t
    org_a: Mapped[str] = mapped_column(String(18))
    org_b: Mapped[str | None] = mapped_column(String(18))
    manifest: Mapped[str | None] = mapped_column(String(14))
    mass_g: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(String(10))  # answer|release unsigned; poured


class LineageTotal(Base):
    """What a consolidated batch's parents gave (``ledger.audit.lineage``): one row per
    consolidated batch with its lineage rows' mass summed, its declared mass and what a
    finding names, kept in the append transaction, so ``lineage_imbalance`` reads only the rows
    where the two masses differ (``ix_lineage_totals_unbalanced``) instead of summing every
    lineage row, and joins nothing."""

    __tablename__ = "lineage_totals"
    __table_args__ = (
        Index("ix_lineage_totals_unbalanced", "region",
              postgresql_where=text("given_g <> declared_g"),
              sqlite_where=text("given_g <> declared_g")),
    )

    child: Mapped[str] = mapped_column(String(37), primary_key=True)  # the batch's code
    region: Mapped[str] = mapped_column(String(6))
    generator: Mapped[str] = mapped_column(String(18))
    declared_at: Mapped[int] = mapped_column(BigInteger)
    declared_t_ms: Mapped[int] = mapped_column(BigInteger)
    declared_g: Mapped[int] = mapped_column(BigInteger)  # the batch's declared_mass_g
    given_g: Mapped[int] = mapped_column(BigInteger)  # sum(lineage.mass_g) into the batch


class BalanceMonth(Base):
    """The reconciliation summary (``batch_balances``) summed per generator, region, waste code,
    category and Beijing month of declaration, kept with it in the append transaction
    (``ledger.audit.reconcile.refresh_balances``): a report over whole months reads these rows,
    about a third as many as the originals, and only the originals of a partial first or last
    month (docs/reconciliation.md section 8)."""

    __tablename__ = "balance_months"
    __table_args__ = (Index("ix_balance_months_region_month", "region", "month"),)

    generator: Mapped[str] = mapped_column(String(18), primary_key=True)
    region: Mapped[str] = mapped_column(String(6), primary_key=True)
    waste_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    category: Mapped[str] = mapped_column(String(4), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    declared: Mapped[int] = mapped_column(BigInteger)
    collected: Mapped[int] = mapped_column(BigInteger)
    at_generator: Mapped[int] = mapped_column(BigInteger)
    returned: Mapped[int] = mapped_column(BigInteger)
    in_transit: Mapped[int] = mapped_column(BigInteger)
    in_storage: Mapped[int] = mapped_column(BigInteger)
    received_at_disposers: Mapped[int] = mapped_column(BigInteger)
    disposed_utilisation: Mapped[int] = mapped_column(BigInteger)
    disposed_disposal: Mapped[int] = mapped_column(BigInteger)
    refused: Mapped[int] = mapped_column(BigInteger)
    batches: Mapped[int] = mapped_column(BigInteger)  # originals summed in the row

"""Projections of the log for the custody domain: the tables that answer queries quickly.

Every row here is derived from log entries by the kind handlers in ``ledger.custody.kinds`` and can
be recomputed from index 0 (``rebuild``); nothing here is evidence, the log is.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.tlog.models import Base


class Organisation(Base):
    """A registered organisation (单位), from its ``org.registered`` entry."""

    __tablename__ = "organisations"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(6), index=True)
    roles: Mapped[str] = mapped_column(String(200))  # space-separated role names
    contact: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    registered_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))

    def has_role(self, role: str) -> bool:
        return role in self.roles.split()


class Permit(Base):
    """A hazardous waste business permit (危险废物经营许可证) granted to an organisation."""

    __tablename__ = "permits"
    __table_args__ = (UniqueConstraint("org", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(ForeignKey("organisations.uscc"), index=True)
    number: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, inclusive
    valid_to: Mapped[str] = mapped_column(String(10))  # inclusive
    codes: Mapped[str] = mapped_column(Text)  # space-separated waste codes and HW categories
    activities: Mapped[str] = mapped_column(String(100))  # collect store utilise dispose
    capacity_t: Mapped[int]
    granted_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))


class Batch(Base):
    """A batch of waste (one labelled container or lot) and where it is now."""

    __tablename__ = "batches"
    __table_args__ = (
        Index("ix_batches_holder_state", "holder", "state"),
        Index("ix_batches_generator_declared", "generator", "declared_t_ms"),
    )

    code: Mapped[str] = mapped_column(String(37), primary_key=True)
    generator: Mapped[str] = mapped_column(String(18))
    region: Mapped[str] = mapped_column(String(6), index=True)
    waste_code: Mapped[str] = mapped_column(String(10), index=True)
    category: Mapped[str] = mapped_column(String(4))
    hazardous: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(200))
    declared_mass_g: Mapped[int]
    mass_g: Mapped[int]  # what the holder has now
    holder: Mapped[str] = mapped_column(String(18))
    state: Mapped[str] = mapped_column(String(20), index=True)
    generated_on: Mapped[str] = mapped_column(String(10))
    declared_t_ms: Mapped[int]
    declared_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    updated_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    consolidated: Mapped[bool] = mapped_column(Boolean, default=False)  # made from parents


class Handover(Base):
    """A two-sided change of custody: the holder's release and the receiver's answer."""

    __tablename__ = "handovers"
    __table_args__ = (
        # The gap scan's rare findings, and the window over each batch's settled handovers
        # (docs/gaps.md). Partial indexes on PostgreSQL and SQLite alike.
        # (batch, answered_at) orders each batch's settled handovers; the other columns make
        # it covering, so the gap scan's passes over them never visit the table
        Index("ix_handovers_batch_confirmed", "batch", "answered_at", "from_org", "to_org",
              "released_at", "released_t_ms", "answered_t_ms",
              postgresql_where=text("status = 'confirmed'"),
              sqlite_where=text("status = 'confirmed'")),
        Index("ix_handovers_refused", "batch", postgresql_where=text("status = 'refused'"),
              sqlite_where=text("status = 'refused'")),
        Index("ix_handovers_flagged", "batch",
              postgresql_where=text("discrepancy OR permit_flagged"),
              sqlite_where=text("discrepancy OR permit_flagged")),
        # the batch a refused part became -> the handover that refused it: the summary's
        # refresh asks it of every batch it touches (ledger.audit.reconcile), which scanned
        # every handover for a drum at a station
        Index("ix_handovers_refused_part", "refused_part",
              postgresql_where=text("refused_part IS NOT NULL"),
              sqlite_where=text("refused_part IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch: Mapped[str] = mapped_column(ForeignKey("batches.code"), index=True)
    from_org: Mapped[str] = mapped_column(String(18), index=True)
    to_org: Mapped[str] = mapped_column(String(18), index=True)
    manifest: Mapped[str] = mapped_column(String(14), index=True)
    status: Mapped[str] = mapped_column(String(20))  # awaiting_answer, awaiting_release,
    #                                   confirmed, refused, superseded, withdrawn
    released_mass_g: Mapped[int | None]
    accepted_mass_g: Mapped[int | None]
    refused_mass_g: Mapped[int | None]
    refusal_reason: Mapped[str | None] = mapped_column(String(500))
    discrepancy: Mapped[bool] = mapped_column(Boolean, default=False)
    # the receiver's permit did not cover it, and the region records and flags instead
    permit_flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    released_at: Mapped[int | None] = mapped_column(ForeignKey("log_entries.idx"))
    answered_at: Mapped[int | None] = mapped_column(ForeignKey("log_entries.idx"))
    released_t_ms: Mapped[int | None]
    answered_t_ms: Mapped[int | None]
    # the batch the refused part of a partial refusal became (batch.refused_part), if any
    refused_part: Mapped[str | None] = mapped_column(String(37))


class Manifest(Base):
    """A transfer manifest (转移联单): the handovers of one trip."""

    __tablename__ = "manifests"
    __table_args__ = (
        # the gap scan (manifest_open): the open manifests (span NULL) and those closed
        # longer after their arrival than the smallest configured confirmation period
        Index("ix_manifests_span_ms", "span_ms"),
    )

    number: Mapped[str] = mapped_column(String(14), primary_key=True)
    origin: Mapped[str] = mapped_column(String(18), index=True)
    destination: Mapped[str] = mapped_column(String(18), index=True)
    vehicle: Mapped[str | None] = mapped_column(String(20))
    carrier: Mapped[str | None] = mapped_column(String(18))
    opened_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    opened_t_ms: Mapped[int]
    closed_at: Mapped[int | None] = mapped_column(ForeignKey("log_entries.idx"))
    driver: Mapped[str | None] = mapped_column(String(40))  # the carrier's, when it signed
    # the carrier's first signed arrival at the receiver (运抵): the confirmation period starts
    # (no foreign key: a column added to an existing table, which SQLite cannot constrain)
    arrived_at: Mapped[int | None]
    arrived_t_ms: Mapped[int | None]
    # kept with ``closed_at`` by the custody handlers (``manifest_span``): the time of the
    # entry that closed the manifest, and how long after its arrival (``arrived_t_ms``, else
    # ``opened_t_ms``) that was; both NULL while it is open
    closed_t_ms: Mapped[int | None]
    span_ms: Mapped[int | None]


class CarrierLeg(Base):
    """The carrier's part of a manifest for one batch (承运人): who carried it, in which
    vehicle, driven by whom; signed at departure (起运) and at arrival (运抵)."""

    __tablename__ = "carrier_legs"
    __table_args__ = (UniqueConstraint("batch", "manifest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch: Mapped[str] = mapped_column(ForeignKey("batches.code"))
    manifest: Mapped[str] = mapped_column(String(14), index=True)
    carrier: Mapped[str] = mapped_column(String(18), index=True)
    vehicle: Mapped[str] = mapped_column(String(20))
    driver: Mapped[str] = mapped_column(String(40))
    departed_at: Mapped[int | None] = mapped_column(ForeignKey("log_entries.idx"))
    departed_t_ms: Mapped[int | None]
    arrived_at: Mapped[int | None] = mapped_column(ForeignKey("log_entries.idx"))
    arrived_t_ms: Mapped[int | None]


class Lineage(Base):
    """A parent batch contributing mass to a consolidated child (合并)."""

    __tablename__ = "lineage"
    __table_args__ = (
        Index("ix_lineage_unlinked", "parent", postgresql_where=text("child_entry IS NULL"),
              sqlite_where=text("child_entry IS NULL")),
    )

    parent: Mapped[str] = mapped_column(ForeignKey("batches.code"), primary_key=True)
    # No foreign key: the parent's hand-off names the child before the child's entry exists.
    child: Mapped[str] = mapped_column(String(37), primary_key=True, index=True)
    mass_g: Mapped[int]
    parent_entry: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"), unique=True)
    child_entry: Mapped[int | None] = mapped_column(ForeignKey("log_entries.idx"))


class Disposal(Base):
    """The final utilisation or disposal (利用/处置) of a batch."""

    __tablename__ = "disposals"

    batch: Mapped[str] = mapped_column(ForeignKey("batches.code"), primary_key=True)
    disposer: Mapped[str] = mapped_column(String(18), index=True)
    method: Mapped[str] = mapped_column(String(12))  # utilisation | disposal
    method_code: Mapped[str] = mapped_column(String(8))
    permit: Mapped[str] = mapped_column(String(64))
    mass_g: Mapped[int]
    entry: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    t_ms: Mapped[int]


class Vehicle(Base):
    """A vehicle (车辆) registered to a carrier, with its road-transport permit."""

    __tablename__ = "vehicles"

    plate: Mapped[str] = mapped_column(String(20), primary_key=True)
    org: Mapped[str] = mapped_column(ForeignKey("organisations.uscc"), index=True)
    transport_permit: Mapped[str] = mapped_column(String(64))  # 道路运输经营许可证号
    registered_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))


class BatchBalance(Base):
    """The mass balance of one original batch (对账 summary), maintained in the append
    transaction: whenever an entry changes a batch, the rows of the original batches whose mass
    is in it are recomputed (``ledger.audit.reconcile.refresh_balances``). A report is then one
    GROUP BY over these rows; docs/reconciliation.md section 8."""

    __tablename__ = "batch_balances"
    __table_args__ = (
        Index("ix_batch_balances_region_declared", "region", "declared_t_ms"),
        Index("ix_batch_balances_generator_declared", "generator", "declared_t_ms"),
        Index("ix_batch_balances_waste_code_declared", "waste_code", "declared_t_ms"),
    )

    origin: Mapped[str] = mapped_column(ForeignKey("batches.code"), primary_key=True)
    generator: Mapped[str] = mapped_column(String(18))
    region: Mapped[str] = mapped_column(String(6))
    waste_code: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(4))
    declared_t_ms: Mapped[int]
    month: Mapped[str] = mapped_column(String(7))  # Beijing month of the declaration
    declared: Mapped[int]
    collected: Mapped[int]
    at_generator: Mapped[int]
    returned: Mapped[int]
    in_transit: Mapped[int]
    in_storage: Mapped[int]
    received_at_disposers: Mapped[int]
    disposed_utilisation: Mapped[int]
    disposed_disposal: Mapped[int]
    refused: Mapped[int]


class StorageFacility(Base):
    """A storage facility (贮存设施) of an organisation, from its ``facility.registered`` entry:
    the facility code of its pollutant discharge permit or its own, a name, the type of
    GB 18597-2023 and the design capacity."""

    __tablename__ = "storage_facilities"

    org: Mapped[str] = mapped_column(ForeignKey("organisations.uscc"), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(10))
    capacity_kg: Mapped[int]
    registered_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))


class StorageStay(Base):
    """A batch in a storage facility: its ``storage.in`` (入库) and, once taken out, its
    ``storage.out`` (出库) entry, with the masses weighed and the person who did each."""

    __tablename__ = "storage_stays"
    __table_args__ = (
        Index("ix_storage_stays_open", "batch", postgresql_where=text("out_at IS NULL"),
              sqlite_where=text("out_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch: Mapped[str] = mapped_column(ForeignKey("batches.code"), index=True)
    org: Mapped[str] = mapped_column(String(18), index=True)
    facility: Mapped[str] = mapped_column(String(32))
    in_mass_g: Mapped[int]
    in_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    in_t_ms: Mapped[int]
    out_mass_g: Mapped[int | None]
    out_at: Mapped[int | None] = mapped_column(ForeignKey("log_entries.idx"))
    out_t_ms: Mapped[int | None]


class Residue(Base):
    """A batch of residue (次生废物: ash, slag, sludge) produced by utilising or disposing of
    another batch, linked to the disposal entry that produced it."""

    __tablename__ = "residues"

    child: Mapped[str] = mapped_column(ForeignKey("batches.code"), primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("batches.code"), primary_key=True,
                                        index=True)
    disposal_entry: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    child_entry: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))

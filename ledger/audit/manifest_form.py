"""A transfer manifest (危险废物转移联单) as the national form lays it out, from the log.

The form of the 2021 办法 has three parts, each filled in and signed by its party: 移出人 (the
waste and the quantities handed over), 承运人 (the carrier company, vehicle, driver, departure and
arrival) and 接收人 (the receiver's quantities, refusal and its reason). Every signature on the
printed form is a log entry: the signer, its time in Beijing time and its log index, so each line
of the paper can be checked against the log (docs/ledger-format.md 3.10). The renderer is
``labels.manifest_pdf``; this module only gathers the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ledger.custody.projections import (
    Batch,
    CarrierLeg,
    Handover,
    Manifest,
    Organisation,
    Permit,
    Vehicle,
)
from ledger.tlog.entries import parse_entry, prev_field
from ledger.tlog.models import LogEntry

#: what each kind of entry signs on the form
ACTS = {"custody.released": "移出", "custody.carried": "承运", "custody.accepted": "接收",
        "custody.refused": "拒收"}


@dataclass(frozen=True)
class Party:
    """One party of the form (单位名称, 统一社会信用代码, 联系人, 电话, 许可证)."""

    uscc: str
    name: str
    contact: str
    phone: str
    permit: str  # 危险废物经营许可证 or 道路运输经营许可证 number; "" if none


@dataclass(frozen=True)
class Signature:
    """A signed part of the form: who signed, when (ms, UTC) and at which log index."""

    act: str  # 移出 / 承运 / 接收 / 拒收
    org: str
    org_name: str
    key_fp: str
    t_ms: int
    index: int
    detail: str  # e.g. 起运 / 运抵 for the carrier


@dataclass(frozen=True)
class Line:
    """One batch on the manifest (废物名称, 代码, 危险特性, 形态, 包装, 数量)."""

    batch: str
    name: str
    waste_code: str
    category: str
    hazards: str
    form: str
    container: str
    released_g: int | None
    accepted_g: int | None
    refused_g: int | None
    refusal_reason: str
    status: str
    discrepancy: bool
    refused_part: str


@dataclass(frozen=True)
class ManifestForm:
    number: str
    origin: Party
    carrier: Party | None
    destination: Party
    vehicle: str
    driver: str
    opened_ms: int
    arrived_ms: int | None
    closed: bool
    lines: tuple[Line, ...]
    signatures: tuple[Signature, ...]


FORMS = {"solid": "固态", "semi_solid": "半固态", "liquid": "液态", "gas": "气态"}


def manifest_form(session: Session, m: Manifest) -> ManifestForm:
    """The form of manifest ``m`` (visibility is the caller's business)."""
    handovers = list(session.scalars(select(Handover).where(Handover.manifest == m.number)
                                     .order_by(Handover.id)))
    legs = list(session.scalars(select(CarrierLeg).where(CarrierLeg.manifest == m.number)))
    codes = sorted({h.batch for h in handovers})
    batches = {b.code: b for b in session.scalars(select(Batch).where(Batch.code.in_(codes)))}
    described = _first_entries(session, codes)
    signed = [i for h in handovers for i in (h.released_at, h.answered_at) if i is not None]
    signed += [i for leg in legs for i in (leg.departed_at, leg.arrived_at) if i is not None]
    entries = list(session.scalars(select(LogEntry).where(LogEntry.idx.in_(signed))
                                   .order_by(LogEntry.idx))) if signed else []
    orgs = _orgs(session, {m.origin, m.destination, *(e.org for e in entries),
                           *([m.carrier] if m.carrier else [])})
    signatures = []
    for e in entries:
        detail = ""
        if e.kind == "custody.carried":
            data = parse_entry(e.note, max_size=len(e.note)).data
            detail = {"departed": "起运", "arrived": "运抵"}.get(str(data.get("event")), "")
        org = orgs.get(e.org)
        signatures.append(Signature(ACTS.get(e.kind, e.kind), e.org, org.name if org else e.org,
                                    e.key_fp, e.t_ms, e.idx, detail))
    lines = []
    for h in handovers:
        b, d = batches.get(h.batch), described.get(h.batch, {})
        container = d.get("container") if isinstance(d.get("container"), dict) else {}
        lines.append(Line(
            batch=h.batch, name=b.name if b else "", waste_code=b.waste_code if b else "",
            category=b.category if b else "", hazards=",".join(map(str, d.get("hazards", []))),
            form=FORMS.get(str(d.get("form")), ""),
            container=f"{container.get('type', '')} × {container.get('count', '')}"
            if container else "",
            released_g=h.released_mass_g, accepted_g=h.accepted_mass_g,
            refused_g=h.refused_mass_g, refusal_reason=h.refusal_reason or "",
            status=h.status, discrepancy=h.discrepancy, refused_part=h.refused_part or ""))
    carrier_permit = ""
    plate = m.vehicle or (legs[0].vehicle if legs else "")
    if plate:
        vehicle = session.get(Vehicle, plate)
        carrier_permit = vehicle.transport_permit if vehicle else ""
    return ManifestForm(
        number=m.number, origin=_party(session, orgs, m.origin),
        carrier=_party(session, orgs, m.carrier, carrier_permit) if m.carrier else None,
        destination=_party(session, orgs, m.destination), vehicle=plate or "",
        driver=m.driver or (legs[0].driver if legs else ""), opened_ms=m.opened_t_ms,
        arrived_ms=m.arrived_t_ms, closed=m.closed_at is not None, lines=tuple(lines),
        signatures=tuple(signatures))


def _first_entries(session: Session, codes: list[str]) -> dict[str, Mapping[str, Any]]:
    if not codes:
        return {}
    rows = session.scalars(select(LogEntry).where(LogEntry.stream.in_(codes), LogEntry.seq == 0))
    return {r.stream: parse_entry(r.note, max_size=len(r.note)).data for r in rows}


def _orgs(session: Session, usccs: Iterable[str]) -> dict[str, Organisation]:
    return {o.uscc: o for o in session.scalars(
        select(Organisation).where(Organisation.uscc.in_(sorted(usccs))))}


def _party(session: Session, orgs: Mapping[str, Organisation], uscc: str | None,
           permit: str | None = None) -> Party:
    assert uscc is not None
    org = orgs.get(uscc)
    if permit is None:
        permit = session.scalar(select(Permit.number).where(Permit.org == uscc)
                                .order_by(Permit.valid_to.desc()).limit(1)) or ""
    return Party(uscc, org.name if org else uscc, (org.contact or "") if org else "",
                 (org.phone or "") if org else "", permit)


@dataclass(frozen=True)
class HandoverAlert:
    """A refusal or a discrepancy the 移出人 and the batch's generator are told of."""

    batch: str
    manifest: str
    from_org: str
    to_org: str
    to_name: str
    what: str  # refused | partly_refused | discrepancy
    released_g: int | None
    accepted_g: int | None
    refused_g: int | None
    reason: str
    answered_at: int | None
    answered_t_ms: int | None
    refused_part: str


def handover_alerts(session: Session, org: str, limit: int = 50) -> list[HandoverAlert]:
    """Refusals (whole or partial) and discrepancies of the handovers ``org`` released, or of
    its own batches, newest first (转移办法: the receiver tells the 移出人 of any 差异 or 拒收)."""
    ho = Handover
    rows = session.execute(
        select(ho, Organisation.name)
        .join(Batch, Batch.code == ho.batch)
        .outerjoin(Organisation, Organisation.uscc == ho.to_org)
        .where(or_(ho.from_org == org, Batch.generator == org),
               or_(ho.status == "refused",
                   (ho.status == "confirmed") & (ho.refused_mass_g.is_not(None)
                                                 | ho.discrepancy)))
        .order_by(ho.answered_at.desc(), ho.id.desc()).limit(limit))
    out = []
    for h, name in rows:
        what = ("refused" if h.status == "refused" else
                "partly_refused" if h.refused_mass_g is not None else "discrepancy")
        out.append(HandoverAlert(h.batch, h.manifest, h.from_org, h.to_org, name or h.to_org,
                                 what, h.released_mass_g, h.accepted_mass_g, h.refused_mass_g,
                                 h.refusal_reason or "", h.answered_at, h.answered_t_ms,
                                 h.refused_part or ""))
    return out


# --- who signed which part of a trip, and refused parts still to take back ----------------------


@dataclass(frozen=True)
class TripBatch:
    """One batch on a trip with a carrier: each party's part, signed or not yet (None)."""

    code: str
    name: str
    waste_code: str
    status: str  # the handover's: awaiting_answer, awaiting_release, confirmed, refused, ...
    released_g: int | None
    released_ms: int | None
    departed_ms: int | None
    arrived_ms: int | None
    answer: str | None  # accepted | partly_refused | refused | None
    answered_ms: int | None
    accepted_g: int | None
    refused_g: int | None


@dataclass(frozen=True)
class Trip:
    """A manifest with a carrier (承运人) and how far each of its three parties has signed."""

    manifest: str
    origin: str
    origin_name: str
    destination: str
    destination_name: str
    carrier: str
    carrier_name: str
    vehicle: str
    driver: str
    opened_ms: int
    closed: bool
    batches: tuple[TripBatch, ...]


#: handovers that are no longer part of the trip (taken back or replaced)
_GONE = ("withdrawn", "superseded")


def carried_trips(session: Session, org: str, limit: int = 20) -> list[Trip]:
    """The latest manifests with a carrier that ``org`` is a party of (移出人, 承运人 or
    接收人), open ones first, with each batch's signed parts: what the carrier signs from and
    what the other two parties see of the carrier's leg."""
    m = Manifest
    rows = list(session.scalars(
        select(m).where(m.carrier.is_not(None),
                        or_(m.carrier == org, m.origin == org, m.destination == org))
        .order_by(m.closed_at.is_not(None), m.opened_at.desc()).limit(limit)))
    if not rows:
        return []
    numbers = [r.number for r in rows]
    handovers = list(session.scalars(select(Handover).where(
        Handover.manifest.in_(numbers), Handover.status.not_in(_GONE)).order_by(Handover.id)))
    legs = {(leg.manifest, leg.batch): leg for leg in session.scalars(
        select(CarrierLeg).where(CarrierLeg.manifest.in_(numbers)))}
    described = {code: (name, waste) for code, name, waste in session.execute(
        select(Batch.code, Batch.name, Batch.waste_code).where(
            Batch.code.in_({h.batch for h in handovers})))} if handovers else {}
    orgs = _orgs(session, {o for r in rows for o in (r.origin, r.destination, r.carrier) if o})
    trips = []
    for r in rows:
        lines = []
        for h in handovers:
            if h.manifest != r.number:
                continue
            leg = legs.get((r.number, h.batch))
            answer = (None if h.answered_at is None else "refused" if h.status == "refused"
                      else "partly_refused" if h.refused_mass_g is not None
                      else "accepted" if h.accepted_mass_g is not None else "refused")
            lines.append(TripBatch(
                h.batch, *described.get(h.batch, ("", "")), h.status,
                h.released_mass_g, h.released_t_ms, leg.departed_t_ms if leg else None,
                leg.arrived_t_ms if leg else None, answer, h.answered_t_ms, h.accepted_mass_g,
                h.refused_mass_g))
        carrier = r.carrier or ""
        legs_of = [legs[(r.number, x.code)] for x in lines if (r.number, x.code) in legs]
        trips.append(Trip(
            r.number, r.origin, _name(orgs, r.origin), r.destination,
            _name(orgs, r.destination), carrier, _name(orgs, carrier),
            r.vehicle or (legs_of[0].vehicle if legs_of else ""),
            r.driver or (legs_of[0].driver if legs_of else ""), r.opened_t_ms,
            r.closed_at is not None, tuple(lines)))
    return trips


def _name(orgs: Mapping[str, Organisation], uscc: str) -> str:
    org = orgs.get(uscc)
    return org.name if org else uscc


@dataclass(frozen=True)
class RefusedPart:
    """The refused part of a partial refusal not yet taken back (batch.refused_part): what
    the 移出人 signs to have it back as a batch of its own (docs/custody.md 3.17)."""

    batch: str  # the partly refused batch (the part's parent)
    name: str
    waste_code: str
    hazardous: bool
    generator: str
    manifest: str
    to_org: str
    to_name: str
    refused_g: int
    reason: str
    answered_ms: int
    refusal: str  # the leaf hash (base64) of the custody.refused entry


def refused_parts_to_take_back(session: Session, org: str,
                               limit: int = 50) -> list[RefusedPart]:
    """Partial refusals of handovers ``org`` released whose refused part nobody has taken
    back yet, oldest first: only the releaser (移出人) may sign it back."""
    ho = Handover
    rows = session.execute(
        select(ho, Batch, Organisation.name, LogEntry.leaf_hash)
        .join(Batch, Batch.code == ho.batch)
        .join(LogEntry, LogEntry.idx == ho.answered_at)
        .outerjoin(Organisation, Organisation.uscc == ho.to_org)
        .where(ho.from_org == org, ho.status == "confirmed", ho.refused_mass_g.is_not(None),
               ho.refused_part.is_(None))
        .order_by(ho.answered_at).limit(limit))
    return [RefusedPart(h.batch, b.name, b.waste_code, b.hazardous, b.generator, h.manifest,
                        h.to_org, name or h.to_org, h.refused_mass_g or 0, h.refusal_reason or "",
                        h.answered_t_ms or 0, prev_field(leaf))
            for h, b, name, leaf in rows]


@dataclass(frozen=True)
class Incoming:
    """A batch released to ``org`` and not yet answered (for an enterprise: a return, 退回)."""

    batch: str
    name: str
    waste_code: str
    from_org: str
    from_name: str
    manifest: str
    released_g: int
    released_ms: int


def released_to(session: Session, org: str, limit: int = 50) -> list[Incoming]:
    """Handovers released to ``org`` awaiting its answer, oldest first."""
    ho = Handover
    rows = session.execute(
        select(ho, Batch.name, Batch.waste_code, Organisation.name)
        .join(Batch, Batch.code == ho.batch)
        .outerjoin(Organisation, Organisation.uscc == ho.from_org)
        .where(ho.to_org == org, ho.status == "awaiting_answer")
        .order_by(ho.released_at).limit(limit))
    return [Incoming(h.batch, name, waste, h.from_org, giver or h.from_org, h.manifest,
                     h.released_mass_g or 0, h.released_t_ms or 0)
            for h, name, waste, giver in rows]

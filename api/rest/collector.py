"""What a receiving party's phone downloads to work a round offline (收运任务): the open pickup
requests addressed to its organisation and the batches it holds, each with its stream head and
what the driver needs to see (name, waste code, hazards, who holds it, declared mass), and a
free code for a consolidated drum. Read-only; every change is a signed entry posted to
/api/v1/entries from the browser."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from api.auth import require_principal
from api.extensions import db
from api.rest import schemas as s
from ledger.audit.manifest_form import carried_trips, refused_parts_to_take_back
from ledger.clock import beijing_today
from ledger.custody.codes import parse_batch_code
from ledger.custody.exemptions import applicable_exemptions
from ledger.custody.permits import covering_permit, receivers_for
from ledger.custody.pickups import RECEIVING_ROLES, PickupItem, PickupRequest, outstanding
from ledger.custody.principals import Principal
from ledger.custody.projections import (
    Batch,
    Disposal,
    Handover,
    Organisation,
    Permit,
    StorageFacility,
    StorageStay,
    Vehicle,
)
from ledger.custody.reference import method_codes
from ledger.custody.serials import reserve_code
from ledger.errors import InvalidInput
from ledger.tlog.entries import format_time, parse_entry, prev_field
from ledger.tlog.log import stream_head_json, stream_heads
from ledger.tlog.models import LogEntry

blp = Blueprint("collector_api", __name__, url_prefix="/api/v1/collector",
                description="The receiving party's round, for working offline")

#: Batches in these states can no longer be acted on by anyone.
CLOSED = ("consolidated", "disposed", "withdrawn")
#: Open requests on a round at most (the newest).
MAX_REQUESTS = 200
#: Held batches listed at most (a transfer station's yard, not its archive).
MAX_HELD = 500
#: Description fields copied from a batch's first entry (what a driver checks on the drum).
#: Latest disposals listed on the yard (to record residues of).
MAX_DISPOSALS = 50
DESCRIPTION = ("name", "form", "hazards", "container", "location", "hazardous")


def _description(code: str) -> dict[str, Any]:
    first = db.session.scalars(select(LogEntry).where(LogEntry.stream == code,
                                                      LogEntry.seq == 0)).first()
    if first is None:
        return {}
    data = parse_entry(first.note, max_size=len(first.note)).data
    return {k: data[k] for k in DESCRIPTION if k in data}


def _cards(batches: Iterable[Batch], me: str) -> list[dict[str, Any]]:
    """Each batch as the phone keeps it: summary, description, head and open handover."""
    batches = list(batches)
    codes = [b.code for b in batches]
    heads = stream_heads(db.session, codes)
    open_handovers = {h.batch: h for h in db.session.scalars(select(Handover).where(
        Handover.batch.in_(codes),
        Handover.status.in_(("awaiting_answer", "awaiting_release"))))} if codes else {}
    orgs = {b.holder for b in batches} | {b.generator for b in batches} | {
        o for h in open_handovers.values() for o in (h.from_org, h.to_org)}
    names = dict(db.session.execute(select(Organisation.uscc, Organisation.name)
                                    .where(Organisation.uscc.in_(orgs))).all())
    today = beijing_today().isoformat()
    cards = []
    for b in batches:
        head = heads[b.code]
        h = open_handovers.get(b.code)
        card: dict[str, Any] = {
            "code": b.code, "name": b.name, "waste_code": b.waste_code, "category": b.category,
            "hazardous": b.hazardous, "state": b.state, "holder": b.holder,
            "holder_name": names.get(b.holder, ""), "generator": b.generator,
            "generator_name": names.get(b.generator, ""), "mass_g": b.mass_g,
            "declared_mass_g": b.declared_mass_g, "consolidated": b.consolidated,
            "head": stream_head_json(head),
            "handover": None if h is None else _handover(h, me, names),
            **_description(b.code),
        }
        if b.holder == me and b.state == "received":
            card["permits"] = {activity: getattr(covering_permit(
                db.session, me, b.waste_code, activity, today), "number", None)
                for activity in ("utilise", "dispose")}
        cards.append(card)
    return cards


def _handover(h: Handover, me: str, names: dict[str, str]) -> dict[str, Any]:
    """A half-signed handover: who signed, and who must sign next (``next``: the USCC)."""
    answer = None if h.answered_at is None else (
        "accepted" if h.accepted_mass_g is not None else "refused")
    return {"from": h.from_org, "from_name": names.get(h.from_org, ""), "to": h.to_org,
            "to_name": names.get(h.to_org, ""), "manifest": h.manifest, "status": h.status,
            "released_mass_g": h.released_mass_g, "accepted_mass_g": h.accepted_mass_g,
            "refused_mass_g": h.refused_mass_g, "answer": answer,
            "next": h.to_org if h.status == "awaiting_answer" else h.from_org,
            "mine": h.to_org == me}


def _still_to_fetch(request: PickupRequest) -> list[Batch]:
    """The batches on ``request`` that have not left the requester, in code order."""
    codes = select(PickupItem.batch).where(PickupItem.request_id == request.id)
    return [b for b in db.session.scalars(select(Batch).where(Batch.code.in_(codes))
                                          .order_by(Batch.code))
            if outstanding(request, b)]


def _outgoing(principal: Principal) -> list[dict[str, Any]]:
    """Open requests this organisation made (the manifests it reserved to hand waste on),
    with what is still on each: so the person who reserved one can see it and cancel it."""
    rows = db.session.scalars(select(PickupRequest).where(
        PickupRequest.generator == principal.org, PickupRequest.status == "open")
        .order_by(PickupRequest.id.desc()).limit(MAX_REQUESTS))
    out = []
    for row in rows:
        batches = _still_to_fetch(row)
        if not batches:
            continue  # everything on it has left: nothing to cancel
        to = db.session.get(Organisation, row.collector)
        out.append({"id": row.id, "manifest": row.manifest, "to": row.collector,
                    "to_name": to.name if to else "", "wanted_on": row.wanted_on,
                    "batches": _cards(batches, principal.org)})
    return out


def _incoming(principal: Principal, listed: set[str]) -> list[dict[str, Any]]:
    """Batches released to this organisation and not on any request it can see (the giver
    cancelled the request, or released without one): still to be answered."""
    codes = [c for c in db.session.scalars(select(Handover.batch).where(
        Handover.to_org == principal.org, Handover.status == "awaiting_answer")
        .order_by(Handover.batch).limit(MAX_HELD)) if c not in listed]
    if not codes:
        return []
    return _cards(db.session.scalars(select(Batch).where(Batch.code.in_(codes))
                                     .order_by(Batch.code)), principal.org)


def _vehicles(me: str, receivers: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Plates a release may name without a carrier: this organisation's and each possible
    receiver's (``custody.released`` accepts a vehicle of either)."""
    orgs = {me} | {r["uscc"] for r in receivers}
    return [{"plate": v.plate, "org": v.org} for v in db.session.scalars(
        select(Vehicle).where(Vehicle.org.in_(orgs)).order_by(Vehicle.plate))]


def _pickups(principal: Principal) -> list[dict[str, Any]]:
    rows = list(db.session.scalars(select(PickupRequest).where(
        PickupRequest.collector == principal.org, PickupRequest.status == "open")
        .order_by(PickupRequest.id.desc()).limit(MAX_REQUESTS)))
    rows.reverse()  # the oldest first, as a round is worked
    out = []
    for row in rows:
        batches = _still_to_fetch(row)
        if not batches:
            continue  # everything on it has been fetched (by us or anyone)
        giver = db.session.get(Organisation, row.generator)
        out.append({
            "id": row.id, "manifest": row.manifest, "wanted_on": row.wanted_on,
            "note": row.note, "address": row.address, "from": row.generator,
            "from_name": giver.name if giver else "",
            "contact": giver.contact if giver else None, "phone": giver.phone if giver else None,
            "batches": _cards(batches, principal.org),
        })
    return out


class HandoverOpenSchema(Schema):
    """A half-signed handover: who signed, and who must sign next."""

    from_ = fields.String(required=True, data_key="from", attribute="from")
    from_name = fields.String(required=True)
    to = fields.String(required=True)
    to_name = fields.String(required=True)
    manifest = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "awaiting_answer or "
                                                                   "awaiting_release"})
    released_mass_g = fields.Integer(required=True, allow_none=True)
    accepted_mass_g = fields.Integer(required=True, allow_none=True)
    refused_mass_g = fields.Integer(required=True, allow_none=True)
    answer = fields.String(required=True, allow_none=True,
                           metadata={"description": "accepted, refused, or null"})
    next = fields.String(required=True, metadata={"description": "USCC of who signs next"})
    mine = fields.Boolean(required=True, metadata={"description": "it was handed to you"})


class RoundBatchSchema(Schema):
    """A batch as the phone keeps it; the description fields are those its declaration had."""

    code = fields.String(required=True)
    name = fields.String(required=True)
    waste_code = fields.String(required=True)
    category = fields.String(required=True)
    hazardous = fields.Boolean(required=True)
    state = fields.String(required=True)
    holder = fields.String(required=True)
    holder_name = fields.String(required=True)
    generator = fields.String(required=True)
    generator_name = fields.String(required=True)
    mass_g = fields.Integer(required=True)
    declared_mass_g = fields.Integer(required=True)
    consolidated = fields.Boolean(required=True)
    head = fields.Nested(s.StreamHeadSchema, required=True)
    handover = fields.Nested(HandoverOpenSchema, required=True, allow_none=True)
    form = fields.String()
    hazards = fields.List(fields.String())
    container = fields.Raw(metadata={"description": "as declared, e.g. {type, count}"})
    location = fields.String()
    permits = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True),
                          metadata={"description": "received batches you hold: the permit "
                                                   "number covering utilise / dispose, or "
                                                   "null"})


class RoundPickupSchema(Schema):
    id = fields.Integer(required=True)
    manifest = fields.String(required=True)
    wanted_on = fields.String(required=True, allow_none=True)
    note = fields.String(required=True, allow_none=True)
    address = fields.String(required=True, allow_none=True,
                            metadata={"description": "where to fetch the waste (取货地址)"})
    from_ = fields.String(required=True, data_key="from", attribute="from")
    from_name = fields.String(required=True)
    contact = fields.String(required=True, allow_none=True)
    phone = fields.String(required=True, allow_none=True)
    batches = fields.List(fields.Nested(RoundBatchSchema), required=True)


class OutgoingSchema(Schema):
    """A request you made that still has something on it (you may cancel it)."""

    id = fields.Integer(required=True)
    manifest = fields.String(required=True)
    to = fields.String(required=True)
    to_name = fields.String(required=True)
    wanted_on = fields.String(required=True, allow_none=True)
    batches = fields.List(fields.Nested(RoundBatchSchema), required=True)


class RoundPermitSchema(Schema):
    number = fields.String(required=True)
    activities = fields.List(fields.String(), required=True)
    codes = fields.List(fields.String(), required=True)
    valid_from = fields.String(required=True)
    valid_to = fields.String(required=True)


class RoundOrgSchema(Schema):
    uscc = fields.String(required=True)
    name = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    permits = fields.List(fields.Nested(RoundPermitSchema))
    takes = fields.List(fields.String(), metadata={
        "description": "a receiver: which of your held batches it may take (a permit valid "
                       "today covers the waste code, or an exemption row fits it), as on the "
                       "enterprise's pickup form"})


class RoundVehicleSchema(Schema):
    plate = fields.String(required=True)
    org = fields.String(required=True)


class TripBatchSchema(Schema):
    """One batch on a trip: each party's part, with the times it was signed (or null)."""

    code = fields.String(required=True)
    name = fields.String(required=True)
    waste_code = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "the handover's status"})
    released_mass_g = fields.Integer(required=True, allow_none=True)
    released_t = fields.String(required=True, allow_none=True)
    departed_t = fields.String(required=True, allow_none=True, metadata={
        "description": "the carrier's signed departure (起运)"})
    arrived_t = fields.String(required=True, allow_none=True, metadata={
        "description": "the carrier's signed arrival (运抵)"})
    answer = fields.String(required=True, allow_none=True, metadata={
        "description": "accepted, partly_refused, refused, or null"})
    answered_t = fields.String(required=True, allow_none=True)
    accepted_mass_g = fields.Integer(required=True, allow_none=True)
    refused_mass_g = fields.Integer(required=True, allow_none=True)
    head = fields.Nested(s.StreamHeadSchema, required=True, allow_none=True, metadata={
        "description": "the batch's stream head, for the carrier to sign its leg"})


class TripSchema(Schema):
    """A manifest with a carrier (承运人) you are a party of, and who has signed which part."""

    manifest = fields.String(required=True)
    role = fields.String(required=True, metadata={
        "description": "yours on it: origin (移出人), carrier (承运人) or destination (接收人)"})
    origin = fields.String(required=True)
    origin_name = fields.String(required=True)
    destination = fields.String(required=True)
    destination_name = fields.String(required=True)
    carrier = fields.String(required=True)
    carrier_name = fields.String(required=True)
    vehicle = fields.String(required=True)
    driver = fields.String(required=True)
    closed = fields.Boolean(required=True)
    batches = fields.List(fields.Nested(TripBatchSchema), required=True)


class RefusedPartSchema(Schema):
    """The refused part of a partial refusal you released, not yet taken back."""

    batch = fields.String(required=True, metadata={"description": "the partly refused batch"})
    name = fields.String(required=True)
    waste_code = fields.String(required=True)
    hazardous = fields.Boolean(required=True)
    generator = fields.String(required=True)
    manifest = fields.String(required=True)
    to = fields.String(required=True)
    to_name = fields.String(required=True)
    refused_mass_g = fields.Integer(required=True)
    reason = fields.String(required=True)
    answered_t = fields.String(required=True)
    refusal = fields.String(required=True, metadata={
        "description": "leaf hash (base64) of the custody.refused entry: what "
                       "batch.refused_part names"})


class RoundSchema(Schema):
    org = fields.Nested(RoundOrgSchema, required=True)
    pickups = fields.List(fields.Nested(RoundPickupSchema), required=True)
    incoming = fields.List(fields.Nested(RoundBatchSchema), required=True, metadata={
        "description": "released to you, not on any request you can see, to be answered"})
    held = fields.List(fields.Nested(RoundBatchSchema), required=True)
    outgoing = fields.List(fields.Nested(OutgoingSchema), required=True)
    receivers = fields.List(fields.Nested(RoundOrgSchema), required=True,
                            metadata={"description": "where you may hand batches on"})
    vehicles = fields.List(fields.Nested(RoundVehicleSchema), required=True,
                           metadata={"description": "plates a release may name"})
    trips = fields.List(fields.Nested(TripSchema), required=True, metadata={
        "description": "manifests with a carrier you are a party of (the carrier signs its "
                       "leg from here)"})
    refused_parts = fields.List(fields.Nested(RefusedPartSchema), required=True, metadata={
        "description": "refused parts of your releases, to take back (batch.refused_part)"})
    downloaded_at = fields.String(required=True)


class ChildCodeQuerySchema(Schema):
    # The pattern is documented and checked by the view (waste_code_malformed names it).
    waste_code = fields.String(required=True, metadata={
        "pattern": s.WASTE_CODE_PATTERN,
        "description": "the consolidated batch's waste code, 900-039-49 or 90003949"})


class ChildCodeSchema(Schema):
    code = fields.String(required=True, metadata={"description": "a free 37-character batch "
                                                                 "code, reserved for you"})


def _time(t_ms: int | None) -> str | None:
    return None if t_ms is None else format_time(t_ms)


def trips_of(org: str) -> list[dict[str, Any]]:
    """The manifests with a carrier that ``org`` is a party of, as the phone keeps them."""
    trips = carried_trips(db.session, org)
    heads = stream_heads(db.session, sorted({b.code for t in trips if t.carrier == org
                                            for b in t.batches}))
    return [{
        "manifest": t.manifest,
        "role": "carrier" if t.carrier == org else "origin" if t.origin == org
        else "destination",
        "origin": t.origin, "origin_name": t.origin_name, "destination": t.destination,
        "destination_name": t.destination_name, "carrier": t.carrier,
        "carrier_name": t.carrier_name, "vehicle": t.vehicle, "driver": t.driver,
        "closed": t.closed,
        "batches": [{
            "code": b.code, "name": b.name, "waste_code": b.waste_code, "status": b.status,
            "released_mass_g": b.released_g, "released_t": _time(b.released_ms),
            "departed_t": _time(b.departed_ms), "arrived_t": _time(b.arrived_ms),
            "answer": b.answer, "answered_t": _time(b.answered_ms),
            "accepted_mass_g": b.accepted_g, "refused_mass_g": b.refused_g,
            "head": stream_head_json(heads[b.code]) if b.code in heads else None,
        } for b in t.batches],
    } for t in trips]


def refused_parts_of(org: str) -> list[dict[str, Any]]:
    return [{"batch": r.batch, "name": r.name, "waste_code": r.waste_code,
             "hazardous": r.hazardous, "generator": r.generator, "manifest": r.manifest,
             "to": r.to_org, "to_name": r.to_name, "refused_mass_g": r.refused_g,
             "reason": r.reason, "answered_t": format_time(r.answered_ms),
             "refusal": r.refusal}
            for r in refused_parts_to_take_back(db.session, org)]


def _mark_takes(org: str, receivers: list[dict[str, Any]], held: list[Batch]) -> None:
    """Each receiver's ``takes``: the held batches its permit valid today (Beijing) covers, or
    an exemption row fits it (the rule of the enterprise's pickup form, api/pages/generator
    ``offers``), so the driver is offered only receivers that can sign for the batches."""
    covered = {r.uscc: r.covered for r in receivers_for(
        db.session, org, {b.waste_code for b in held}, beijing_today().isoformat())}
    exempt: dict[tuple[str, frozenset[str]], bool] = {}
    for r in receivers:
        roles = frozenset(r["roles"])
        takes = []
        for b in held:
            if b.waste_code not in covered.get(r["uscc"], frozenset()):
                if (b.code, roles) not in exempt:
                    exempt[b.code, roles] = bool(applicable_exemptions(db.session, b, set(roles)))
                if not exempt[b.code, roles]:
                    continue
            takes.append(b.code)
        r["takes"] = takes


@blp.route("/round", methods=["GET"])
@s.authenticated(blp, *RECEIVING_ROLES)
@s.documented_ok(blp, RoundSchema)
@blp.doc(summary="Your round: open pickup requests addressed to you and the batches you hold, "
                 "each with its stream head, to sign entries offline",
         description="For collectors, transporters, stations, receivers and disposers.")
def get_round() -> Any:  # serialised by the response schema
    principal = require_principal()  # with the role: see @authenticated
    me = db.session.get(Organisation, principal.org)
    assert me is not None
    held = list(db.session.scalars(select(Batch).where(
        Batch.holder == principal.org, Batch.state.not_in(CLOSED))
        .order_by(Batch.code).limit(MAX_HELD)))
    receivers = [
        {"uscc": o.uscc, "name": o.name, "roles": o.roles.split()}
        for o in db.session.scalars(select(Organisation).order_by(Organisation.name))
        if o.uscc != principal.org and set(o.roles.split()) & (RECEIVING_ROLES - {"transporter"})
    ]
    _mark_takes(principal.org, receivers, held)
    permits = [{"number": p.number, "activities": p.activities.split(),
                "codes": p.codes.split(), "valid_from": p.valid_from, "valid_to": p.valid_to}
               for p in db.session.scalars(select(Permit).where(Permit.org == principal.org))]
    pickups = _pickups(principal)
    listed = {b["code"] for p in pickups for b in p["batches"]}
    return {
        "org": {"uscc": me.uscc, "name": me.name, "roles": me.roles.split(),
                "permits": permits},
        "pickups": pickups,
        "incoming": _incoming(principal, listed),
        "held": _cards(held, principal.org),
        "outgoing": _outgoing(principal),
        "receivers": receivers,
        "vehicles": _vehicles(principal.org, receivers),
        "trips": trips_of(principal.org),
        "refused_parts": refused_parts_of(principal.org),
        "downloaded_at": format_time(int(dt.datetime.now(dt.UTC).timestamp() * 1000)),
    }


class YardFacilitySchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    type = fields.String(required=True)
    capacity_kg = fields.Integer(required=True)
    stored_g = fields.Integer(required=True, metadata={"description": "in it now (入库, not 出库)"})


class YardStaySchema(Schema):
    batch = fields.String(required=True)
    facility = fields.String(required=True)
    in_mass_g = fields.Integer(required=True)
    in_t = fields.String(required=True)


class YardMethodSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    method = fields.String(required=True, metadata={"description": "utilisation or disposal"})


class YardDisposalSchema(Schema):
    batch = fields.String(required=True)
    name = fields.String(required=True)
    waste_code = fields.String(required=True)
    mass_g = fields.Integer(required=True)
    method_code = fields.String(required=True)
    entry = fields.String(required=True, metadata={
        "description": "leaf hash (base64) of the custody.disposed entry: what a residue's "
                       "sources name"})
    t = fields.String(required=True)


class YardSchema(Schema):
    disposals = fields.List(fields.Nested(YardDisposalSchema), required=True, metadata={
        "description": "your latest utilisations/disposals (for recording their residues)"})
    facilities = fields.List(fields.Nested(YardFacilitySchema), required=True)
    stays = fields.List(fields.Nested(YardStaySchema), required=True,
                        metadata={"description": "your batches in storage now"})
    methods = fields.List(fields.Nested(YardMethodSchema), required=True, allow_none=True,
                          metadata={"description": "the loaded 利用/处置方式 list; null when the "
                                                   "official list is not loaded"})


@blp.route("/yard", methods=["GET"])
@s.authenticated(blp, *RECEIVING_ROLES, "generator")
@s.documented_ok(blp, YardSchema)
@blp.doc(summary="Your storage facilities, what is in them, and the 利用/处置方式 list",
         description="For generators, transfer stations and disposers: the storage "
                     "(入库/出库) and disposal pages.")
def get_yard() -> Any:  # serialised by the response schema
    principal = require_principal()  # with the role: see @authenticated
    stays = list(db.session.scalars(select(StorageStay).where(
        StorageStay.org == principal.org, StorageStay.out_at.is_(None))
        .order_by(StorageStay.in_at)))
    held: dict[str, int] = {}
    for stay in stays:
        held[stay.facility] = held.get(stay.facility, 0) + stay.in_mass_g
    facilities = [{"code": f.code, "name": f.name, "type": f.type, "capacity_kg": f.capacity_kg,
                   "stored_g": held.get(f.code, 0)}
                  for f in db.session.scalars(select(StorageFacility).where(
                      StorageFacility.org == principal.org).order_by(StorageFacility.code))]
    listed = method_codes(db.session)
    done = db.session.execute(select(Disposal, Batch.name, Batch.waste_code, LogEntry.leaf_hash)
                              .join(Batch, Batch.code == Disposal.batch)
                              .join(LogEntry, LogEntry.idx == Disposal.entry)
                              .where(Disposal.disposer == principal.org)
                              .order_by(Disposal.entry.desc()).limit(MAX_DISPOSALS)).all()
    return {
        "disposals": [{"batch": d.batch, "name": name, "waste_code": waste,
                       "mass_g": d.mass_g, "method_code": d.method_code,
                       "entry": prev_field(leaf), "t": format_time(d.t_ms)}
                      for d, name, waste, leaf in done],
        "facilities": facilities,
        "stays": [{"batch": x.batch, "facility": x.facility, "in_mass_g": x.in_mass_g,
                   "in_t": format_time(x.in_t_ms)} for x in stays],
        "methods": None if listed is None else [
            {"code": m.code, "name": m.name, "method": m.method} for m in listed.values()],
    }


@blp.route("/child-code", methods=["GET"])
@s.authenticated(blp, "collector", "receiver", "disposer", "generator", "transporter")
@blp.arguments(ChildCodeQuerySchema, location="query")
@s.documented_ok(blp, ChildCodeSchema)
@blp.doc(summary="A free code for a batch you make by consolidating (合并), or for the refused "
                 "part of a partial refusal you take back (batch.refused_part), for a waste "
                 "code and today's date",
         description="For collectors, receivers and disposers (合并), and for any 移出人 — "
                     "generators and transporters too — taking a refused part back.")
@s.documented_errors(blp, 422)
def get_child_code(args: dict[str, Any]) -> Any:  # serialised by the response schema
    principal = require_principal()  # with the role: see @authenticated
    waste = args["waste_code"].replace("-", "").strip()
    if not re.fullmatch(r"[0-9]{8}", waste):
        raise InvalidInput("waste_code is 8 digits, e.g. 900-039-49", code="waste_code_malformed",
                           field="waste_code")
    day = beijing_today().strftime("%Y%m%d")  # the local day
    prefix = f"{principal.org}{waste}{day}"
    parse_batch_code(f"{prefix}001", hazardous_only=False)  # a well-formed code, or a clear error
    return {"code": reserve_code(db.session, prefix, principal.org)}


def register(api: Api) -> None:
    api.register_blueprint(blp)

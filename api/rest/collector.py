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

from flask import request
from flask_smorest import Api, Blueprint
from sqlalchemy import select

from api.auth import require_role
from api.extensions import db
from api.rest import schemas as s
from ledger.clock import beijing_today
from ledger.custody.codes import parse_batch_code
from ledger.custody.permits import covering_permit
from ledger.custody.pickups import RECEIVING_ROLES, PickupItem, PickupRequest, outstanding
from ledger.custody.principals import Principal
from ledger.custody.projections import Batch, Handover, Organisation, Permit
from ledger.custody.serials import reserve_code
from ledger.errors import InvalidInput
from ledger.tlog.entries import format_time, parse_entry
from ledger.tlog.log import stream_heads
from ledger.tlog.models import LogEntry
from ledger.tlog.notes import b64

blp = Blueprint("collector_api", __name__, url_prefix="/api/v1/collector",
                description="The receiving party's round, for working offline")

#: Batches in these states can no longer be acted on by anyone.
CLOSED = ("consolidated", "disposed")
#: Open requests on a round at most (the newest).
MAX_REQUESTS = 200
#: Held batches listed at most (a transfer station's yard, not its archive).
MAX_HELD = 500
#: Description fields copied from a batch's first entry (what a driver checks on the drum).
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
    orgs = {b.holder for b in batches} | {b.generator for b in batches}
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
            "head": {"seq": head.seq, "leaf": b64(head.leaf_hash), "t": format_time(head.t_ms)},
            "handover": None if h is None else {
                "from": h.from_org, "to": h.to_org, "manifest": h.manifest, "status": h.status,
                "released_mass_g": h.released_mass_g, "mine": h.to_org == me},
            **_description(b.code),
        }
        if b.holder == me and b.state == "received":
            card["permits"] = {activity: getattr(covering_permit(
                db.session, me, b.waste_code, activity, today), "number", None)
                for activity in ("utilise", "dispose")}
        cards.append(card)
    return cards


def _pickups(principal: Principal) -> list[dict[str, Any]]:
    rows = list(db.session.scalars(select(PickupRequest).where(
        PickupRequest.collector == principal.org, PickupRequest.status == "open")
        .order_by(PickupRequest.id.desc()).limit(MAX_REQUESTS)))
    rows.reverse()  # the oldest first, as a round is worked
    out = []
    for row in rows:
        codes = list(db.session.scalars(select(PickupItem.batch)
                                        .where(PickupItem.request_id == row.id)))
        batches = [b for b in db.session.scalars(select(Batch).where(Batch.code.in_(codes))
                                                 .order_by(Batch.code))
                   if outstanding(row, b)]
        if not batches:
            continue  # everything on it has been fetched (by us or anyone)
        giver = db.session.get(Organisation, row.generator)
        out.append({
            "id": row.id, "manifest": row.manifest, "wanted_on": row.wanted_on,
            "note": row.note, "from": row.generator,
            "from_name": giver.name if giver else "",
            "contact": giver.contact if giver else None, "phone": giver.phone if giver else None,
            "batches": _cards(batches, principal.org),
        })
    return out


@blp.route("/round", methods=["GET"])
@blp.doc(summary="Your round: open pickup requests addressed to you and the batches you hold, "
                 "each with its stream head, to sign entries offline")
def get_round():  # type: ignore[no-untyped-def]
    principal = require_role(*RECEIVING_ROLES)
    me = db.session.get(Organisation, principal.org)
    assert me is not None
    held = db.session.scalars(select(Batch).where(
        Batch.holder == principal.org, Batch.state.not_in(CLOSED))
        .order_by(Batch.code).limit(MAX_HELD))
    receivers = [
        {"uscc": o.uscc, "name": o.name, "roles": o.roles.split()}
        for o in db.session.scalars(select(Organisation).order_by(Organisation.name))
        if o.uscc != principal.org and set(o.roles.split()) & (RECEIVING_ROLES - {"transporter"})
    ]
    permits = [{"number": p.number, "activities": p.activities.split(),
                "codes": p.codes.split(), "valid_from": p.valid_from, "valid_to": p.valid_to}
               for p in db.session.scalars(select(Permit).where(Permit.org == principal.org))]
    return {
        "org": {"uscc": me.uscc, "name": me.name, "roles": me.roles.split(),
                "permits": permits},
        "pickups": _pickups(principal),
        "held": _cards(held, principal.org),
        "receivers": receivers,
        "downloaded_at": format_time(int(dt.datetime.now(dt.UTC).timestamp() * 1000)),
    }


@blp.route("/child-code", methods=["GET"])
@blp.doc(summary="A free code for a batch you make by consolidating (合并), for a waste code "
                 "and today's date")
@blp.alt_response(422, schema=s.ApiErrorSchema, description="error")
def get_child_code():  # type: ignore[no-untyped-def]
    principal = require_role("collector", "receiver", "disposer")
    waste = request.args.get("waste_code", "").replace("-", "").strip()
    if not re.fullmatch(r"[0-9]{8}", waste):
        raise InvalidInput("waste_code is 8 digits, e.g. 900-039-49", code="waste_code_malformed",
                           field="waste_code")
    day = beijing_today().strftime("%Y%m%d")  # the local day
    prefix = f"{principal.org}{waste}{day}"
    parse_batch_code(f"{prefix}001", hazardous_only=False)  # a well-formed code, or a clear error
    return {"code": reserve_code(db.session, prefix, principal.org)}


def register(api: Api) -> None:
    api.register_blueprint(blp)

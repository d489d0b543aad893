"""Read-side use cases: batches with their history and lineage, lists with filters and cursors.

Each entry shown is checked again as it is read (its signature against the key that signed it,
and its inclusion proof against the current tree), so a page never shows a stale "verified".
The inclusion proofs of a history (the regulator's timeline, the public trace page) are
computed from the log's tiles (``ledger.tlog.tiles.TileHashReader``), the same bytes /log/tile
serves and a static mirror holds, so what the page checks is what any outside client checks;
the tiles of one history are read once each, however many of its entries share them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from ledger.audit.cases import case_entry_visibility
from ledger.audit.plans import PLAN_STREAM_PREFIX, REPORT_STREAM_PREFIX
from ledger.custody.access import (
    batch_visibility,
    can_see_batch,
    entry_visibility,
    manifest_visibility,
    region_clause,
    region_prefix,
)
from ledger.custody.editions import batch_edition
from ledger.custody.exemptions import ExemptionClaim, handover_entry
from ledger.custody.principals import Principal
from ledger.custody.projections import (
    Batch,
    CarrierLeg,
    Disposal,
    Handover,
    Lineage,
    Manifest,
    Organisation,
    StorageStay,
)
from ledger.errors import LedgerError, NotFound
from ledger.tlog.entries import format_time, parse_entry
from ledger.tlog.log import log_head
from ledger.tlog.merkle import verify_inclusion
from ledger.tlog.models import LogEntry, SigningKey
from ledger.tlog.notes import VerifierKey, b64
from ledger.tlog.tiles import StoredTiles, TileHashReader


def get_visible_batch(session: Session, principal: Principal, code: str) -> Batch:
    """The batch if it exists and ``principal`` may see it; NotFound either way otherwise,
    so outsiders cannot probe which codes exist."""
    batch = session.get(Batch, code)
    if batch is None or not can_see_batch(session, principal, code):
        raise NotFound(f"no batch {code} visible to you", code="batch_not_found", field="code")
    return batch


def batch_summary(b: Batch) -> dict[str, Any]:
    return {
        "code": b.code, "generator": b.generator, "holder": b.holder, "state": b.state,
        "waste_code": b.waste_code, "category": b.category, "name": b.name,
        "declared_mass_g": b.declared_mass_g, "mass_g": b.mass_g, "region": b.region,
        "generated_on": b.generated_on,
    }


def batch_detail(session: Session, principal: Principal, code: str,
                 operator: VerifierKey) -> dict[str, Any]:
    """Everything about one batch: state, holder, masses, handovers, lineage, history."""
    b = get_visible_batch(session, principal, code)
    detail = batch_summary(b)
    detail["catalogue_edition"] = (batch_edition(session, b.generated_on, b.declared_at)
                                   if b.hazardous else None)
    claims = {c.handover_entry if c.handover_entry is not None else -c.claimed_at: c
              for c in session.scalars(select(ExemptionClaim).where(
                  ExemptionClaim.batch == code))}
    detail["handovers"] = [_handover(h, claims.get(handover_entry(h) or -1)) for h in
                           session.scalars(select(Handover).where(Handover.batch == code)
                                           .order_by(Handover.id))]
    detail["parents"] = [{"code": link.parent, "mass_g": link.mass_g} for link in
                         session.scalars(select(Lineage).where(Lineage.child == code))]
    detail["children"] = [{"code": link.child, "mass_g": link.mass_g} for link in
                          session.scalars(select(Lineage).where(Lineage.parent == code))]
    disposal = session.get(Disposal, code)
    detail["disposal"] = None if disposal is None else {
        "disposer": disposal.disposer, "method": disposal.method,
        "method_code": disposal.method_code, "mass_g": disposal.mass_g,
        "t": format_time(disposal.t_ms), "permit": disposal.permit or None,
        "exemption": _claim(claims.get(-disposal.entry))}
    stay = session.scalars(select(StorageStay).where(StorageStay.batch == code,
                                                     StorageStay.out_at.is_(None))).first()
    detail["storage"] = None if stay is None else {
        "facility": stay.facility, "org": stay.org, "in_mass_g": stay.in_mass_g,
        "in_t": format_time(stay.in_t_ms)}
    detail["attributed_disposals"] = attributed_disposals(session, code)
    detail["history"] = stream_history(session, code, operator)
    return detail


def _claim(c: ExemptionClaim | None) -> dict[str, Any] | None:
    """An exemption claimed (豁免管理清单): which row and stage, and whether it fits."""
    if c is None:
        return None
    return {"edition": c.edition, "item": c.item, "row": c.row, "stage": c.stage,
            "fits": c.fits, "misfit": c.misfit, "by_release": c.by_release,
            "by_answer": c.by_answer}


def _handover(h: Handover, claim: ExemptionClaim | None = None) -> dict[str, Any]:
    return {
        "from": h.from_org, "to": h.to_org, "manifest": h.manifest, "status": h.status,
        "released_mass_g": h.released_mass_g, "accepted_mass_g": h.accepted_mass_g,
        "refused_mass_g": h.refused_mass_g, "refusal_reason": h.refusal_reason,
        "discrepancy": h.discrepancy, "permit_flagged": h.permit_flagged,
        "released_t": None if h.released_t_ms is None else format_time(h.released_t_ms),
        "answered_t": None if h.answered_t_ms is None else format_time(h.answered_t_ms),
        "exemption": _claim(claim),
    }


def attributed_disposals(session: Session, code: str) -> list[dict[str, Any]]:
    """Disposal of the batches this one was consolidated into, in proportion to what it gave.

    A parent that gave m grams to a child of mass M, which was disposed of D grams, is
    attributed D * m / M (integer grams, rounded down), recursively through further
    consolidations."""
    out: list[dict[str, Any]] = []
    _attribute(session, code, 1, 1, out, depth=0)
    return out


def _attribute(session: Session, code: str, num: int, den: int, out: list[dict[str, Any]],
               depth: int) -> None:
    if depth > 16:
        return
    for link in session.scalars(select(Lineage).where(Lineage.parent == code)):
        child = session.get(Batch, link.child)
        if child is None or child.declared_mass_g == 0:
            continue
        n, d = num * link.mass_g, den * child.declared_mass_g
        disposal = session.get(Disposal, child.code)
        if disposal is not None:
            out.append({"via": child.code, "method": disposal.method,
                        "mass_g": disposal.mass_g * n // d, "t": format_time(disposal.t_ms)})
        _attribute(session, child.code, n, d, out, depth + 1)


def stream_history(session: Session, stream: str, operator: VerifierKey) -> list[dict[str, Any]]:
    """The stream's entries, each re-verified: signature, and inclusion in the current tree."""
    rows = session.scalars(select(LogEntry).where(LogEntry.stream == stream)
                           .order_by(LogEntry.seq)).all()
    head = log_head(session)
    tiles = TileHashReader(StoredTiles(session, head.size), head.size)
    return [_verified(session, row, tiles, head.root, operator) for row in rows]


@dataclass(frozen=True)
class _Check:
    signature: bool
    included: bool


def _verified(session: Session, row: LogEntry, tiles: TileHashReader, root: bytes,
              operator: VerifierKey) -> dict[str, Any]:
    check = _check_entry(session, row, tiles, root, operator)
    entry = parse_entry(row.note, max_size=len(row.note))
    return {
        "index": row.idx, "seq": row.seq, "kind": row.kind, "org": row.org, "t": entry.t,
        "data": entry.data, "leaf_hash": b64(row.leaf_hash), "key": row.key_fp,
        "verified": check.signature and check.included,
        "signature_valid": check.signature, "included": check.included,
    }


def _check_entry(session: Session, row: LogEntry, tiles: TileHashReader, root: bytes,
                 operator: VerifierKey) -> _Check:
    try:
        entry = parse_entry(row.note, max_size=len(row.note))
    except LedgerError:
        return _Check(False, False)
    key = operator if row.key_fp == operator.fingerprint else None
    if key is None:
        rec = session.get(SigningKey, row.key_fp)
        key = None if rec is None else VerifierKey(rec.name, rec.public_key)
    signature = key is not None and any(
        s.key_id == key.key_id and key.verify(entry.note.text, s.signature)
        for s in entry.note.signatures)
    try:
        path = tiles.inclusion_path(row.idx)
    except LedgerError:  # a tile the head promises is missing: not provably included
        return _Check(signature, False)
    return _Check(signature, verify_inclusion(row.idx, tiles.size, row.leaf_hash, path, root))


def list_batches(session: Session, principal: Principal, filters: Mapping[str, Any],
                 limit: int) -> tuple[list[Batch], str | None]:
    """A page of visible batches, ordered by code, after the cursor (the last code seen)."""
    query: Select[Batch] = select(Batch).order_by(Batch.code).limit(limit + 1)
    clause = batch_visibility(principal)
    if clause is not None:
        query = query.where(clause)
    for name in ("generator", "holder", "state", "waste_code"):
        if filters.get(name):
            query = query.where(getattr(Batch, name) == filters[name])
    if filters.get("region"):

        query = query.where(region_clause(filters["region"]))
    if filters.get("declared_from"):
        query = query.where(Batch.declared_t_ms >= _day_ms(filters["declared_from"]))
    if filters.get("declared_to"):
        query = query.where(Batch.declared_t_ms < _day_ms(filters["declared_to"], 1))
    if filters.get("cursor"):
        query = query.where(Batch.code > filters["cursor"])
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].code if more and rows else None)


def _day_ms(day: dt.date, plus_days: int = 0) -> int:
    d = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(days=plus_days)
    return int(d.timestamp()) * 1000


STAGES = ("generated", "collected", "in_transit", "received", "disposed")


def public_trace(session: Session, code: str, operator: VerifierKey) -> dict[str, Any]:
    """What anyone scanning a label may see: the waste, its hazards, the stages reached with
    their dates and whether the record verifies — no masses, prices or people."""
    b = session.get(Batch, code)
    if b is None:
        raise NotFound(f"no batch {code}", code="batch_not_found", field="code")
    history = stream_history(session, code, operator)
    declared = history[0]["data"] if history else {}
    dates: dict[str, str] = {"generated": b.generated_on}
    roles = _roles(session)
    for h in session.scalars(select(Handover).where(Handover.batch == code,
                                                    Handover.status == "confirmed")
                             .order_by(Handover.id)):
        day = format_time(max(h.answered_t_ms or 0, h.released_t_ms or 0))[:10]
        to_roles = roles.get(h.to_org, set())
        stage = ("received" if to_roles & {"disposer", "receiver"} else
                 "in_transit" if to_roles <= {"transporter"} else "collected")
        dates.setdefault(stage, day)
        if stage != "in_transit":
            dates.setdefault("collected", day)
    disposal = session.get(Disposal, code)
    if disposal is not None:
        dates["disposed"] = format_time(disposal.t_ms)[:10]
    via = attributed_disposals(session, code)
    if via:
        dates.setdefault("disposed", via[0]["t"][:10])
    return {
        "code": code, "name": b.name, "waste_code": b.waste_code, "category": b.category,
        "hazardous": b.hazardous, "hazards": list(declared.get("hazards", [])),
        "state": b.state, "stages": [(s, dates.get(s)) for s in STAGES],
        "consolidated_into": sorted({v["via"] for v in via}) or [
            link.child for link in session.scalars(select(Lineage).where(
                Lineage.parent == code))],
        "verified": bool(history) and all(e["verified"] for e in history),
        "entries": len(history),
    }


def _roles(session: Session) -> dict[str, set[str]]:

    return {o.uscc: set(o.roles.split()) for o in session.scalars(select(Organisation))}


def visible_entries(session: Session, principal: Principal, start: int,
                    limit: int) -> list[LogEntry]:
    """The entries with start <= index < start + limit that ``principal`` may read."""
    query = select(LogEntry).where(LogEntry.idx >= start, LogEntry.idx < start + limit)
    for clause in (entry_visibility(principal), case_entry_visibility(principal),
                   _own_stream_visibility(principal)):
        if clause is not None:
            query = query.where(clause)
    return list(session.scalars(query.order_by(LogEntry.idx)))


def _own_stream_visibility(principal: Principal) -> ColumnElement[bool] | None:
    """Entries of an organisation's own streams (its plans ``plan:<uscc>:<year>`` and
    declarations ``report:<uscc>:<period>``): only for the organisation itself, a regulator
    of its region and the operator (None: everything), as GET /plans and /declarations."""
    if principal.is_operator:
        return None
    if principal.is_regulator:
        owners: Any = select(Organisation.uscc).where(
            Organisation.region.like(region_prefix(principal.region) + "%"))
    else:
        owners = [principal.org]
    return and_(*(or_(~LogEntry.stream.startswith(prefix, autoescape=True),
                      func.substr(LogEntry.stream, len(prefix) + 1, 18).in_(owners))
                  for prefix in (PLAN_STREAM_PREFIX, REPORT_STREAM_PREFIX)))


def visible_manifests(principal: Principal) -> Select[Manifest]:
    """A query of the manifests ``principal`` may see (for paging by the caller)."""
    query = select(Manifest)
    clause = manifest_visibility(principal)
    return query if clause is None else query.where(clause)


def find_manifests(session: Session, principal: Principal, *, number: str = "",
                   org: str | None = None, start_ms: int | None = None,
                   end_ms: int | None = None, limit: int = 200) -> list[Manifest]:
    """The manifests ``principal`` may see, newest first: those whose number starts with
    ``number``, with ``org`` as origin, destination or carrier, opened in [start_ms, end_ms)."""
    query = visible_manifests(principal)
    if number:
        query = query.where(Manifest.number.startswith(number, autoescape=True))
    if org:
        query = query.where(or_(Manifest.origin == org, Manifest.destination == org,
                                Manifest.carrier == org))
    if start_ms is not None:
        query = query.where(Manifest.opened_t_ms >= start_ms)
    if end_ms is not None:
        query = query.where(Manifest.opened_t_ms < end_ms)
    return list(session.scalars(query.order_by(Manifest.opened_t_ms.desc(),
                                               Manifest.number).limit(limit)))


def manifest_legs(session: Session, number: str) -> list[tuple[Handover, list[LogEntry]]]:
    """The manifest's handovers (legs), each with its signed entries: the release and the
    receiver's answer, in log order."""
    legs = list(session.scalars(select(Handover).where(Handover.manifest == number)
                                .order_by(Handover.id)))
    carried: dict[str, list[int]] = {}
    for leg in session.scalars(select(CarrierLeg).where(CarrierLeg.manifest == number)):
        carried[leg.batch] = [i for i in (leg.departed_at, leg.arrived_at) if i is not None]

    def signed(h: Handover) -> list[int]:
        return sorted([i for i in (h.released_at, h.answered_at) if i is not None]
                      + carried.get(h.batch, []))

    wanted = {i for h in legs for i in signed(h)}
    entries = {e.idx: e for e in session.scalars(select(LogEntry).where(
        LogEntry.idx.in_(wanted)))} if wanted else {}
    return [(h, [entries[i] for i in signed(h) if i in entries]) for h in legs]


def get_visible_manifest(session: Session, principal: Principal, number: str) -> Manifest:
    """The manifest if ``principal`` may see it; NotFound alike when it does not exist."""
    m = session.scalars(visible_manifests(principal).where(Manifest.number == number)).first()
    if m is None:
        raise NotFound(f"no manifest {number} visible to you", code="manifest_not_found")
    return m

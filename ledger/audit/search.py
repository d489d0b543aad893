"""One search box for regulators (监管检索): a company name, a USCC, a batch code, a manifest
number or a licence plate, typed as people type them, answered within the searcher's region.

Nothing here is guessed from the shape alone: every kind of key is tried that the text could
be, and each answer says what it is, so "9133…" finds both a company and its batches."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from ledger.custody.access import region_clause
from ledger.custody.principals import Principal
from ledger.custody.projections import Batch, Handover, Manifest, Organisation, Vehicle

MAX_QUERY = 100
_ALNUM = re.compile(r"[0-9A-Z]+")
ALNUM_18 = re.compile(r"[0-9A-Z]{18}")
_PLATE_NOISE = re.compile(r"[\s·•.\-]")


@dataclass(frozen=True)
class Hit:
    """One thing found: ``kind`` is organisation, batch, manifest or vehicle."""

    kind: str
    key: str  # the USCC, batch code, manifest number or plate
    label: str  # a name to show beside it
    org: str | None = None  # the organisation it belongs to (a batch's generator, …)


def _region_prefix(region: str) -> str:
    if region.endswith("0000"):
        return region[:2]
    return region[:4] if region.endswith("00") else region


def _org_scope(principal: Principal) -> ColumnElement[bool] | None:
    if principal.is_operator:
        return None
    return Organisation.region.like(_region_prefix(principal.region) + "%")


def _like(text: str) -> str:
    """``text`` for a LIKE pattern, its wildcards taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(session: Session, principal: Principal, q: str, limit: int = 20) -> list[Hit]:
    """What ``q`` names, within the principal's region (everything for the operator)."""
    text = " ".join(q.split())[:MAX_QUERY]
    if not text:
        return []
    compact = text.replace(" ", "").upper()
    hits: list[Hit] = []
    names = _organisations(session, principal, text, compact, limit)
    hits += names
    if _ALNUM.fullmatch(compact) and len(compact) >= 18:
        hits += _batches(session, principal, compact, limit)
    if compact.isdigit() and len(compact) >= 8:
        hits += _manifests(session, principal, compact, limit)
    hits += _vehicles(session, principal, text, limit)
    return hits


def _organisations(session: Session, principal: Principal, text: str, compact: str,
                   limit: int) -> list[Hit]:
    query = select(Organisation.uscc, Organisation.name).where(or_(
        Organisation.name.like(_like(text), escape="\\"), Organisation.uscc == compact))
    scope = _org_scope(principal)
    if scope is not None:
        query = query.where(scope)
    rows = session.execute(query.order_by(Organisation.name).limit(limit))
    return [Hit("organisation", uscc, name, uscc) for uscc, name in rows]


def _batches(session: Session, principal: Principal, compact: str, limit: int) -> list[Hit]:
    # A prefix range, not LIKE, so the primary key's index serves both databases.
    query = select(Batch.code, Batch.name, Batch.generator).where(
        Batch.code >= compact, Batch.code < compact + "~")
    if not principal.is_operator:
        query = query.where(region_clause(principal.region))
    rows = session.execute(query.order_by(Batch.code).limit(limit))
    return [Hit("batch", code, name, generator) for code, name, generator in rows]


def _manifests(session: Session, principal: Principal, digits: str, limit: int) -> list[Hit]:
    query = select(Manifest.number, Manifest.origin, Manifest.destination).where(
        Manifest.number >= digits, Manifest.number < digits + "~")
    rows = session.execute(query.order_by(Manifest.number).limit(limit * 5)).all()
    return [Hit("manifest", number, "", origin) for number, origin, destination in rows
            if _visible_orgs(session, principal, {origin, destination})][:limit]


def _vehicles(session: Session, principal: Principal, text: str, limit: int) -> list[Hit]:
    wanted = _PLATE_NOISE.sub("", text).upper()
    if len(wanted) < 3:
        return []
    query = select(Vehicle.plate, Vehicle.org, Organisation.name).join(
        Organisation, Organisation.uscc == Vehicle.org)
    scope = _org_scope(principal)
    if scope is not None:
        query = query.where(scope)
    return [Hit("vehicle", plate, name, org) for plate, org, name in session.execute(query)
            if wanted in _PLATE_NOISE.sub("", plate).upper()][:limit]


def _visible_orgs(session: Session, principal: Principal, orgs: set[str]) -> bool:
    if principal.is_operator:
        return True
    scope = _org_scope(principal)
    assert scope is not None
    return session.scalar(select(Organisation.uscc).where(
        Organisation.uscc.in_(orgs), scope).limit(1)) is not None


def manifest_batches(session: Session, number: str) -> list[tuple[str, str, str]]:
    """(batch code, from, to) of each handover on a manifest."""
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(Handover.batch, Handover.from_org, Handover.to_org)
        .where(Handover.manifest == number).order_by(Handover.batch))]


def plate_manifests(session: Session, plate: str, limit: int = 20) -> list[str]:
    return list(session.scalars(select(Manifest.number).where(Manifest.vehicle == plate)
                                .order_by(Manifest.number.desc()).limit(limit)))

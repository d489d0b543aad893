"""Pickup requests (预约收集): a generator asks a collector to fetch some of its batches.

A request is not evidence and is not signed: it is the work list that the collector's driver
takes on a round (loaded onto the phone while online, so the round can be worked offline), and
it reserves the transfer manifest number (转移联单编号) that the generator's release and the
driver's acceptance both name. What happened is recorded only by the signed custody entries.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, Integer, Select, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.custody.principals import Principal
from ledger.custody.projections import Batch, Handover, Manifest, Organisation
from ledger.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ledger.tlog.log import stream_head_json, stream_heads
from ledger.tlog.models import Base, LogEntry

RECEIVING_ROLES = frozenset({"collector", "transporter", "receiver", "disposer"})
CLOSED = ("consolidated", "disposed", "withdrawn")
MAX_BATCHES = 200
MAX_NOTE = 200
MAX_ADDRESS = 200


class PickupRequest(Base):
    """A generator's request that a collector fetch batches, with the manifest reserved."""

    __tablename__ = "pickup_requests"

    # Integer, not the BigInteger default: SQLite autoincrements only INTEGER PRIMARY KEY.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    generator: Mapped[str] = mapped_column(String(18), index=True)
    collector: Mapped[str] = mapped_column(String(18), index=True)
    manifest: Mapped[str] = mapped_column(String(14), unique=True)
    wanted_on: Mapped[str | None] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(String(MAX_NOTE))
    # Where to fetch the waste (取货地址): the driver's round shows it with a map link.
    address: Mapped[str | None] = mapped_column(String(MAX_ADDRESS))
    status: Mapped[str] = mapped_column(String(12), index=True)  # open | cancelled
    created_ms: Mapped[int]
    created_by: Mapped[str | None] = mapped_column(String(64))


class PickupItem(Base):
    """One batch of a pickup request."""

    __tablename__ = "pickup_items"

    request_id: Mapped[int] = mapped_column(Integer, ForeignKey("pickup_requests.id"),
                                            primary_key=True)
    batch: Mapped[str] = mapped_column(String(37), primary_key=True, index=True)


PickupHook = Callable[[Session, int, str, str, str, list[str], str | None], object]
"""Called in a new request's transaction with (session, id, generator, collector, manifest,
batch codes, wanted_on): the notifications of ``ledger.audit``, wired by the app."""


@dataclass(frozen=True)
class PickupBatch:
    """A batch on a round, with what the driver's phone needs to sign offline."""

    code: str
    name: str
    waste_code: str
    state: str
    holder: str
    mass_g: int
    declared_mass_g: int
    head: dict[str, Any]  # {"seq", "leaf", "t"}: the stream head, as the collector's round has


@dataclass(frozen=True)
class Pickup:
    """A pickup request as shown to its generator and its collector."""

    id: int
    generator: str
    generator_name: str
    collector: str
    collector_name: str
    manifest: str
    wanted_on: str | None
    note: str | None
    status: str
    created_ms: int
    batches: tuple[PickupBatch, ...]
    address: str | None = None


def next_manifest_number(session: Session, region: str, year: int) -> str:
    """The next manifest number this server reserves for a region's city in ``year``
    (year+province+city+serial): after its own last reservation, skipping any number already
    used in the log. Numbers that others used (issued by the provincial system) are skipped,
    never counted from, so one release naming serial 999999 cannot exhaust the city."""
    prefix = f"{year:04d}{region[:4]}"
    last = session.scalar(select(func.max(PickupRequest.manifest))
                          .where(PickupRequest.manifest.like(prefix + "%")))
    serial = int(last[8:]) + 1 if last else 1
    while serial <= 999_999:
        candidates = [f"{prefix}{n:06d}" for n in range(serial, min(serial + 100, 1_000_000))]
        used = set(session.scalars(select(Manifest.number)
                                   .where(Manifest.number.in_(candidates))))
        free = next((c for c in candidates if c not in used), None)
        if free is not None:
            return free
        serial += len(candidates)
    raise Conflict(f"no manifest numbers left for {prefix}", code="manifest_exhausted")


def request_pickup(session: Session, principal: Principal, collector: str,
                   codes: Sequence[str], wanted_on: str | None = None,
                   note: str | None = None, address: str | None = None,
                   after: PickupHook | None = None) -> Pickup:
    """Open a request for ``collector`` to fetch ``codes`` (held by the principal's org);
    ``after`` runs in the request's transaction (the app tells the collector with it)."""
    generator = _organisation(session, principal.org, "org")
    receiver = _organisation(session, collector, "collector")
    batches = _own_open_batches(session, principal.org, codes)
    # A return (退回): refused batches going back to the enterprise that made them, which
    # takes them without a receiving role (the custody rules' return, docs/custody.md 4.3).
    returning = all(b.state == "refused" and b.generator == collector for b in batches)
    if not returning and not set(receiver.roles.split()) & RECEIVING_ROLES:
        raise PermissionDenied(f"{receiver.name} cannot receive waste", code="role_missing",
                               field="collector")
    _check_text(wanted_on, note)
    address = (address or "").strip() or None
    if address is not None and len(address) > MAX_ADDRESS:
        raise InvalidInput(f"the address has at most {MAX_ADDRESS} characters",
                           code="field_invalid", field="address")
    today = dt.datetime.now(dt.UTC)
    row = PickupRequest(generator=principal.org, collector=collector,
                        manifest=next_manifest_number(session, generator.region, today.year),
                        wanted_on=wanted_on, note=note or None, address=address, status="open",
                        created_ms=time.time_ns() // 1_000_000, created_by=principal.user)
    session.add(row)
    try:
        session.flush()
        session.add_all(PickupItem(request_id=row.id, batch=b.code) for b in batches)
        if after is not None:
            after(session, row.id, row.generator, row.collector, row.manifest,
                  [b.code for b in batches], row.wanted_on)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("another request took that manifest number; try again",
                       code="pickup_race") from None
    return get_pickup(session, principal, row.id)


def cancel_pickup(session: Session, principal: Principal, pickup_id: int) -> Pickup:
    row = _visible_row(session, principal, pickup_id)
    if row.generator != principal.org:
        raise PermissionDenied("only the generator can cancel its request",
                               code="pickup_not_yours")
    row.status = "cancelled"
    session.commit()
    return get_pickup(session, principal, pickup_id)


def last_address(session: Session, org: str) -> str | None:
    """The pickup address ``org`` gave last (a form starts from it: a site rarely moves)."""
    return session.scalar(select(PickupRequest.address).where(
        PickupRequest.generator == org, PickupRequest.address.is_not(None))
        .order_by(PickupRequest.id.desc()).limit(1))


def get_pickup(session: Session, principal: Principal, pickup_id: int) -> Pickup:
    return _pickup(session, _visible_row(session, principal, pickup_id))


def pickups_for(session: Session, principal: Principal, status: str | None = "open",
                limit: int = 100) -> list[Pickup]:
    """Requests made by (generator) or addressed to (collector) the principal's organisation."""
    query = select(PickupRequest).where(
        (PickupRequest.generator == principal.org) | (PickupRequest.collector == principal.org))
    if status in ("open", "done"):
        query = query.where(PickupRequest.status == "open")
    elif status:
        query = query.where(PickupRequest.status == status)
    # "open" and "done" are both stored as open (done is derived from where the batches are),
    # so read further back than ``limit`` before keeping ``limit`` of the wanted kind.
    scan = limit * 5 if status in ("open", "done") else limit
    rows = session.scalars(query.order_by(PickupRequest.id.desc()).limit(scan)).all()
    pickups = [_pickup(session, r) for r in rows]
    return [p for p in pickups if status is None or p.status == status][:limit]


def batches_requested_of(org: str) -> Select[str]:
    """A subquery of the batches ``org`` has been asked to fetch and that are still with the
    requester (visibility: once a batch has left, the request shows nothing more of it)."""
    return (select(PickupItem.batch).join(PickupRequest)
            .join(Batch, Batch.code == PickupItem.batch)
            .where(PickupRequest.collector == org, PickupRequest.status == "open",
                   Batch.holder == PickupRequest.generator, Batch.state != "withdrawn"))


def outstanding(request: PickupRequest, batch: Batch) -> bool:
    """Still to be fetched: the batch has not left the requester."""
    return batch.holder == request.generator and batch.state not in CLOSED


def _visible_row(session: Session, principal: Principal, pickup_id: int) -> PickupRequest:
    # Ids are 32-bit; a larger number from a URL is simply not one of ours.
    row = session.get(PickupRequest, pickup_id) if 0 < pickup_id < 2**31 else None
    if row is None or principal.org not in (row.generator, row.collector):
        raise NotFound(f"no pickup request {pickup_id}", code="pickup_not_found", field="id")
    return row


def _pickup(session: Session, row: PickupRequest) -> Pickup:
    codes = session.scalars(select(PickupItem.batch).where(PickupItem.request_id == row.id))
    batches = session.scalars(select(Batch).where(Batch.code.in_(list(codes)))
                              .order_by(Batch.code)).all()
    heads = stream_heads(session, [b.code for b in batches])
    status = row.status
    if status == "open" and batches and all(b.state == "withdrawn" for b in batches):
        status = "cancelled"  # the generator withdrew every batch of it (batch.withdrawn)
    elif status == "open" and not any(outstanding(row, b) for b in batches):
        status = "done"  # every batch has left the requester: nothing is left to fetch
    names = {uscc: name for uscc, name in session.execute(
        select(Organisation.uscc, Organisation.name)
        .where(Organisation.uscc.in_([row.generator, row.collector])))}
    return Pickup(
        id=row.id, generator=row.generator, generator_name=names.get(row.generator, ""),
        collector=row.collector, collector_name=names.get(row.collector, ""),
        manifest=row.manifest, wanted_on=row.wanted_on, note=row.note, status=status,
        created_ms=row.created_ms, address=row.address,
        batches=tuple(_pickup_batch(b, heads[b.code]) for b in batches))


def _pickup_batch(b: Batch, head: LogEntry) -> PickupBatch:
    """The batch with its stream head: what a phone needs to sign the next entry offline."""
    return PickupBatch(code=b.code, name=b.name, waste_code=b.waste_code, state=b.state,
                       holder=b.holder, mass_g=b.mass_g, declared_mass_g=b.declared_mass_g,
                       head=stream_head_json(head))


def _organisation(session: Session, uscc: str, field_name: str) -> Organisation:
    org = session.get(Organisation, uscc) if isinstance(uscc, str) else None
    if org is None:
        raise NotFound(f"no organisation {uscc}", code="org_unknown", field=field_name)
    return org


def _own_open_batches(session: Session, org: str, codes: Sequence[str]) -> list[Batch]:
    if not codes:
        raise InvalidInput("choose at least one batch", code="pickup_empty", field="batches")
    if len(codes) > MAX_BATCHES:
        raise InvalidInput(f"at most {MAX_BATCHES} batches per request",
                           code="pickup_too_many", field="batches")
    unique = sorted(set(codes))
    batches = list(session.scalars(select(Batch).where(Batch.code.in_(unique))))
    mine = {b.code: b for b in batches if b.holder == org}
    for code in unique:
        if code not in mine:
            raise NotFound(f"you hold no batch {code}", code="batch_not_found",
                           field="batches")
        if mine[code].state in ("consolidated", "disposed") or (
                mine[code].state == "pending" and not _only_answered(session, code)):
            raise Conflict(f"batch {code} is {mine[code].state}", code="batch_not_available",
                           field="batches")
    already = session.execute(
        select(PickupItem.batch, PickupRequest.manifest, PickupRequest.id).join(PickupRequest)
        .where(PickupItem.batch.in_(unique), PickupRequest.status == "open",
               PickupRequest.generator == org).order_by(PickupItem.batch)).first()
    if already is not None:
        # named, so the person knows which request to cancel (issue 13)
        raise Conflict(f"batch {already.batch} is already on the open pickup request with "
                       f"manifest {already.manifest}; cancel that one first",
                       code="batch_already_requested", field="batches",
                       manifest=already.manifest, pickup=already.id)
    return [mine[c] for c in unique]


def _only_answered(session: Session, code: str) -> bool:
    """The batch's open handover is a receiver's answer awaiting the holder's release: the
    holder has not committed the batch, so it may still ask for a pickup (the answer is
    superseded when the holder releases elsewhere)."""
    status = session.scalar(select(Handover.status).where(
        Handover.batch == code, Handover.status.in_(("awaiting_answer", "awaiting_release"))))
    return status == "awaiting_release"


def _check_text(wanted_on: str | None, note: str | None) -> None:
    if wanted_on is not None:
        try:
            dt.date.fromisoformat(wanted_on)
        except ValueError:
            raise InvalidInput("wanted_on is a date YYYY-MM-DD", code="date_invalid",
                               field="wanted_on") from None
        if len(wanted_on) != 10:
            raise InvalidInput("wanted_on is a date YYYY-MM-DD", code="date_invalid",
                               field="wanted_on")
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidInput(f"the note has at most {MAX_NOTE} characters", code="field_invalid",
                           field="note")

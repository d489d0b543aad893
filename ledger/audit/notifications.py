"""Notifications (提醒): who has to act next, told in the app, by Web Push and by webhooks.

A notification is addressed to an organisation (and, where the event names one, a person of it)
and is written in the same transaction as the rows of the event that caused it: the append
transaction of a signed entry (through the after-append hook wired in ``ledger.bootstrap``), the
pickup request's, or a reminder job's. With it go its deliveries, one row per Web Push
subscription and per webhook subscription that wants the event; they are sent afterwards,
outside any request, by the delivery job (``api.notify``), with retries.

Notifications are not evidence: they are kept by ``rebuild`` (never replayed), and an append
never fails because of one (``after_append`` keeps its failures to itself). Each has a unique
key, so writing the same reminder twice (two server processes, a job run again) adds nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.audit.cases import ASSIGNED, RETURNED, case_stream
from ledger.audit.models import Case
from ledger.custody.principals import Principal
from ledger.custody.projections import Batch, Handover
from ledger.errors import Conflict, InvalidInput, LedgerError, NotFound
from ledger.tlog.db import write_transaction
from ledger.tlog.log import AppendContext
from ledger.tlog.models import Base

log = logging.getLogger(__name__)

PICKUP_REQUESTED = "pickup.requested"  # a generator asks my organisation to fetch batches
HANDOVER_WAITING = "handover.awaiting_signature"  # the other party signed; my signature is next
CASE_ASSIGNED = "case.assigned"  # a case (整改) is assigned to my organisation
CASE_RETURNED = "case.returned"  # my rectification report was returned (退回)
DEADLINE_SOON = "case.deadline_soon"  # a case of mine is due within DEADLINE_DAYS days
DECLARATION_DUE = "declaration.due"  # a declaration (申报) of mine is due
# what I released (移出) or declared was refused, partly refused, or weighed differently
HANDOVER_DIFFERENCE = "handover.refused_or_different"
EVENTS = (PICKUP_REQUESTED, HANDOVER_WAITING, CASE_ASSIGNED, CASE_RETURNED, DEADLINE_SOON,
          DECLARATION_DUE, HANDOVER_DIFFERENCE)
DEADLINE_DAYS = 3

WEBPUSH = "webpush"
WEBHOOK = "webhook"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Notification(Base):
    """One thing an organisation (or one person of it) is told."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_org_read", "org", "read_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # the same event, written once
    org: Mapped[str] = mapped_column(String(18))
    user: Mapped[str | None] = mapped_column(String(64))  # a username, or None: the whole org
    event: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(100))  # a batch code, case id, pickup id
    data: Mapped[str] = mapped_column(Text)  # JSON: what the event says (docs/notifications.md)
    created_ms: Mapped[int]
    read_ms: Mapped[int | None]


class PushSubscription(Base):
    """A browser's Web Push subscription (RFC 8030/8291) for one person of an organisation."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    org: Mapped[str] = mapped_column(String(18), index=True)
    user: Mapped[str | None] = mapped_column(String(64))
    created_ms: Mapped[int]


class WebhookSubscription(Base):
    """An organisation's webhook: where to POST which events, signed with its own secret.

    The secret is kept as it is (an HMAC key has to be known to sign); it is shown to the
    subscriber once, when the subscription is made, and never in a listing."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(18), index=True)
    url: Mapped[str] = mapped_column(String(1000))
    events: Mapped[str] = mapped_column(String(400))  # space-separated event names
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_ms: Mapped[int]
    created_by: Mapped[str | None] = mapped_column(String(64))


class Delivery(Base):
    """One notification sent (or to be sent) to one Web Push or webhook subscription."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_due", "status", "next_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The id a receiver sees (X-Waste-Ledger-Delivery): the same on every retry, so a receiver
    # that keeps the ids it has seen processes each delivery once.
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # webpush | webhook
    target: Mapped[int] = mapped_column(Integer, index=True)  # the subscription's id
    status: Mapped[str] = mapped_column(String(10))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_ms: Mapped[int]  # when the next attempt is due
    lease_ms: Mapped[int]  # a sender holds the row until then (several processes)
    last_status: Mapped[int | None] = mapped_column(Integer)  # the HTTP status of the last try
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_ms: Mapped[int]
    done_ms: Mapped[int | None]


# --- writing notifications -------------------------------------------------------------------


def notify(session: Session, *, org: str, event: str, key: str, subject: str,
           data: Mapping[str, Any], user: str | None = None,
           at_ms: int | None = None) -> Notification | None:
    """Write a notification and its deliveries in the caller's transaction; None if one with
    ``key`` exists already (the event was told before)."""
    if session.scalar(select(Notification.id).where(Notification.key == key)) is not None:
        return None
    when = now_ms() if at_ms is None else at_ms
    row = Notification(key=key, org=org, user=user, event=event, subject=subject,
                       data=json.dumps(dict(data), ensure_ascii=False, sort_keys=True),
                       created_ms=when, read_ms=None)
    try:
        with session.begin_nested():  # another process wrote the same key meanwhile
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    pushes = select(PushSubscription.id).where(PushSubscription.org == org)
    if user is not None:
        pushes = pushes.where(or_(PushSubscription.user == user, PushSubscription.user.is_(None)))
    hooks = session.execute(select(WebhookSubscription.id, WebhookSubscription.events).where(
        WebhookSubscription.org == org, WebhookSubscription.active.is_(True))).all()
    targets = [(WEBPUSH, sid) for sid in session.scalars(pushes)]
    targets += [(WEBHOOK, hid) for hid, events in hooks if wants(events, event)]
    session.add_all(Delivery(delivery_id=str(uuid.uuid4()), notification_id=row.id,
                             channel=channel, target=target, status=PENDING, attempts=0,
                             next_ms=when, lease_ms=0, created_ms=when)
                    for channel, target in targets)
    return row


def wants(events: str, event: str) -> bool:
    names = events.split()
    return "*" in names or event in names


def after_append(ctx: AppendContext) -> None:
    """The after-append hook: what a signed entry asks of someone else. A failure here is
    logged and rolled back to a savepoint; it never fails or blocks the append, and a replay
    (``rebuild``) tells nobody anything again."""
    if ctx.replay or ctx.entry.kind not in _BY_KIND:
        return
    try:
        with ctx.session.begin_nested():
            _BY_KIND[ctx.entry.kind](ctx)
    # Why so broad: a notification is a courtesy, the entry is evidence. Whatever goes wrong
    # while telling someone (a bug included) must not refuse the entry; it is logged loudly.
    except Exception:  # noqa: BLE001
        log.exception("notification for entry %s (%s) not written", ctx.index, ctx.entry.kind)


def _handover_notice(ctx: AppendContext) -> None:
    """custody.released awaiting the receiver's answer, or an early answer awaiting the
    holder's release: the party whose signature is missing is told."""
    ho = ctx.session.scalars(select(Handover).where(
        Handover.batch == ctx.entry.stream,
        Handover.status.in_(("awaiting_answer", "awaiting_release")))).first()
    if ho is None:
        return
    if ho.status == "awaiting_answer" and ho.released_at == ctx.index:
        who, step, other = ho.to_org, "answer", ho.from_org
    elif ho.status == "awaiting_release" and ho.answered_at == ctx.index:
        who, step, other = ho.from_org, "release", ho.to_org
    else:
        return
    notify(ctx.session, org=who, event=HANDOVER_WAITING, key=f"{HANDOVER_WAITING}:{ctx.index}",
           subject=ho.batch, at_ms=ctx.now_ms,
           data={"batch": ho.batch, "manifest": ho.manifest, "by": other, "step": step,
                 "entry": ctx.index})


def _difference_notice(ctx: AppendContext) -> None:
    """A handover this entry settled with a refusal (whole or part) or a weight difference
    beyond the tolerance: the 移出人 and the batch's generator are told (转移办法: the receiver
    tells the 移出人 of a 差异 or 拒收)."""
    ho = ctx.session.scalars(select(Handover).where(
        Handover.batch == ctx.entry.stream, Handover.status.in_(("confirmed", "refused")),
        or_(Handover.answered_at == ctx.index, Handover.released_at == ctx.index))).first()
    if ho is None or not (ho.status == "refused" or ho.refused_mass_g is not None
                          or ho.discrepancy):
        return
    what = ("refused" if ho.status == "refused" else
            "partly_refused" if ho.refused_mass_g is not None else "discrepancy")
    generator = ctx.session.scalar(select(Batch.generator).where(Batch.code == ho.batch))
    for org in dict.fromkeys(o for o in (ho.from_org, generator) if o):
        notify(ctx.session, org=org, event=HANDOVER_DIFFERENCE,
               key=f"{HANDOVER_DIFFERENCE}:{ctx.index}:{org}", subject=ho.batch,
               at_ms=ctx.now_ms,
               data={"batch": ho.batch, "manifest": ho.manifest, "by": ho.to_org, "what": what,
                     "released_g": ho.released_mass_g, "accepted_g": ho.accepted_mass_g,
                     "refused_g": ho.refused_mass_g, "reason": ho.refusal_reason,
                     "entry": ctx.index})


def _handover_notices(ctx: AppendContext) -> None:
    _handover_notice(ctx)
    _difference_notice(ctx)


def _case_notice(ctx: AppendContext) -> None:
    case = ctx.session.get(Case, ctx.entry.stream.removeprefix("case:"))
    if case is None or case.assignee is None or case_stream(case.id) != ctx.entry.stream:
        return
    if case.state == ASSIGNED and ctx.entry.kind == "case.assigned":
        event = CASE_ASSIGNED
    elif case.state == RETURNED:
        event = CASE_RETURNED
    else:
        return
    notify(ctx.session, org=case.assignee, event=event, key=f"{event}:{ctx.index}",
           subject=case.id, at_ms=ctx.now_ms,
           data={"case": case.id, "title": case.title, "deadline": case.deadline,
                 "measures": case.measures, "entry": ctx.index,
                 "reasons": ctx.entry.data.get("reasons") if event == CASE_RETURNED else None})


_BY_KIND = {
    "custody.released": _handover_notices,
    "custody.accepted": _handover_notices,
    "custody.refused": _handover_notices,
    "case.assigned": _case_notice,
    "case.reviewed": _case_notice,
}


def pickup_requested(session: Session, pickup_id: int, generator: str, collector: str,
                     manifest: str, batches: list[str], wanted_on: str | None) -> None:
    """A pickup request (not a signed entry) was made: tell the collector, in the request's
    transaction, never failing it."""
    try:
        with session.begin_nested():
            notify(session, org=collector, event=PICKUP_REQUESTED,
                   key=f"{PICKUP_REQUESTED}:{pickup_id}", subject=str(pickup_id),
                   data={"pickup": pickup_id, "generator": generator, "manifest": manifest,
                         "batches": batches, "wanted_on": wanted_on})
    except (SQLAlchemyError, LedgerError):
        log.exception("notification for pickup request %s not written", pickup_id)


# --- reminders (run by jobs) -------------------------------------------------------------------


def remind_deadlines(session: Session, today: str, days: int = DEADLINE_DAYS) -> int:
    """Tell each assignee of an open case due within ``days`` days (today included) once per
    deadline; a changed deadline is told again. Returns how many were written."""
    last = _add_days(today, days)
    cases = session.scalars(select(Case).where(
        Case.state.in_((ASSIGNED, RETURNED)), Case.assignee.is_not(None),
        Case.deadline.is_not(None), Case.deadline >= today, Case.deadline <= last)).all()
    written = 0
    for case in cases:
        assert case.assignee is not None and case.deadline is not None
        if notify(session, org=case.assignee, event=DEADLINE_SOON,
                  key=f"{DEADLINE_SOON}:{case.id}:{case.deadline}", subject=case.id,
                  data={"case": case.id, "title": case.title, "deadline": case.deadline,
                        "days_left": _days_between(today, case.deadline)}) is not None:
            written += 1
    session.commit()
    return written


@dataclass(frozen=True)
class DueDeclaration:
    """A declaration an organisation has to make by a date (from the declarations module)."""

    org: str
    kind: str
    period: str
    due: str


def remind_declarations(session: Session, due: list[DueDeclaration]) -> int:
    """Tell each organisation of a declaration due, once per declaration and due date."""
    written = 0
    for d in due:
        if notify(session, org=d.org, event=DECLARATION_DUE,
                  key=f"{DECLARATION_DUE}:{d.org}:{d.kind}:{d.period}:{d.due}",
                  subject=f"{d.kind}:{d.period}",
                  data={"declaration": d.kind, "period": d.period, "due": d.due}) is not None:
            written += 1
    session.commit()
    return written


def _add_days(day: str, days: int) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=days)).isoformat()


def _days_between(a: str, b: str) -> int:
    return (dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days


# --- reading them ------------------------------------------------------------------------------


def _mine(principal: Principal) -> Any:
    return and_(Notification.org == principal.org,
                or_(Notification.user.is_(None), Notification.user == principal.user))


def notifications_for(session: Session, principal: Principal, *, unread_only: bool = False,
                      limit: int = 50) -> list[Notification]:
    """The caller's notifications, newest first."""
    query = select(Notification).where(_mine(principal))
    if unread_only:
        query = query.where(Notification.read_ms.is_(None))
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def unread_count(session: Session, principal: Principal) -> int:
    return int(session.scalar(select(func.count(Notification.id)).where(
        _mine(principal), Notification.read_ms.is_(None))) or 0)


def mark_read(session: Session, principal: Principal, ids: list[int] | None) -> int:
    """Mark the caller's notifications read (``ids``, or all when None); others' ids are
    ignored. Read is per notification: one person reading an organisation's notice reads it
    for the organisation."""
    stmt = update(Notification).where(_mine(principal), Notification.read_ms.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    with write_transaction(session):  # not an upgrade of the request's read (SQLite)
        count = session.execute(stmt.values(read_ms=now_ms())).rowcount  # type: ignore[attr-defined]
    return int(count or 0)


def notification(session: Session, principal: Principal, nid: int) -> Notification:
    row = session.get(Notification, nid) if 0 < nid < 2**31 else None
    if row is None or row.org != principal.org or row.user not in (None, principal.user):
        raise NotFound("no such notification", code="notification_not_found")
    return row


# --- subscriptions -----------------------------------------------------------------------------

MAX_WEBHOOKS = 20  # per organisation


def check_events(events: list[str]) -> str:
    unknown = sorted(set(events) - set(EVENTS) - {"*"})
    if not events or unknown:
        raise InvalidInput(f"events are {', '.join(EVENTS)} or *" +
                           (f"; unknown: {', '.join(unknown)}" if unknown else ""),
                           code="field_invalid", field="events")
    return " ".join(sorted(set(events)))


def add_webhook(session: Session, principal: Principal, url: str,
                events: list[str]) -> tuple[WebhookSubscription, str]:
    """Subscribe ``url`` to the organisation's ``events``; returns the row and its secret (to
    be shown once). The URL has been checked by the caller (``api.notify.webhooks``)."""
    wanted = check_events(events)
    count = session.scalar(select(func.count(WebhookSubscription.id)).where(
        WebhookSubscription.org == principal.org, WebhookSubscription.active.is_(True)))
    if (count or 0) >= MAX_WEBHOOKS:
        raise Conflict(f"at most {MAX_WEBHOOKS} webhooks per organisation",
                       code="webhook_limit")
    secret = "whsec_" + secrets.token_urlsafe(32)
    row = WebhookSubscription(org=principal.org, url=url, events=wanted, secret=secret,
                              active=True, created_ms=now_ms(), created_by=principal.user)
    session.add(row)
    session.commit()
    return row, secret


def webhooks_of(session: Session, principal: Principal) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).where(
        WebhookSubscription.org == principal.org, WebhookSubscription.active.is_(True))
        .order_by(WebhookSubscription.id)))


def webhook(session: Session, principal: Principal, hook_id: int) -> WebhookSubscription:
    row = session.get(WebhookSubscription, hook_id) if 0 < hook_id < 2**31 else None
    if row is None or row.org != principal.org or not row.active:
        raise NotFound("no such webhook", code="webhook_not_found")
    return row


def remove_webhook(session: Session, principal: Principal, hook_id: int) -> None:
    """Unsubscribe: the row stays (its delivery log is kept) but nothing more is sent."""
    row = webhook(session, principal, hook_id)
    row.active = False
    session.execute(update(Delivery).where(
        Delivery.channel == WEBHOOK, Delivery.target == hook_id, Delivery.status == PENDING)
        .values(status=FAILED, last_error="unsubscribed", done_ms=now_ms()))
    session.commit()


def deliveries_of(session: Session, principal: Principal, hook_id: int,
                  limit: int = 100) -> list[tuple[Delivery, Notification]]:
    """The delivery log of one of the caller's webhooks, newest first."""
    webhook(session, principal, hook_id)
    return [(d, note) for d, note in session.execute(
        select(Delivery, Notification).join(Notification,
                                            Notification.id == Delivery.notification_id)
        .where(Delivery.channel == WEBHOOK, Delivery.target == hook_id)
        .order_by(Delivery.id.desc()).limit(limit))]


def save_push_subscription(session: Session, principal: Principal, endpoint: str,
                           p256dh: str, auth: str) -> PushSubscription:
    """Keep a browser's push subscription for the caller (one row per endpoint: a browser that
    subscribes again, or for another log-in, replaces its row)."""
    row = session.scalars(select(PushSubscription).where(
        PushSubscription.endpoint == endpoint)).first()
    if row is None:
        row = PushSubscription(endpoint=endpoint, created_ms=now_ms())
        session.add(row)
    row.p256dh, row.auth, row.org, row.user = p256dh, auth, principal.org, principal.user
    session.commit()
    return row


def remove_push_subscription(session: Session, principal: Principal, endpoint: str) -> bool:
    row = session.scalars(select(PushSubscription).where(
        PushSubscription.endpoint == endpoint, PushSubscription.org == principal.org)).first()
    if row is None:
        return False
    session.execute(update(Delivery).where(
        Delivery.channel == WEBPUSH, Delivery.target == row.id, Delivery.status == PENDING)
        .values(status=FAILED, last_error="unsubscribed", done_ms=now_ms()))
    session.delete(row)
    session.commit()
    return True

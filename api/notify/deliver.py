"""Sending the pending deliveries (Web Push and webhooks), outside any request, with retries.

Each delivery row is claimed with a conditional UPDATE (pending, due, not leased by another
sender) before it is sent, so several processes may run this job at once and a notification is
sent once per subscription; a sender that dies mid-send holds its rows for DELIVERY_LEASE
seconds only. A failed attempt is retried after ``DELIVERY_RETRY_BASE_SECONDS × 2^(n-1)``
(capped at six hours) until ``DELIVERY_MAX_ATTEMPTS``; then the row is ``failed``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import delete, select, update

from api.extensions import db
from api.notify import webhooks, webpush
from api.notify.messages import describe_row
from ledger.audit.notifications import (
    DELIVERED,
    FAILED,
    PENDING,
    WEBHOOK,
    WEBPUSH,
    Delivery,
    Notification,
    PushSubscription,
    WebhookSubscription,
    now_ms,
)
from ledger.tlog.entries import format_time

LEASE_MS = 120_000
MAX_BACKOFF_MS = 6 * 3600 * 1000
BATCH = 100


@dataclass
class Sent:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"delivered {self.delivered}, to retry {self.retrying}, failed {self.failed}"


def reach(app: Flask) -> webhooks.Reach:
    return webhooks.Reach(allow_loopback=bool(app.config["NOTIFY_ALLOW_LOOPBACK"]),
                          allow_private=bool(app.config["NOTIFY_ALLOW_PRIVATE"]))


def backoff_ms(app: Flask, attempts: int) -> int:
    base = int(float(app.config["DELIVERY_RETRY_BASE_SECONDS"]) * 1000)
    return int(min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF_MS))


def deliver_pending(app: Flask, *, at_ms: int | None = None) -> Sent:
    """Send every due delivery once (the ``deliveries`` job); called in an app context."""
    session = db.session
    now = now_ms() if at_ms is None else at_ms
    ids = list(session.scalars(select(Delivery.id).where(
        Delivery.status == PENDING, Delivery.next_ms <= now, Delivery.lease_ms < now)
        .order_by(Delivery.id).limit(BATCH)))
    session.commit()
    sent = Sent()
    for did in ids:
        taken = session.execute(update(Delivery).where(
            Delivery.id == did, Delivery.status == PENDING, Delivery.lease_ms < now)
            .values(lease_ms=now + LEASE_MS))
        session.commit()
        if not taken.rowcount:  # type: ignore[attr-defined]  # a CursorResult
            continue  # another process took it
        _send(app, did, sent)
    return sent


def _send(app: Flask, did: int, sent: Sent) -> None:
    session = db.session
    row = session.get(Delivery, did)
    assert row is not None
    note = session.get(Notification, row.notification_id)
    assert note is not None
    ok, gone = False, True
    status: int | None = None
    error: str | None = "the subscription is gone"
    if row.channel == WEBHOOK:
        hook = session.get(WebhookSubscription, row.target)
        if hook is not None and hook.active:
            body = webhook_body(note, row.delivery_id)
            session.commit()  # no transaction held open while waiting on the network
            a = webhooks.post(hook.url, hook.secret, body, delivery_id=row.delivery_id,
                              event=note.event, reach=reach(app),
                              timeout=float(app.config["DELIVERY_TIMEOUT_SECONDS"]))
            ok, status, error, gone = a.ok, a.status, a.error, False
    elif row.channel == WEBPUSH:
        sub = session.get(PushSubscription, row.target)
        if sub is not None:
            endpoint, p256dh, auth = sub.endpoint, sub.p256dh, sub.auth
            payload = push_payload(note)
            session.commit()
            r = webpush.push(endpoint, p256dh, auth, payload,
                             vapid=webpush.load_vapid(Path(app.config["VAPID_KEY_FILE"])),
                             subject=str(app.config["VAPID_SUBJECT"]), reach=reach(app),
                             timeout=float(app.config["DELIVERY_TIMEOUT_SECONDS"]),
                             ttl=int(app.config["WEBPUSH_TTL_SECONDS"]))
            ok, status, error, gone = r.ok, r.status, r.error, r.gone
            if r.gone:
                session.execute(delete(PushSubscription).where(
                    PushSubscription.id == row.target))
    row = session.get(Delivery, did)
    assert row is not None
    now = now_ms()
    row.attempts += 1
    row.last_status, row.last_error, row.lease_ms = status, error, 0
    if ok:
        row.status, row.done_ms = DELIVERED, now
        sent.delivered += 1
    elif gone or row.attempts >= int(app.config["DELIVERY_MAX_ATTEMPTS"]):
        row.status, row.done_ms = FAILED, now
        sent.failed += 1
    else:
        row.next_ms = now + backoff_ms(app, row.attempts)
        sent.retrying += 1
    session.commit()


def event_json(note: Notification) -> dict[str, Any]:
    """The notification as webhooks and the API carry it (docs/notifications.md)."""
    return {"notification": note.id, "event": note.event, "organisation": note.org,
            "user": note.user, "subject": note.subject, "data": json.loads(note.data),
            "created": format_time(note.created_ms)}


def webhook_body(note: Notification, delivery_id: str) -> bytes:
    body = {"id": delivery_id, **event_json(note)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"),
                      sort_keys=True).encode()


def push_payload(note: Notification) -> dict[str, Any]:
    """What the service worker shows: title, body, the page to open, a tag per notification."""
    msg = describe_row(note)
    return {"title": msg.title, "body": msg.body, "url": msg.url,
            "tag": f"wl-{note.id}", "event": note.event, "id": note.id}

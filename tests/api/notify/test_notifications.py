"""Notifications end to end on both databases: written where the events happen (a pickup
request, a signed release, a case assigned or returned, a reminder job), scoped to the caller,
marked read; delivered to a real webhook receiver (HMAC checked) and a real Web Push endpoint
(VAPID checked, payload decrypted) on loopback, with retries; jobs run once under a lease."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from api import jobs
from api.extensions import db
from api.notify import webhooks
from api.notify.deliver import deliver_pending
from api.notify.webpush import public_key
from ledger.audit.cases import case_stream
from ledger.audit.jobs import claim
from ledger.audit.notifications import (
    Delivery,
    DueDeclaration,
    Notification,
    remind_declarations,
)
from ledger.clock import beijing_today
from tests.api.lifecycle import (
    COLLECTOR,
    GENERATORS,
    REGULATOR,
    build_region,
    code_for,
    description,
)
from tests.api.notify.receivers import PushService, WebhookReceiver

GEN = GENERATORS[0]
CASE = "331002-2026-0001"


def headers(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token}"}


def inbox(app, who) -> dict:
    resp = app.test_client().get("/api/v1/notifications", headers=headers(who))
    assert resp.status_code == 200, resp.json
    return resp.json


def open_case(r, deadline: dt.date) -> None:
    r[REGULATOR].act("case.opened", case_stream(CASE), {
        "region": "331002", "source": "inspection", "type": "storage", "severity": "medium",
        "title": "贮存场所无标识", "facts": "现场检查发现危废仓库未设置标识牌",
        "organisations": [GEN]})
    r[REGULATOR].act("case.assigned", case_stream(CASE), {
        "assignee": GEN, "person": "李四", "measures": "设置标识",
        "deadline": deadline.isoformat()})


@pytest.fixture
def region(app):
    app.config["NOTIFY_ALLOW_LOOPBACK"] = True  # the receivers are on 127.0.0.1
    return build_region(app, generators=2)


def test_events_become_notifications_for_whoever_acts_next(app, region):
    r = region
    b1 = code_for(GEN, 1)
    r[GEN].declare(b1, description(50_000))
    pickup = r[GEN].request("POST", "/api/v1/pickups", {"collector": COLLECTOR, "batches": [b1]})
    got = inbox(app, r[COLLECTOR])
    assert got["unread"] == 1
    assert got["items"][0]["event"] == "pickup.requested"
    assert got["items"][0]["data"]["manifest"] == pickup["manifest"]
    assert got["items"][0]["title"] == "新的收运预约"
    r[GEN].release(b1, COLLECTOR, 50_000, pickup["manifest"], vehicle="浙J·D1234")
    got = inbox(app, r[COLLECTOR])
    assert [i["event"] for i in got["items"]] == ["handover.awaiting_signature",
                                                 "pickup.requested"]
    assert got["items"][0]["data"] | {"entry": 0} == {
        "batch": b1, "manifest": pickup["manifest"], "by": GEN, "step": "answer", "entry": 0}
    r[COLLECTOR].accept(b1, GEN, 50_000, pickup["manifest"])  # completes: nobody is told
    assert inbox(app, r[COLLECTOR])["unread"] == 2
    assert inbox(app, r[GEN])["items"] == []  # the generator acted itself every time

    open_case(r, beijing_today() + dt.timedelta(days=20))
    r[GEN].act("case.responded", case_stream(CASE), {"report": "已整改"})
    r[REGULATOR].act("case.reviewed", case_stream(CASE),
                     {"result": "returned", "reasons": "照片不清楚"})
    got = inbox(app, r[GEN])
    assert [i["event"] for i in got["items"]] == ["case.returned", "case.assigned"]
    assert got["items"][0]["data"]["reasons"] == "照片不清楚"
    # scoped: nobody else sees them, and marking read is the caller's own
    assert inbox(app, r[GENERATORS[1]]) == {"unread": 0, "items": []}
    theirs = [i["id"] for i in inbox(app, r[COLLECTOR])["items"]]
    c = app.test_client()
    marked = c.post("/api/v1/notifications/read", json={"ids": theirs}, headers=headers(r[GEN]))
    assert marked.json == {"marked": 0, "unread": 2}
    one = inbox(app, r[GEN])["items"][0]["id"]
    assert c.post("/api/v1/notifications/read", json={"ids": [one]},
                  headers=headers(r[GEN])).json == {"marked": 1, "unread": 1}
    assert c.post("/api/v1/notifications/read", json={},
                  headers=headers(r[GEN])).json == {"marked": 1, "unread": 0}
    assert inbox(app, r[COLLECTOR])["unread"] == 2
    assert c.get("/api/v1/notifications").status_code == 401


def test_a_notification_never_fails_an_append(app, region):
    """With the notification tables gone (a real failure inside the hook), the signed entries
    are still appended; only the notices are missing."""
    r = region
    with app.app_context():
        db.session.execute(text("DROP TABLE notification_deliveries"))
        db.session.execute(text("DROP TABLE notifications"))
        db.session.commit()
    b1 = code_for(GEN, 1)
    r[GEN].declare(b1, description(10_000))
    receipt = r[GEN].release(b1, COLLECTOR, 10_000, "20263310000001")
    assert receipt["index"] > 0
    assert r[COLLECTOR].accept(b1, GEN, 10_000, "20263310000001")["index"] > receipt["index"]


def test_deadline_reminders_run_once_under_a_lease(app, region, cli):
    r = region
    open_case(r, beijing_today() + dt.timedelta(days=3))
    first = cli("jobs", "run", "deadline-reminders")
    assert first.exit_code == 0, first.output
    assert "deadline-reminders: 1" in first.output
    again = cli("jobs", "run", "deadline-reminders")  # forced again: nothing new to tell
    assert "deadline-reminders: 0" in again.output
    assert "deadline-reminders: skipped" in cli("jobs", "run").output  # not due for an hour
    got = inbox(app, r[GEN])
    assert [i["event"] for i in got["items"]] == ["case.deadline_soon", "case.assigned"]
    assert got["items"][0]["data"]["days_left"] == 3
    with app.app_context():  # two processes at once: one lease
        now = int(time.time() * 1000) + 10 * 3600 * 1000
        assert claim(db.session, "deadline-reminders", "a", 60_000, at_ms=now)
        assert not claim(db.session, "deadline-reminders", "b", 60_000, at_ms=now)
        assert not claim(db.session, "deadline-reminders", "b", 60_000, force=True, at_ms=now)
        assert claim(db.session, "deadline-reminders", "b", 60_000, at_ms=now + 61_000)
    listed = cli("jobs", "list").output
    assert all(j in listed for j in ("deliveries", "look-back", "declarations-due"))
    for job in ("look-back", "declarations-due"):  # the other modules' functions, as jobs
        ran = cli("jobs", "run", job)
        assert ran.exit_code == 0 and "failed" not in ran.output, ran.output
    assert "no job called nothing" in cli("jobs", "run", "nothing").output


def test_declaration_reminders_once_per_due_date(app, region):
    due = [DueDeclaration(GEN, "report", "2026-11", "2026-12-10"),
           DueDeclaration(GEN, "report", "2026-11", "2026-12-10")]
    with app.app_context():
        assert remind_declarations(db.session, due) == 1
        assert remind_declarations(db.session, due[:1]) == 0
    [item] = inbox(app, region[GEN])["items"]
    assert item["event"] == "declaration.due"
    assert item["body"] == "2026-11 的申报请在 2026-12-10 前完成"


def test_webhooks_signed_retried_logged(app, region):
    r = region
    c = app.test_client()
    gen_h = headers(r[COLLECTOR])
    for url, code in (("ftp://127.0.0.1/x", "unprocessable_entity"),  # the schema's pattern
                      ("file:///etc/passwd", "unprocessable_entity"),
                      ("http://user:pw@example.org/", "url_invalid"),
                      ("http://127.0.0.1:99999/", "url_invalid")):
        resp = c.post("/api/v1/webhooks", json={"url": url, "events": ["*"]}, headers=gen_h)
        assert resp.status_code == 422 and resp.json["code"] == code, resp.json
    app.config["NOTIFY_ALLOW_LOOPBACK"] = False
    refused = c.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["*"]},
                     headers=gen_h)
    assert refused.status_code == 422 and refused.json["code"] == "url_forbidden"
    app.config["NOTIFY_ALLOW_LOOPBACK"] = True
    with WebhookReceiver() as receiver:
        made = c.post("/api/v1/webhooks", json={
            "url": receiver.origin + "/hook", "events": ["pickup.requested"]}, headers=gen_h)
        assert made.status_code == 201, made.json
        receiver.secret = made.json["secret"]
        assert "secret" not in c.get("/api/v1/webhooks", headers=gen_h).json["items"][0]
        receiver.got.fail_next = 1
        b1 = code_for(GEN, 1)
        r[GEN].declare(b1, description(50_000))
        pickup = r[GEN].request("POST", "/api/v1/pickups",
                                {"collector": COLLECTOR, "batches": [b1]})
        with app.app_context():
            first = deliver_pending(app)
            assert (first.delivered, first.retrying) == (0, 1)
            assert deliver_pending(app).delivered == 0  # not due yet: backoff
            later = int(time.time() * 1000) + 31_000
            assert deliver_pending(app, at_ms=later).delivered == 1
        [body] = receiver.got.accepted
        assert body["event"] == "pickup.requested" and body["organisation"] == COLLECTOR
        assert body["data"]["manifest"] == pickup["manifest"]
        log = c.get(f"/api/v1/webhooks/{made.json['id']}/deliveries", headers=gen_h).json
        [entry] = log["items"]
        assert entry["status"] == "delivered" and entry["attempts"] == 2
        assert entry["delivery_id"] == body["id"] and entry["last_status"] == 204
        # the receiver's checks: a tampered body, a stale timestamp, a replayed id
        raw = json.dumps(body).encode()
        now = int(time.time())
        good = webhooks.signature(receiver.secret, now, raw)
        assert receiver.check(good, "x-1", raw + b" ")[0] == 401
        stale = webhooks.signature(receiver.secret, now - 301, raw)
        assert receiver.check(stale, "x-2", raw)[0] == 401
        assert receiver.check(good, body["id"], raw) == (200, "already processed")
        assert receiver.got.rejected == ["signature", "signature", "replay"]
        # other organisations see neither the webhook nor its log
        other = headers(r[GEN])
        assert c.get(f"/api/v1/webhooks/{made.json['id']}/deliveries",
                     headers=other).status_code == 404
        assert c.delete(f"/api/v1/webhooks/{made.json['id']}", headers=other).status_code == 404
        assert c.delete(f"/api/v1/webhooks/{made.json['id']}", headers=gen_h).status_code == 204
        assert c.get("/api/v1/webhooks", headers=gen_h).json == {"items": []}


def test_web_push_to_a_real_endpoint(app, region):
    r = region
    c = app.test_client()
    h = headers(r[COLLECTOR])
    key = c.get("/api/v1/push/key", headers=h).json["public_key"]
    assert key == public_key(Path(app.config["VAPID_KEY_FILE"]))
    with PushService(key) as service:
        sub = service.subscription()
        assert c.post("/api/v1/push/subscriptions", json=sub, headers=h).status_code == 201
        bad = {**sub, "keys": {**sub["keys"], "auth": "c2hvcnQ"}}
        assert c.post("/api/v1/push/subscriptions", json=bad, headers=h).status_code == 422
        b1 = code_for(GEN, 1)
        r[GEN].declare(b1, description(50_000))
        r[GEN].request("POST", "/api/v1/pickups", {"collector": COLLECTOR, "batches": [b1]})
        with app.app_context():
            sent = deliver_pending(app)
            assert sent.delivered == 1, (db.session.scalars(select(Delivery.last_error)).all(),
                                         service.got.rejected)
        assert service.got.rejected == []
        [pushed] = service.got.accepted
        assert pushed["title"] == "新的收运预约" and pushed["url"] == "/collector/"
        assert pushed["event"] == "pickup.requested"
        # the browser unsubscribed at the push service: 410, the subscription is dropped
        service.gone.add(sub["endpoint"].rsplit("/", 1)[-1])
        r[GEN].declare(code_for(GEN, 2), description(1_000))
        r[GEN].request("POST", "/api/v1/pickups",
                       {"collector": COLLECTOR, "batches": [code_for(GEN, 2)]})
        with app.app_context():
            assert deliver_pending(app).failed == 1
            assert db.session.scalars(select(Delivery.last_status)).all()[-1] == 410
        assert c.post("/api/v1/push/unsubscribe", json={"endpoint": sub["endpoint"]},
                      headers=h).json == {"removed": False}


def test_the_vapid_key_is_private(app):
    path = Path(app.config["VAPID_KEY_FILE"])
    assert path.stat().st_mode & 0o777 == 0o600
    with app.app_context():
        assert db.session.scalar(select(Notification.id)) is None
    assert jobs.registered(app)["deliveries"].every_seconds == 10


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_marking_read_still_works_when_another_write_landed_since_the_request_began(app, region):
    """SQLite cannot turn a read that another writer has overtaken into a write (its snapshot
    is stale: "database is locked" at once, whatever the busy timeout). Found by the long
    schemathesis run as a 500 on POST /notifications/read; marking read now takes the write
    lock first, as every other write does."""
    from ledger.audit.notifications import mark_read, notify
    from ledger.custody.principals import Principal

    with app.app_context():
        remind_declarations(db.session, [DueDeclaration(GEN, "report", "2026-11", "2026-12-10")])
    me = Principal(org=GEN, name="", roles=frozenset({"generator"}), region="331002")
    with app.app_context():
        db.session.scalar(select(Notification.id).limit(1))  # the request's read, still open
        with Session(db.engine) as other:  # another request's write commits meanwhile
            notify(other, org=GEN, event="declaration.due", key="meanwhile", subject="x",
                   data={})
            other.commit()
        assert mark_read(db.session, me, None) == 2
        assert db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.read_ms.is_(None))) == 0

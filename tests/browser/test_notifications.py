"""A reminder reaches a person in Chromium: in the app (the header badge and the 提醒 list) and
as a Web Push to the page's subscription. Both databases.

Headless Chromium here has no network, so it cannot reach a real push service (FCM):
``PushManager.subscribe`` fails (the first step checks that our page says so). The push
service is then the loopback one of ``tests/api/notify/receivers.py``: the browser's
``subscribe`` is pointed at it (the only part replaced: the browser's own push service), and
everything of ours runs for real — the page asks for permission, fetches the VAPID key, subscribes
with it, sends the subscription; the reminder job writes the notification, the delivery job
encrypts and signs the push; the endpoint checks the VAPID JWT and decrypts the payload, which
is then delivered to our service worker (Chrome DevTools' ServiceWorker.deliverPushMessage),
which shows it as a system notification."""

from __future__ import annotations

import datetime as dt
import json

from playwright.sync_api import Page, expect

from api import jobs
from api.demo.seed import join
from api.extensions import db
from ledger.audit.cases import case_stream
from ledger.clock import beijing_today
from ledger.custody import access
from ledger.custody.uscc import make_uscc
from tests.api.notify.receivers import PushService, b64d
from tests.browser.harness import LiveServer

GEN = make_uscc("331002", 4501)
REG = make_uscc("331002", 4509)
PASSWORD = "reminder-2026"
CASE = "331002-2026-0451"

# Point the browser's PushManager at the loopback push service (its own is unreachable here);
# the applicationServerKey our page passes is kept for the test to compare.
FAKE_PUSH_SERVICE = """
window.__pushService = (subscription) => {
  PushManager.prototype.subscribe = async function (options) {
    window.__serverKey = Array.from(new Uint8Array(options.applicationServerKey));
    const sub = { endpoint: subscription.endpoint, expirationTime: null,
                  toJSON: () => subscription, unsubscribe: async () => true };
    PushManager.prototype.getSubscription = async () => sub;
    return sub;
  };
};
"""


def log_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def test_a_reminder_arrives_as_a_badge_and_as_a_web_push(live_server: LiveServer, page: Page):
    app = live_server.app
    app.config["NOTIFY_ALLOW_LOOPBACK"] = True
    reg = join(app, REG, "椒江区生态环境分局（提醒测试）", "331002", ["regulator"])
    join(app, GEN, "椒江提醒测试五金厂", "331002", ["generator"])
    with app.app_context():
        access.add_user(db.session, "gen", PASSWORD, GEN, "企业")
        db.session.remove()
    page.context.grant_permissions(["notifications"], origin=live_server.url)
    log_in(page, live_server, "gen")
    page.goto(f"{live_server.url}/notifications/")
    expect(page.locator("#nothing")).to_be_visible()
    expect(page.locator("#unread-badge")).to_have_count(0)

    # 1. The real push service is out of reach: the page says subscribing failed.
    # A function, not an expression: Playwright polls an expression with eval(), which the
    # pages' Content-Security-Policy (script-src 'self') refuses whenever the first check is false.
    page.wait_for_function("() => document.body.dataset.pushReady === '1'")
    page.click("#push-on")
    expect(page.locator("#push-state")).to_contain_text("开启推送失败")

    # 2. With the loopback push service standing in for it, the page subscribes for real.
    with app.app_context():
        key = json.loads(app.test_client().get(
            "/api/v1/push/key", headers={"Authorization": "Bearer " + access.issue_token(
                db.session, GEN, "t")}).data)["public_key"]
        db.session.remove()
    with PushService(key) as service:
        subscription = service.subscription()
        page.evaluate(FAKE_PUSH_SERVICE)
        page.evaluate("(s) => window.__pushService(s)", subscription)
        page.click("#push-on")
        expect(page.locator("#push-state")).to_have_text("已开启推送提醒")
        assert bytes(page.evaluate("window.__serverKey")) == b64d(key)

        # 3. A case due in three days; the reminder job and the delivery job run.
        reg.act("case.opened", case_stream(CASE), {
            "region": "331002", "source": "inspection", "type": "storage", "severity": "medium",
            "title": "贮存场所无标识", "facts": "现场检查发现未设置标识牌",
            "organisations": [GEN]})
        reg.act("case.assigned", case_stream(CASE), {
            "assignee": GEN, "person": "王五", "measures": "设置标识",
            "deadline": (beijing_today() + dt.timedelta(days=3)).isoformat()})
        ran = {o.name: o.result for o in jobs.run_due(app, "deadline-reminders")}
        assert ran == {"deadline-reminders": "1"}
        delivered = {o.name: o.result for o in jobs.run_due(app, "deliveries")}
        assert delivered["deliveries"].startswith("delivered 2"), delivered
        assert service.got.rejected == []
        titles = sorted(p["title"] for p in service.got.accepted)
        assert titles == sorted(["新的整改任务", "整改即将到期"])

    # 4. In the app: the badge on every page, the list, and reading clears it.
    page.goto(f"{live_server.url}/rectify/")
    expect(page.locator("#unread-badge")).to_have_text("2")
    page.click("#bell")
    expect(page.locator(".notice-item.unread")).to_have_count(2)
    expect(page.locator(".notice-item").first).to_contain_text("整改即将到期")
    expect(page.locator(".notice-item").first).to_contain_text("还剩 3 天")
    page.click("#read-all")
    expect(page.locator("#unread-badge")).to_have_count(0)

    # 5. The decrypted push delivered to our service worker: it shows the notification.
    pushed = next(p for p in service.got.accepted if p["title"] == "整改即将到期")
    cdp = page.context.new_cdp_session(page)
    registrations: list[dict] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda e: registrations.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    page.wait_for_function("() => navigator.serviceWorker.getRegistration('/collector/')"
                           ".then(r => !!(r && r.active))")
    for _ in range(200):  # the DevTools events arrive on their own; poll, no timing assertion
        scopes = {r["scopeURL"]: r["registrationId"] for r in registrations}
        if f"{live_server.url}/collector/" in scopes:
            break
        page.wait_for_timeout(50)
    reg_id = scopes[f"{live_server.url}/collector/"]
    payload = {k: pushed[k] for k in ("title", "body", "url", "tag", "event", "id")}
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": live_server.url, "registrationId": reg_id, "data": json.dumps(payload)})
    page.wait_for_function("""() => navigator.serviceWorker.getRegistration('/collector/')
        .then(r => r.getNotifications()).then(ns => ns.some(n => n.title === '整改即将到期'))""")
    shown = page.evaluate("""() => navigator.serviceWorker.getRegistration('/collector/')
        .then(r => r.getNotifications()).then(ns => ns.map(n => [n.title, n.body, n.data.url]))""")
    assert [pushed["title"], pushed["body"], "/rectify/"] in shown

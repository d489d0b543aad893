"""The receiving party's pages in Chromium: a driver scanning a printed label through the
phone camera and signing the acceptance on the phone, and the same pickup with no network
(service worker, IndexedDB queue) synced when the network returns."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from api.extensions import db
from api.runtime import log_config
from ledger.custody import access
from ledger.custody.uscc import make_uscc
from ledger.tlog import registry
from ledger.tlog.models import LogEntry, SigningKey
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    DISPOSER_PERMIT,
    GENERATORS,
    STATION,
    build_region,
    code_for,
    description,
)
from tests.browser.camera import png_to_y4m
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.harness import DESKTOP, LOCALE, PHONE, LiveServer, overflow_px, screenshot

G1, G2 = GENERATORS[0], GENERATORS[1]
PASSWORD = "yard-2026"


#: The paths the service worker keeps (its cache is named collector-<version>).
KEPT_OFFLINE = """async () => {
  const name = (await caches.keys()).find((n) => n.startsWith("collector-"));
  const cache = await caches.open(name);
  return (await cache.keys()).map((r) => new URL(r.url).pathname);
}"""


def log_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/collector/")


def open_round(page: Page) -> None:
    """The round page, downloaded to the phone and the device key registered."""
    page.wait_for_selector("body[data-ready='1']")
    expect(page.locator("#round-status")).to_have_attribute("data-state", "downloaded")
    expect(page.locator("#key-status")).to_contain_text("本机签名密钥已登记")


def a_round(server: LiveServer) -> dict[str, object]:
    """Two enterprises' batches on pickup requests to the collector; the first released."""
    app = server.app
    region = build_region(app, generators=2)
    with app.app_context():
        access.add_user(db.session, "driver", PASSWORD, COLLECTOR, "司机")
        db.session.remove()
    a, b = code_for(G1, 1), code_for(G2, 1, "90004149")
    region[G1].declare(a, description(120_000))
    region[G2].declare(b, description(80_500, "900-041-49", "沾染危险废物的包装物"))
    manifests = {}
    for org, code in ((G1, a), (G2, b)):
        pickup = region[org].request("POST", "/api/v1/pickups",
                                     {"collector": COLLECTOR, "batches": [code]})
        manifests[code] = pickup["manifest"]
    region[G1].release(a, COLLECTOR, 120_000, manifests[a])
    return {"region": region, "a": a, "b": b, "manifests": manifests}


def stream(server: LiveServer, code: str) -> list[LogEntry]:
    with server.app.app_context():
        rows = list(db.session.scalars(select(LogEntry).where(LogEntry.stream == code)
                                       .order_by(LogEntry.seq)))
        db.session.expunge_all()
        db.session.remove()
    return rows


def browser_keys(server: LiveServer, org: str, python_key: str) -> set[str]:
    """Fingerprints of the keys registered for ``org`` other than the Python client's."""
    with server.app.app_context():
        keys = set(db.session.scalars(select(SigningKey.fingerprint)
                                      .where(SigningKey.org == org)))
        db.session.remove()
    return keys - {python_key}


def verified_history(server: LiveServer, region, code: str) -> dict:
    detail = region[COLLECTOR].batch(code)
    assert all(e["verified"] and e["signature_valid"] for e in detail["history"]), detail
    return detail


@pytest.fixture
def phone(browser: Browser) -> Iterator[tuple[BrowserContext, Page]]:
    context = browser.new_context(locale=LOCALE, viewport=PHONE, device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    yield context, context.new_page()
    context.close()


def test_driver_scans_a_label_with_the_camera_and_signs_on_the_phone(
        live_server: LiveServer, camera_browser, tmp_path):
    world = a_round(live_server)
    region, code = world["region"], world["a"]
    png, _ = live_server.label_png(code)
    camera = camera_browser(png_to_y4m(png, tmp_path / "label.y4m"))
    context = camera.new_context(locale=LOCALE, viewport=PHONE, device_scale_factor=2,
                                 is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, live_server, "driver")
    open_round(page)
    assert overflow_px(page) <= 0
    enterprises = page.locator("article.enterprise")
    expect(enterprises).to_have_count(2)
    expect(enterprises.first).to_contain_text("椒江小微企业1号")
    expect(page.locator(f"section.pickup[data-manifest='{world['manifests'][code]}']")) \
        .to_be_visible()
    screenshot(page, "collector-round-phone")

    page.click("text=扫码接收")
    page.wait_for_url(f"{live_server.url}/collector/scan")
    # The camera found the label: the batch is shown, nothing was typed.
    expect(page.locator("#batch")).to_be_visible()
    expect(page.locator("#batch-name")).to_have_text("废活性炭")
    expect(page.locator("#batch-manifest")).to_have_text(world["manifests"][code])
    expect(page.locator("#batch-declared")).to_contain_text("120")
    expect(page.locator("#batch-hazards li")).to_have_count(1)
    assert overflow_px(page) <= 0
    screenshot(page, "collector-scan-phone")
    page.fill("#mass-input", "119.5")
    page.click("#accept")
    expect(page.locator("#result-text")).to_contain_text("已签名记录")
    expect(page.locator("#queue-count")).to_have_text("0")

    entries = stream(live_server, code)
    last = entries[-1]
    assert [e.kind for e in entries] == ["batch.declared", "custody.released",
                                         "custody.accepted"]
    assert last.org == COLLECTOR
    assert last.key_fp in browser_keys(live_server, COLLECTOR,
                                       region[COLLECTOR].key.verifier.fingerprint)
    detail = verified_history(live_server, region, code)
    assert detail["holder"] == COLLECTOR and detail["state"] == "stored"
    assert detail["mass_g"] == 119_500
    assert detail["history"][-1]["data"] == {"from": G1, "manifest": world["manifests"][code],
                                             "mass_g": 119_500, "handled_by": "司机"}

    # The next enterprise: its label read from the typed code (with spaces), and the driver
    # signs first, before that enterprise has signed its release.
    page.click("#next-scan")
    other = world["b"]
    page.fill("#code-input", f"{other[:18]} {other[18:26]} {other[26:34]} {other[34:]}")
    page.click("#code-form button[type=submit]")
    expect(page.locator("#batch-name")).to_have_text("沾染危险废物的包装物")
    page.fill("#mass-input", "80.45")
    page.click("#accept")
    expect(page.locator("#result-text")).to_contain_text("已签名记录")
    handover = region[COLLECTOR].batch(other)["handovers"][-1]
    assert handover["status"] == "awaiting_release" and handover["accepted_mass_g"] == 80_450
    context.close()


def test_the_same_pickup_offline_then_synced(live_server: LiveServer, phone):
    context, page = phone
    world = a_round(live_server)
    region, a, b = world["region"], world["a"], world["b"]
    log_in(page, live_server, "driver")
    open_round(page)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    assert {"/collector/", "/collector/scan", "/static/vendor/jsqr/jsQR.js",
            "/static/js/collector/scan.js"} <= set(page.evaluate(KEPT_OFFLINE))

    context.set_offline(True)
    page.goto(f"{live_server.url}/collector/scan")  # from the service worker
    page.wait_for_selector("body[data-ready='1']")
    expect(page.locator("#net-status")).to_have_text("离线")
    for code, mass in ((a, "119.5"), (b, "80.5")):
        page.fill("#code-input", code)
        page.click("#code-form button[type=submit]")
        expect(page.locator("#batch")).to_be_visible()
        page.fill("#mass-input", mass)
        page.click("#accept")
        expect(page.locator("#result-text")).to_contain_text("联网后自动发送")
        page.click("#next-scan")
    expect(page.locator("#queue-count")).to_have_text("2")
    screenshot(page, "collector-offline-phone")
    # Meanwhile the second enterprise signs its release on its own device: the phone's
    # acceptance, chained to the old head, must be re-chained when it is sent.
    region[G2].release(b, COLLECTOR, 80_500, world["manifests"][b])
    page.goto(f"{live_server.url}/collector/")  # also from the service worker
    page.wait_for_selector("body[data-ready='1']")
    expect(page.locator("#queue-count")).to_have_text("2")
    expect(page.locator("#round-status")).to_contain_text("离线")

    context.set_offline(False)  # the `online` event sends the queue
    expect(page.locator("#queue-count")).to_have_text("0")
    outcomes = page.locator("#queue-list li")
    expect(outcomes).to_have_count(2)
    for i in range(2):
        expect(outcomes.nth(i)).to_have_attribute("data-status", "accepted")
        expect(outcomes.nth(i)).to_contain_text("日志序号")
    for code, grams in ((a, 119_500), (b, 80_500)):
        entries = stream(live_server, code)
        assert entries[-1].kind == "custody.accepted" and entries[-1].org == COLLECTOR
        detail = verified_history(live_server, region, code)
        assert detail["holder"] == COLLECTOR and detail["mass_g"] == grams
    assert [e.kind for e in stream(live_server, b)] == [
        "batch.declared", "custody.released", "custody.accepted"]


def test_round_page_at_desktop_width(live_server: LiveServer, page: Page):
    world = a_round(live_server)
    log_in(page, live_server, "driver")
    open_round(page)
    assert page.viewport_size == DESKTOP
    assert overflow_px(page) <= 0
    screenshot(page, "collector-round-desktop")
    page.goto(f"{live_server.url}/collector/scan?code={code_for(G1, 1)}")
    expect(page.locator("#batch-name")).to_have_text("废活性炭")
    screenshot(page, "collector-scan-desktop")
    # A refusal needs a reason; a partial one names the refused mass.
    page.click("#refuse-open")
    page.click("#refuse")
    expect(page.locator("#refuse + #refuse-message")).to_have_text("请填写拒收原因")
    page.select_option("#reason-select", label="包装破损或渗漏")
    page.fill("#reason-text", "一袋破损")
    page.fill("#refused-mass", "12.25")
    page.click("#refuse")
    expect(page.locator("#result-text")).to_contain_text("已拒收")
    detail = world["region"][COLLECTOR].batch(code_for(G1, 1))
    assert detail["history"][-1]["kind"] == "custody.refused"
    assert detail["history"][-1]["data"]["reason"] == "包装破损或渗漏：一袋破损"
    assert detail["handovers"][-1]["refused_mass_g"] == 12_250
    assert detail["holder"] == COLLECTOR and detail["mass_g"] == 120_000 - 12_250


def test_collector_consolidates_and_hands_on_and_the_disposer_disposes(
        live_server: LiveServer, browser: Browser):
    """Held batches on the round page: two consolidated into a drum (hash-linked lineage),
    the drum released to the disposer on a reserved manifest; the disposer accepts it on the
    scanning page and records its disposal — every entry signed in a browser."""
    world = a_round(live_server)
    region, a, b = world["region"], world["a"], world["b"]
    region[G2].release(b, COLLECTOR, 80_500, world["manifests"][b])
    region[COLLECTOR].accept(a, G1, 119_500, world["manifests"][a])
    region[COLLECTOR].accept(b, G2, 80_500, world["manifests"][b])
    with live_server.app.app_context():
        access.add_user(db.session, "burner", PASSWORD, DISPOSER, "处置")
        db.session.remove()

    driver = browser.new_context(locale=LOCALE, viewport=DESKTOP)
    driver.set_default_timeout(TIMEOUT_MS)
    page = driver.new_page()
    log_in(page, live_server, "driver")
    open_round(page)
    held = page.locator("#held li.batch")
    expect(held).to_have_count(2)
    # a and b have different waste codes: refused, nothing signed
    page.check(f"#held input[value='{a}']")
    page.check(f"#held input[value='{b}']")
    page.click("#consolidate-box summary")
    page.click("#consolidate-go")
    expect(page.locator("#action-message")).to_contain_text("同一废物代码")
    page.uncheck(f"#held input[value='{b}']")
    page.fill("#consolidate-container", "200L 铁桶")
    page.click("#consolidate-go")
    expect(page.locator("#action-message")).to_contain_text("已合并为")
    drum = region[COLLECTOR].request(
        "GET", f"/api/v1/batches?generator={COLLECTOR}")["items"][0]["code"]
    detail = verified_history(live_server, region, drum)
    assert detail["parents"] == [{"code": a, "mass_g": 119_500}]
    assert detail["history"][0]["data"]["container"] == {"type": "200L 铁桶", "count": 1}
    # The new drum's label, one tap away: a PDF whose QR code opens the drum's trace page.
    label = page.locator("#child-label")
    expect(label).to_have_attribute("data-code", drum)
    pdf = page.request.get(live_server.url + (label.get_attribute("href") or ""))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    assert region[COLLECTOR].batch(a)["state"] == "consolidated"

    expect(page.locator(f"#held input[value='{drum}']")).to_be_visible()
    page.check(f"#held input[value='{drum}']")
    page.click("#release-box summary")
    page.select_option("#release-to", DISPOSER)
    page.click("#release-go")
    expect(page.locator("#action-message")).to_contain_text("已签名转交 1 批")
    handover = region[COLLECTOR].batch(drum)["handovers"][-1]
    assert handover["to"] == DISPOSER and handover["status"] == "awaiting_answer"
    driver.close()

    burner = browser.new_context(locale=LOCALE, viewport=DESKTOP)
    burner.set_default_timeout(TIMEOUT_MS)
    page = burner.new_page()
    log_in(page, live_server, "burner")
    open_round(page)
    expect(page.locator(f"section.pickup[data-manifest='{handover['manifest']}']")) \
        .to_contain_text("已交出，待接收")
    page.goto(f"{live_server.url}/collector/scan?code={drum}")
    expect(page.locator("#batch-manifest")).to_have_text(handover["manifest"])
    page.fill("#mass-input", "119.5")
    page.click("#accept")
    expect(page.locator("#result-text")).to_contain_text("已签名记录")
    page.goto(f"{live_server.url}/collector/")
    open_round(page)
    page.check(f"#held input[value='{drum}']")
    page.click("#dispose-box summary")
    expect(page.locator("#dispose-permit")).to_have_text(DISPOSER_PERMIT)
    page.click("#dispose-go")
    expect(page.locator("#action-message")).to_contain_text("已记录处置")
    detail = verified_history(live_server, region, drum)
    assert detail["state"] == "disposed"
    assert detail["disposal"]["method_code"] == "D10"
    assert [e["kind"] for e in detail["history"]] == [
        "batch.consolidated", "custody.released", "custody.accepted", "custody.disposed"]
    assert region[COLLECTOR].batch(a)["attributed_disposals"][0]["mass_g"] == 119_500
    burner.close()


def test_masses_and_codes_as_a_driver_types_or_scans_them(live_server: LiveServer, page: Page):
    """Kilograms typed with up to three decimals become integer grams exactly (no floating
    point on the way); a code is accepted as the QR's URL, in groups, or in lower case."""
    page.goto(f"{live_server.url}/login")
    code = code_for(G1, 1)
    got = page.evaluate("""async ([code, base]) => {
      const m = await import("/static/js/collector/common.js");
      const kg = ["119.5", "0.001", "80,45", " 12.250 ", "123456789.999", "1.1", "0",
                  "0.000", "1.2345", "-1", "1e3", "", "abc", "1..2", "0.1", "1,200",
                  "１２０．５", "12,345.5"];
      const codes = [code, base + "/t/" + code, code.toLowerCase(),
                     `${code.slice(0, 18)} ${code.slice(18, 26)} ${code.slice(26)}`,
                     code.slice(1), code + "9", "https://x/t/" + code + "?s=1"];
      return { grams: kg.map(m.parseKg), codes: codes.map(m.normaliseCode),
               shown: [1, 999, 1000, 119500, 123456789999].map(m.kgNumber) };
    }""", [code, live_server.url])
    # A comma is a thousands separator in its place ("1,200" is how the pages show 1200 kg),
    # never a decimal comma: "80,45" is refused rather than read 1000 times too small.
    assert got["grams"] == [119_500, 1, None, 12_250, 123_456_789_999, 1_100, None, None,
                            None, None, None, None, None, None, 100, 1_200_000, 120_500,
                            12_345_500]
    assert got["codes"] == [code, code, code, code, None, None, code]
    assert got["shown"] == ["0.001", "0.999", "1", "119.5", "123456789.999"]


def test_a_weighed_mass_far_from_the_release_is_asked_twice(
        live_server: LiveServer, phone: tuple[BrowserContext, Page]):
    """12 kg typed for a 120 kg release (a slipped decimal point) is not signed on the first
    tap: the page says how far apart they are; a second tap signs what was typed."""
    world = a_round(live_server)
    _, page = phone
    log_in(page, live_server, "driver")
    open_round(page)
    page.goto(f"{live_server.url}/collector/scan?code={world['a']}")
    expect(page.locator("#batch-name")).to_have_text("废活性炭")
    mass = page.locator("#mass-input")
    # The box is empty, and says what to type (no number that looks filled in).
    expect(mass).to_have_value("")
    expect(mass).to_have_attribute("placeholder", "填写磅秤读数")
    expect(page.locator("#mass-hint")).to_have_text("对照：120 千克。请按实际称重填写。")
    message = page.locator("#accept + #accept-message")
    page.click("#accept")  # nothing typed
    expect(message).to_have_text("请先称重，在上面填写磅秤读数（千克）")
    expect(message).to_be_in_viewport()
    page.fill("#mass-input", "65,3")  # a decimal comma
    page.click("#accept")
    expect(message).to_have_text("小数请用点号，如 65.3；逗号只用作千位分隔，如 1,200")
    assert [e.kind for e in stream(live_server, world["a"])][-1] == "custody.released"
    page.fill("#mass-input", "12")
    page.click("#accept")
    expect(message).to_contain_text("相差 90.0%")
    expect(message).to_be_in_viewport()
    assert [e.kind for e in stream(live_server, world["a"])][-1] == "custody.released"
    page.click("#accept")
    expect(page.locator("#result-text")).to_contain_text("已接收 12 千克")
    last = stream(live_server, world["a"])[-1]
    assert last.kind == "custody.accepted"


def test_no_dead_end_between_a_collector_and_a_station(live_server: LiveServer, browser: Browser):
    """The path of issue 13: a release fails on an unregistered plate after its manifest was
    reserved; the reservation is given back and the retry with a registered plate works. A
    reservation left behind is seen and cancelled; a station that signed its receipt first is
    shown as waiting for the collector, who completes the handover (no batch stuck on
    "交接中"); a release not yet answered is withdrawn with a signed entry and sent elsewhere."""
    world = a_round(live_server)
    region, a, b, manifests = world["region"], world["a"], world["b"], world["manifests"]
    region[G2].release(b, COLLECTOR, 80_500, manifests[b])
    region[COLLECTOR].accept(a, G1, 120_000, manifests[a])
    region[COLLECTOR].accept(b, G2, 80_500, manifests[b])
    with live_server.app.app_context():
        access.add_user(db.session, "yard", PASSWORD, STATION, "中转站")
        db.session.remove()
    unpermitted = make_uscc("331003", 202)
    region.join(unpermitted, "无许可证的处置厂", "331003", ["disposer"])

    driver = browser.new_context(locale=LOCALE, viewport=PHONE, device_scale_factor=2,
                                 is_mobile=True, has_touch=True)
    driver.set_default_timeout(TIMEOUT_MS)
    page = driver.new_page()
    log_in(page, live_server, "driver")
    open_round(page)
    page.check(f"#held input[value='{a}']")
    page.click("#release-box summary")
    # only receivers whose permit covers the ticked batch; the others are named, with why
    expect(page.locator(f"#release-to option[value='{unpermitted}']")).to_have_count(0)
    expect(page.locator("#release-not-offered")).to_contain_text("无许可证的处置厂（900-039-49）")
    page.select_option("#release-to", STATION)
    # Only registered plates are offered (the collector's); another one may be typed.
    assert page.locator("#release-vehicle option").all_inner_texts()[1:-1] == ["浙J·D1234"]
    page.select_option("#release-vehicle", "*other")
    page.fill("#release-vehicle-other", "浙J·X9999")
    page.click("#release-go")
    message = page.locator("#release-go + #action-message")
    expect(message).to_contain_text("车辆未登记在承运单位名下")
    expect(message).to_contain_text("已取消为这一趟预留的联单")
    expect(message).to_be_in_viewport()
    assert [e.kind for e in stream(live_server, a)][-1] == "custody.accepted"  # nothing signed
    assert region[COLLECTOR].request("GET", "/api/v1/pickups?status=open")["items"] == []
    page.check(f"#held input[value='{a}']")
    page.select_option("#release-vehicle", "浙J·D1234")
    page.click("#release-go")
    expect(message).to_contain_text("已签名转交 1 批")
    first = region[COLLECTOR].batch(a)["handovers"][-1]
    assert (first["to"], first["status"]) == (STATION, "awaiting_answer")

    # A reservation left by an earlier failed attempt (as older pages did), for b.
    stale = region[COLLECTOR].request("POST", "/api/v1/pickups",
                                      {"collector": STATION, "batches": [b]})["manifest"]
    # The station sees it on its round and signs its receipt before the collector released.
    station = browser.new_context(locale=LOCALE, viewport=DESKTOP)
    station.set_default_timeout(TIMEOUT_MS)
    yard = station.new_page()
    log_in(yard, live_server, "yard")
    open_round(yard)
    expect(yard.locator(f"section.pickup[data-manifest='{stale}']")).to_be_visible()
    yard.goto(f"{live_server.url}/collector/scan?code={b}")
    expect(yard.locator("#batch-manifest")).to_have_text(stale)
    yard.fill("#mass-input", "80.5")
    yard.click("#accept")
    expect(yard.locator("#result-text")).to_contain_text("已签名记录")
    yard.goto(f"{live_server.url}/collector/")
    open_round(yard)
    waiting = yard.locator(f".handover-box[data-code='{b}']")
    expect(waiting).to_contain_text("等 台州市绿源环保收集有限公司 签名交出")
    expect(waiting).to_have_attribute("data-next", "them")
    expect(waiting.locator("button[data-action='withdraw']")).to_have_text("撤回签收")

    # The collector: scanning no longer says only "本单位已持有该批次"; the round says who
    # signs next and lets it finish.
    page.goto(f"{live_server.url}/collector/scan?code={b}")
    expect(page.locator("#batch-note")).to_contain_text("椒江危废中转站 已签收")
    page.click("#batch-note a")
    open_round(page)
    box = page.locator(f".handover-box[data-code='{b}']")
    expect(box).to_have_attribute("data-next", "me")
    expect(box).to_contain_text(f"椒江危废中转站 已签收 80.5 千克（联单 {stale}）")
    screenshot(page, "collector-handover-phone")
    box.locator("button[data-action='complete']").click()
    expect(page.locator("#action-message")).to_contain_text(
        f"已签名交给 椒江危废中转站，联单 {stale}")
    expect(page.locator(f"#held li.batch[data-code='{b}']")).to_have_count(0)
    detail = verified_history(live_server, region, b)
    assert (detail["holder"], detail["state"]) == (STATION, "stored")

    # a: released, not yet answered. Withdrawn (two taps, signed), then its reservation
    # cancelled, then released to the disposer instead.
    box = page.locator(f".handover-box[data-code='{a}']")
    expect(box).to_contain_text("等对方签收")
    box.locator("button[data-action='withdraw']").click()
    expect(box.locator("button[data-action='withdraw']")).to_have_text("再按一次确认撤回")
    assert [e.kind for e in stream(live_server, a)][-1] == "custody.released"
    box.locator("button[data-action='withdraw']").click()
    expect(page.locator("#action-message")).to_contain_text(f"已签名撤回联单 {first['manifest']}")
    expect(page.locator(f"#held input[value='{a}']")).to_be_enabled()
    detail = verified_history(live_server, region, a)
    assert (detail["holder"], detail["state"]) == (COLLECTOR, "stored")
    assert detail["history"][-1]["data"]["manifest"] == first["manifest"]
    reservation = page.locator(f"article.outgoing[data-manifest='{first['manifest']}']")
    expect(reservation).to_contain_text("椒江危废中转站")
    reservation.locator("button.cancel-pickup").click()
    expect(page.locator("#action-message")).to_contain_text("已取消联单")
    expect(page.locator("#outgoing-section")).to_be_hidden()
    page.check(f"#held input[value='{a}']")
    page.click("#release-box summary")
    page.select_option("#release-to", DISPOSER)
    page.click("#release-go")
    expect(page.locator("#action-message")).to_contain_text("已签名转交 1 批")
    assert [e.kind for e in stream(live_server, a)][-3:] == [
        "custody.released", "custody.withdrawn", "custody.released"]
    assert region[COLLECTOR].batch(a)["handovers"][-1]["to"] == DISPOSER
    station.close()
    driver.close()


def test_the_result_card_follows_the_queue_and_the_camera_error_is_in_chinese(
        live_server: LiveServer, phone: tuple[BrowserContext, Page]):
    """An acceptance signed offline says "联网后自动发送"; when the network returns and the
    queue is sent, the same card says it was recorded, with its log index. Without a camera
    the page says why in the page's language (not the browser's English)."""
    world = a_round(live_server)
    context, page = phone
    log_in(page, live_server, "driver")
    open_round(page)
    page.goto(f"{live_server.url}/collector/scan")
    page.wait_for_selector("body[data-ready='1']")
    status = page.locator("#camera-status")
    expect(status).to_contain_text("手动输入识别码")
    assert not re.search("[A-Za-z]", status.inner_text()), status.inner_text()
    context.set_offline(True)
    page.fill("#code-input", world["a"])
    page.click("#code-form button[type=submit]")
    page.fill("#mass-input", "119.5")
    page.click("#accept")
    result = page.locator("#result-text")
    expect(result).to_contain_text("联网后自动发送")
    context.set_offline(False)
    expect(result).to_contain_text("已发送并签名记录 · 日志序号")
    expect(result).not_to_contain_text("联网后自动发送")
    assert stream(live_server, world["a"])[-1].kind == "custody.accepted"


def test_a_consolidation_that_fails_half_way_still_makes_the_drum(live_server: LiveServer,
                                                                 page: Page):
    """Two drums picked for consolidation; meanwhile another device of the collector released
    the second. Its hand-off is refused (handover_open) after the first was poured: the page
    makes the new drum of what was poured, says which one was left out, and that one stays."""
    world = a_round(live_server)
    region, a = world["region"], world["a"]
    c = code_for(G2, 2)
    region[G2].declare(c, description(30_000))
    onward = region[G2].request("POST", "/api/v1/pickups",
                                {"collector": COLLECTOR, "batches": [c]})["manifest"]
    region[COLLECTOR].accept(a, G1, 120_000, world["manifests"][a])
    region[G2].release(c, COLLECTOR, 30_000, onward)
    region[COLLECTOR].accept(c, G2, 30_000, onward)
    log_in(page, live_server, "driver")
    open_round(page)
    page.check(f"#held input[value='{a}']")
    page.check(f"#held input[value='{c}']")
    # the other device: c is now on its way to the station
    station_trip = region[COLLECTOR].request("POST", "/api/v1/pickups",
                                             {"collector": STATION, "batches": [c]})["manifest"]
    region[COLLECTOR].release(c, STATION, 30_000, station_trip)
    page.click("#consolidate-box summary")
    page.click("#consolidate-go")
    message = page.locator("#consolidate-go + #action-message")
    expect(message).to_contain_text("已把 1 批合并为")
    expect(message).to_contain_text("未能并入")
    drum = region[COLLECTOR].request(
        "GET", f"/api/v1/batches?generator={COLLECTOR}")["items"][0]["code"]
    detail = verified_history(live_server, region, drum)
    assert detail["parents"] == [{"code": a, "mass_g": 120_000}]
    assert detail["mass_g"] == 120_000 and detail["holder"] == COLLECTOR
    assert region[COLLECTOR].batch(a)["state"] == "consolidated"
    assert region[COLLECTOR].batch(c)["state"] == "pending"  # untouched by the page
    expect(page.locator(f"#held li.batch[data-code='{drum}']")).to_be_visible()


def test_a_code_opened_on_a_phone_without_the_round_waits_for_it(
        live_server: LiveServer, phone: tuple[BrowserContext, Page]):
    """A link to a batch on a pickup request, not yet released, opened on a phone that has no
    round stored: the look-up waits for the round the page downloads and offers the accept
    form (it said "not handed to this unit" before)."""
    world = a_round(live_server)
    _, page = phone
    log_in(page, live_server, "driver")
    open_round(page)
    page.evaluate("""async () => {
      const { openDB } = await import("/static/vendor/idb/index.js");
      const db = await openDB("waste-ledger-collector", 1);
      await db.clear("round");
      db.close();
    }""")
    page.goto(f"{live_server.url}/collector/scan?code={world['b']}")
    page.wait_for_selector("body[data-ready='1']")
    expect(page.locator("#batch-manifest")).to_have_text(str(world["manifests"][world["b"]]))
    expect(page.locator("#accept-form")).to_be_visible()
    expect(page.locator("#batch-note")).to_be_hidden()


def test_a_revoked_key_is_replaced_when_the_round_opens(
        live_server: LiveServer, phone: tuple[BrowserContext, Page]):
    """The unit's admin revoked this phone's key: the round page no longer says the key is
    registered; it makes and registers a new one by itself and says so."""
    world = a_round(live_server)
    _, page = phone
    log_in(page, live_server, "driver")
    open_round(page)
    device_key = """async (org) => {
      const key = await (await import("/static/js/ledger.js")).deviceKey(org);
      return { fingerprint: key.fingerprint, name: key.name, registered: key.registered };
    }"""
    old = page.evaluate(device_key, COLLECTOR)
    with live_server.app.app_context():
        registry.revoke_key(db.session, log_config(), COLLECTOR, old["fingerprint"], "手机丢失")
        db.session.remove()
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    expect(page.locator("#key-status")).to_contain_text("原来的签名密钥已被注销")
    new = page.evaluate(device_key, COLLECTOR)
    assert new["fingerprint"] != old["fingerprint"] and new["registered"]
    expect(page.locator("#key-status")).to_contain_text(new["name"])
    with live_server.app.app_context():
        assert db.session.get(SigningKey, new["fingerprint"]).revoked_at is None
        db.session.remove()
    # revoked while a page is open: the signature refused as key_revoked is made again with a
    # new key, once, and goes through
    page.goto(f"{live_server.url}/collector/scan?code={world['a']}")
    expect(page.locator("#batch-name")).to_have_text("废活性炭")
    with live_server.app.app_context():
        registry.revoke_key(db.session, log_config(), COLLECTOR, new["fingerprint"], "误操作")
        db.session.remove()
    page.fill("#mass-input", "120")
    page.click("#accept")
    expect(page.locator("#result-text")).to_contain_text("已接收 120 千克")
    third = page.evaluate(device_key, COLLECTOR)
    assert third["fingerprint"] not in (old["fingerprint"], new["fingerprint"])
    assert stream(live_server, world["a"])[-1].key_fp == third["fingerprint"]


def test_a_batch_refused_whole_goes_elsewhere_after_cancelling_its_reservation_there(
        live_server: LiveServer, phone: tuple[BrowserContext, Page]):
    """The station refused the whole batch; handing it to the disposer is blocked by the open
    reservation to the station: the message names that manifest and offers its cancel right
    there; after cancelling, the release to the disposer goes through."""
    world = a_round(live_server)
    region, a, manifests = world["region"], world["a"], world["manifests"]
    region[COLLECTOR].accept(a, G1, 120_000, manifests[a])
    first = region[COLLECTOR].request("POST", "/api/v1/pickups",
                                      {"collector": STATION, "batches": [a]})["manifest"]
    region[COLLECTOR].release(a, STATION, 120_000, first)
    region[STATION].refuse(a, COLLECTOR, first, "包装破损")
    _, page = phone
    log_in(page, live_server, "driver")
    open_round(page)
    page.check(f"#held input[value='{a}']")
    page.click("#release-box summary")
    page.select_option("#release-to", DISPOSER)
    page.click("#release-go")
    message = page.locator("#release-go + #action-message")
    expect(message).to_contain_text(f"联单 {first} 中")
    message.locator("button.cancel-pickup").click()
    expect(page.locator("#action-message")).to_contain_text(f"已取消联单 {first} 的预约")
    page.check(f"#held input[value='{a}']")
    page.select_option("#release-to", DISPOSER)
    page.click("#release-go")
    expect(page.locator("#action-message")).to_contain_text("已签名转交 1 批")
    assert region[COLLECTOR].batch(a)["handovers"][-1]["to"] == DISPOSER

"""The transfer manifest's parties on their pages, in Chromium, on both databases.

- A transport company that only carries (承运人) opens its phone round, sees the trip it is named
  on and signs 起运 (vehicle and driver; no driver typed is refused beside the button, nothing
  signed) and 运抵 for both batches of the trip, one tap each; the enterprise (移出人) sees who
  signed which part on 我的批次.
- The receiver refuses part of a delivery: the enterprise takes the refused part back from
  我的批次 with one tap (a new batch of its own, 待收集). A part another device of the
  enterprise took back meanwhile is refused beside its button (refused_part_taken).
- A collector (移出人) takes back the part refused to it on its round and re-routes it to a
  transfer station with the usual release (no receiver chosen is refused beside the button),
  or returns it to the enterprise (退回), which signs for it on 我的批次.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from api.demo.seed import make_uscc
from api.extensions import db
from ledger.custody import access
from ledger.custody.projections import Batch
from ledger.tlog.entries import parse_entry
from ledger.tlog.models import LogEntry
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    STATION,
    build_region,
    code_for,
    description,
    manifest,
)
from tests.browser.harness import LiveServer, overflow_px

GEN = GENERATORS[0]
CARRIER = make_uscc("331002", 2004)
PLATE = "浙J·Y6001"
PASSWORD = "legs-2026"


def entries(server: LiveServer, code: str) -> list[tuple[str, dict]]:
    with server.app.app_context():
        rows = [(r.kind, parse_entry(r.note, max_size=len(r.note)).data)
                for r in db.session.scalars(select(LogEntry).where(LogEntry.stream == code)
                                            .order_by(LogEntry.seq))]
        db.session.remove()
    return rows


def batch(server: LiveServer, code: str) -> Batch:
    with server.app.app_context():
        b = db.session.get(Batch, code)
        assert b is not None
        db.session.expunge(b)
        db.session.remove()
    return b


def log_in(page: Page, server: LiveServer, username: str, path: str, ready: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{server.url}{path}")
    page.wait_for_selector(ready)


def carried_trip(server: LiveServer, masses=(120_000, 40_000)):
    """The enterprise releases two batches straight to the disposer on one manifest, with a
    transport company that only carries named on it."""
    region = build_region(server.app, generators=1)
    region.join(CARRIER, "台州市安运危险货物运输有限公司", "331002", ["transporter"],
                vehicles=(PLATE,))
    with server.app.app_context():
        access.add_user(db.session, "carrier", PASSWORD, CARRIER, "赵师傅")
        access.add_user(db.session, "maker", PASSWORD, GEN, "李厂长")
        access.add_user(db.session, "hauler", PASSWORD, COLLECTOR, "王司机")
        db.session.remove()
    codes = []
    for serial, mass in enumerate(masses, start=1):
        code = code_for(GEN, serial)
        region[GEN].declare(code, description(mass))
        region[GEN].act("custody.released", code, {
            "to": DISPOSER, "mass_g": mass, "manifest": manifest(1), "carrier": CARRIER,
            "vehicle": PLATE})
        codes.append(code)
    return region, codes


def test_a_carrier_signs_its_leg_and_the_enterprise_sees_it(live_server: LiveServer,
                                                           phone_page: Page, page: Page):
    region, codes = carried_trip(live_server)
    log_in(phone_page, live_server, "carrier", "/collector/", "body[data-ready='1']")
    expect(phone_page.locator("#key-status")).to_contain_text("本机签名密钥已登记")
    trip = phone_page.locator(f"#trips article[data-manifest='{manifest(1)}']")
    expect(trip).to_have_attribute("data-role", "carrier")
    expect(trip.locator("li.batch")).to_have_count(2)
    assert overflow_px(phone_page) <= 0  # fits the phone: no sideways scrolling
    # failure: no driver typed — said beside the button, nothing signed
    trip.locator(".carrier-driver").fill("")
    trip.locator("button[data-event='departed']").click()
    expect(phone_page.locator("#action-message")).to_contain_text("请填写驾驶员姓名")
    assert [k for k, _ in entries(live_server, codes[0])][-1] == "custody.released"
    trip.locator(".carrier-driver").fill("赵建国")
    expect(trip.locator(".carrier-vehicle")).to_have_value(PLATE)
    trip.locator("button[data-event='departed']").click()
    expect(phone_page.locator("#action-message")).to_contain_text("已签名起运 2 件")
    for code in codes:
        kind, data = entries(live_server, code)[-1]
        assert kind == "custody.carried"
        assert (data["event"], data["vehicle"], data["driver"]) == ("departed", PLATE, "赵建国")
        assert data["handled_by"] == "赵师傅"
    trip = phone_page.locator(f"#trips article[data-manifest='{manifest(1)}']")
    trip.locator("button[data-event='arrived']").click()
    expect(phone_page.locator("#action-message")).to_contain_text("已签名运抵 2 件")
    assert [entries(live_server, c)[-1][1]["event"] for c in codes] == ["arrived", "arrived"]
    expect(phone_page.locator(f"#trips article[data-manifest='{manifest(1)}']")).to_contain_text(
        "本单位在这张联单上没有要签的了")
    # custody did not move: the carrier only carried
    assert batch(live_server, codes[0]).holder == GEN
    # the 移出人 sees who signed which part
    log_in(page, live_server, "maker", "/generator/", "#trips")
    row = page.locator(f"#trips article[data-manifest='{manifest(1)}'] li[data-code='{codes[0]}']")
    expect(row.locator("[data-leg='departed']")).to_contain_text("✓")
    expect(row.locator("[data-leg='arrived']")).to_contain_text("✓")
    expect(page.locator("#trips")).to_contain_text("赵建国")


def test_the_enterprise_takes_the_refused_part_back_from_its_batch_list(
        live_server: LiveServer, page: Page):
    region, (a, b) = carried_trip(live_server)
    refusals = {}
    for code, kg in ((a, 15_000), (b, 5_000)):
        for event in ("departed", "arrived"):
            extra = {"vehicle": PLATE, "driver": "赵建国"} if event == "departed" else {}
            region[CARRIER].act("custody.carried", code,
                                {"manifest": manifest(1), "event": event, **extra})
        refusals[code] = region[DISPOSER].refuse(code, GEN, manifest(1), "一袋破损",
                                                 refused_mass_g=kg)
    log_in(page, live_server, "maker", "/generator/", "body[data-refused-ready='1']")
    alerts = page.locator("#handover-alerts")
    expect(alerts.locator("button.take-back")).to_have_count(2)
    # failure: another device of the enterprise took a's part back after this page loaded
    other = region[GEN].request("GET", "/api/v1/collector/child-code?waste_code=900-039-49")
    region[GEN].act("batch.refused_part", other["code"], {
        "parent": a, "refusal": refusals[a]["leaf_hash"], "mass_g": 15_000})
    row_a = alerts.locator(f"li[data-batch='{a}']")
    row_a.locator("button.take-back").click()
    expect(row_a.locator(".take-back-message")).to_contain_text("收回失败")
    expect(row_a.locator(".take-back-message")).to_contain_text(other["code"])
    # b's part: one tap, a batch of the enterprise's own, back with it to be collected again
    row_b = alerts.locator(f"li[data-batch='{b}']")
    row_b.locator("button.take-back").click()
    message = row_b.locator(".take-back-message")
    expect(message).to_contain_text("已签名收回拒收部分")
    part = message.get_attribute("data-code")
    assert part and part.startswith(GEN)
    got = batch(live_server, part)
    assert (got.holder, got.state, got.mass_g) == (GEN, "declared", 5_000)
    kind, data = entries(live_server, part)[0]
    assert kind == "batch.refused_part" and data["parent"] == b
    page.reload()
    expect(page.locator("#handover-alerts button.take-back")).to_have_count(0)
    expect(page.locator(f"#handover-alerts li[data-batch='{b}']")).to_contain_text(part)
    # the way forward: it is 待收集 and can be picked for a pickup request like any batch
    expect(page.locator(f"tr[data-code='{part}'] input[name=codes]")).to_have_attribute(
        "data-available", "yes")


def collector_takes_back(live_server: LiveServer, phone_page: Page) -> str:
    """A collector fetched the enterprise's batch and had 20 kg of it refused by the disposer;
    it takes the part back on its round. Returns the part's code."""
    region, _ = carried_trip(live_server, masses=())
    code = code_for(GEN, 5)
    region[GEN].declare(code, description(120_000))
    pickup = region[GEN].request("POST", "/api/v1/pickups", {"collector": COLLECTOR,
                                                             "batches": [code]})
    region[GEN].release(code, COLLECTOR, 120_000, pickup["manifest"])
    region[COLLECTOR].accept(code, GEN, 120_000, pickup["manifest"])
    region[COLLECTOR].release(code, DISPOSER, 120_000, manifest(7))
    region[DISPOSER].refuse(code, COLLECTOR, manifest(7), "含水过多", refused_mass_g=20_000)
    log_in(phone_page, live_server, "hauler", "/collector/", "body[data-ready='1']")
    card = phone_page.locator(f"#refused-parts article[data-batch='{code}']")
    expect(card).to_contain_text("含水过多")
    card.locator("button.take-back").click()
    expect(phone_page.locator("#action-message")).to_contain_text("已收回 20")
    expect(phone_page.locator("#refused-section")).to_be_hidden()
    with live_server.app.app_context():
        part = db.session.scalars(select(Batch.code).where(Batch.holder == COLLECTOR,
                                                           Batch.state == "refused")).one()
        db.session.remove()
    return part


def test_a_collector_takes_back_its_refused_part_and_re_routes_it(live_server: LiveServer,
                                                                 phone_page: Page):
    part = collector_takes_back(live_server, phone_page)
    held = phone_page.locator(f"#held li[data-code='{part}']")
    expect(held).to_contain_text("被拒收")
    held.locator("input.pick-box").check()
    phone_page.click("#release-box summary")
    # failure: no receiver chosen — said beside the button, nothing signed
    phone_page.click("#release-go")
    expect(phone_page.locator("#action-message")).to_contain_text("请选择接收单位")
    assert [k for k, _ in entries(live_server, part)] == ["batch.refused_part"]
    phone_page.select_option("#release-to", STATION)
    phone_page.click("#release-go")
    expect(phone_page.locator("#action-message")).to_contain_text("已签名转交 1 批")
    kind, data = entries(live_server, part)[-1]
    assert kind == "custody.released" and data["to"] == STATION


def test_a_collector_returns_its_refused_part_and_the_enterprise_signs_for_it(
        live_server: LiveServer, phone_page: Page, page: Page):
    part = collector_takes_back(live_server, phone_page)
    held = phone_page.locator(f"#held li[data-code='{part}']")
    held.locator("button.return-enterprise").click()
    expect(phone_page.locator("#action-message")).to_contain_text("已签名退回")
    kind, data = entries(live_server, part)[-1]
    assert kind == "custody.released" and data["to"] == GEN
    log_in(page, live_server, "maker", "/generator/", "body[data-refused-ready='1']")
    row = page.locator(f"#returns li[data-batch='{part}']")
    expect(row).to_contain_text("20")
    before = entries(live_server, part)
    row.locator("button.accept-return").click()
    expect(row.locator(".accept-return-message")).to_contain_text("已签收退回的批次")
    got = batch(live_server, part)
    assert (got.holder, got.state) == (GEN, "declared")
    assert len(entries(live_server, part)) == len(before) + 1

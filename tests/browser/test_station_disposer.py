"""A transfer station's own page and a disposer's page in Chromium, on both databases: the
station signs for arrivals (a missing weight is refused next to the button), stores one into a
registered facility (入库, with the person's name in the signed entry), consolidates (出库
first, by itself) and prints the new drum's label at once, and hands the drum on; the disposer
signs for it, picks the 利用/处置方式 from the loaded list (none chosen is refused), records the
disposal and the residue it produced as a new linked batch with its label."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from api.extensions import db
from ledger.custody import access
from ledger.custody.projections import Batch, Residue, StorageStay
from ledger.custody.reference import METHODS, import_list
from ledger.custody.uscc import make_uscc
from ledger.tlog.entries import parse_entry
from ledger.tlog.models import LogEntry
from ledger.tlog.rules import org_stream
from tests.api.lifecycle import (
    DISPOSER,
    GENERATORS,
    STATION,
    build_region,
    code_for,
    description,
)
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.harness import DESKTOP, LOCALE, LiveServer, overflow_px

G1, G2 = GENERATORS[0], GENERATORS[1]
PASSWORD = "yard-2026"
FIXTURES = Path(__file__).parents[1] / "data" / "reference"
UNPERMITTED = make_uscc("331003", 202)


def log_in(page: Page, server: LiveServer, username: str, path: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/collector/")
    page.goto(f"{server.url}{path}")
    page.wait_for_selector("body[data-ready='1']")
    expect(page.locator("#key-status")).to_contain_text("本机签名密钥已登记")


def entries(server: LiveServer, code: str) -> list[tuple[str, dict]]:
    with server.app.app_context():
        rows = [(r.kind, parse_entry(r.note, max_size=len(r.note)).data)
                for r in db.session.scalars(select(LogEntry).where(LogEntry.stream == code)
                                            .order_by(LogEntry.seq))]
        db.session.remove()
    return rows


def arrivals(server: LiveServer):
    """Two enterprises' activated carbon released to the station on pickup requests."""
    region = build_region(server.app, generators=2)
    region.join(UNPERMITTED, "无许可证的处置厂", "331003", ["disposer"])
    with server.app.app_context():
        access.add_user(db.session, "yard", PASSWORD, STATION, "周站长")
        access.add_user(db.session, "burner", PASSWORD, DISPOSER, "钱主任")
        db.session.remove()
    region[STATION].act("facility.registered", org_stream(STATION), {
        "code": "ZZ-1", "name": "中转仓库一号", "type": "贮存库", "capacity_kg": 50_000})
    codes = []
    for org, mass in ((G1, 120_000), (G2, 80_000)):
        code = code_for(org, 1)
        region[org].declare(code, description(mass))
        pickup = region[org].request("POST", "/api/v1/pickups",
                                     {"collector": STATION, "batches": [code]})
        region[org].release(code, STATION, mass, pickup["manifest"])
        codes.append(code)
    return region, codes


def test_a_station_receives_stores_consolidates_prints_and_hands_on(
        live_server: LiveServer, browser: Browser):
    region, (a, b) = arrivals(live_server)
    context = browser.new_context(locale=LOCALE, viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, live_server, "yard", "/collector/station")
    expect(page.locator("#incoming li.batch")).to_have_count(2)
    # failure: no weight typed, nothing signed, the message beside the button
    page.locator(f"#incoming li[data-code='{a}'] button.accept").click()
    expect(page.locator("#action-message")).to_contain_text("请先称重")
    # a decimal comma is named as such (the scan page's parser and message), not "weigh first"
    page.locator(f"#incoming li[data-code='{a}'] input.weighed").fill("65,3")
    page.locator(f"#incoming li[data-code='{a}'] button.accept").click()
    expect(page.locator("#action-message")).to_contain_text("小数请用点号，如 65.3")
    assert [k for k, _ in entries(live_server, a)] == ["batch.declared", "custody.released"]
    page.locator(f"#incoming li[data-code='{a}'] input.weighed").fill("119.5")
    page.locator(f"#incoming li[data-code='{a}'] button.accept").click()
    expect(page.locator("#action-message")).to_have_text("已接收 119.5 千克")  # once
    page.locator(f"#incoming li[data-code='{b}'] input.weighed").fill("80")
    page.locator(f"#incoming li[data-code='{b}'] button.accept").click()
    expect(page.locator("#held li.batch")).to_have_count(2)
    # 入库 into the registered facility
    expect(page.locator("#facilities")).to_contain_text("ZZ-1 中转仓库一号")
    page.select_option("#facility", "ZZ-1")
    page.locator(f"#held li[data-code='{a}'] button.store-in").click()
    expect(page.locator("#action-message")).to_contain_text("已签名入库 ZZ-1")
    expect(page.locator(f"#held li[data-code='{a}']")).to_contain_text("在 ZZ-1 贮存")
    kind, data = entries(live_server, a)[-1]
    assert kind == "storage.in" and data["facility"] == "ZZ-1"
    assert data["handled_by"] == "周站长"  # the person logged in, inside the signed payload
    # consolidate both: a leaves storage first, by itself; the new drum's label at once
    page.check(f"#held input[value='{a}']")
    page.check(f"#held input[value='{b}']")
    page.click("#consolidate-box summary")
    page.click("#consolidate-go")
    expect(page.locator("#action-message")).to_contain_text("已合并为")
    label = page.locator("#child-label")
    expect(label).to_be_visible()
    drum = label.get_attribute("data-code")
    pdf = page.request.get(live_server.url + (label.get_attribute("href") or ""))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    assert [k for k, _ in entries(live_server, a)][-2:] == ["storage.out",
                                                           "custody.consolidated_out"]
    with live_server.app.app_context():
        stay = db.session.scalars(select(StorageStay)).one()
        assert (stay.facility, stay.out_mass_g) == ("ZZ-1", 119_500)
        assert db.session.get(Batch, drum).mass_g == 199_500
        db.session.remove()
    # hand the drum on to the disposer
    page.check(f"#held input[value='{drum}']")
    page.click("#release-box summary")
    # a receiver with no permit covering what the station holds is not offered
    expect(page.locator(f"#release-to option[value='{UNPERMITTED}']")).to_have_count(0)
    page.select_option("#release-to", DISPOSER)
    page.click("#release-go")
    expect(page.locator("#action-message")).to_contain_text("已签名转交 1 批")
    handover = region[STATION].batch(drum)["handovers"][-1]
    assert (handover["to"], handover["status"]) == (DISPOSER, "awaiting_answer")
    context.close()


def test_a_disposer_receives_picks_the_method_from_the_list_and_records_the_residue(
        live_server: LiveServer, browser: Browser):
    region, (a, _) = arrivals(live_server)
    region[STATION].accept(a, G1, 120_000, region[STATION].batch(a)["handovers"][-1]["manifest"])
    pickup = region[STATION].request("POST", "/api/v1/pickups",
                                     {"collector": DISPOSER, "batches": [a]})
    region[STATION].release(a, DISPOSER, 120_000, pickup["manifest"])
    context = browser.new_context(locale=LOCALE, viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, live_server, "burner", "/collector/disposer")
    # before the list is loaded: no empty picker, the page says how the operator loads it
    page.wait_for_selector("#incoming li")
    expect(page.locator("#methods-note")).to_contain_text(
        "waste-ledger reference import disposal_methods.csv --list disposal_methods")
    expect(page.locator("#dispose-code")).to_be_hidden()
    expect(page.locator("#dispose-code-other")).to_be_visible()
    with live_server.app.app_context():
        # a synthetic list for the test: the official one is not available as data
        import_list(db.session, METHODS,
                    (FIXTURES / "disposal_methods_fixture.csv").read_text(encoding="utf-8"))
        db.session.remove()
    page.reload()
    expect(page.locator("#methods-note")).to_be_hidden()
    row = page.locator(f"#incoming li[data-code='{a}']")
    row.locator("input.weighed").fill("120")
    row.locator("button.accept").click()
    expect(page.locator(f"#held li[data-code='{a}']")).to_be_visible()
    page.check(f"#held input[value='{a}']")
    page.select_option("#dispose-method", "disposal")
    expect(page.locator("#dispose-code option")).to_have_count(2)  # 请选择 + X2 (处置 only)
    # failure: no method chosen
    page.click("#dispose-go")
    expect(page.locator("#action-message")).to_contain_text("请选择利用/处置方式")
    page.select_option("#dispose-code", "X2")
    page.click("#dispose-go")
    expect(page.locator("#action-message")).to_contain_text("已记录处置")
    kind, data = entries(live_server, a)[-1]
    assert (kind, data["method_code"], data["handled_by"]) == ("custody.disposed", "X2", "钱主任")
    # the residue of that disposal: a new batch of the disposer, linked, with its label
    page.check(f"#disposals input[value='{a}']")
    page.fill("#residue-code", "772-003-18")
    page.fill("#residue-name", "焚烧残渣")
    page.fill("#residue-kg", "5.5")
    # failure: a hazardous residue with no hazard ticked is refused beside the button
    page.click("#residue-go")
    expect(page.locator("#action-message")).to_contain_text("请至少勾选一项危险特性")
    page.check("#residue-hazards input[value='T']")
    page.click("#residue-go")
    expect(page.locator("#action-message")).to_contain_text("已登记次生废物")
    label = page.locator("#residue-label")
    expect(label).to_be_visible()
    ash = label.get_attribute("data-code")
    pdf = page.request.get(live_server.url + (label.get_attribute("href") or ""))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    with live_server.app.app_context():
        batch = db.session.get(Batch, ash)
        assert (batch.generator, batch.mass_g, batch.state) == (DISPOSER, 5_500, "declared")
        link = db.session.scalars(select(Residue).where(Residue.child == ash)).one()
        assert link.source == a
        db.session.remove()
    kind, data = entries(live_server, ash)[0]
    assert (kind, data["hazards"]) == ("batch.residue", ["T"])
    context.close()


def test_the_station_and_disposer_pages_fit_a_phone(live_server: LiveServer, phone_page: Page):
    arrivals(live_server)
    for user, path in (("yard", "/collector/station"), ("burner", "/collector/disposer")):
        phone_page.context.clear_cookies()
        log_in(phone_page, live_server, user, path)
        assert overflow_px(phone_page) <= 0, path

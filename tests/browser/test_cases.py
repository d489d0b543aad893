"""The case loop in Chromium, every step signed in the browser with the acting party's own
device key: a regulator opens a case from a gap and assigns it in one step; closing before
the report is accepted is refused in plain words; the enterprise answers from a 375 px phone
with a photo; the regulator accepts and closes it (销号). Both databases."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from api.demo.seed import join
from api.extensions import db
from ledger.audit.cases import case_history, case_stream
from ledger.audit.models import Case
from ledger.clock import beijing_today
from ledger.custody import access
from ledger.custody.uscc import make_uscc
from ledger.tlog.client import ApiError, Client
from ledger.tlog.models import SigningKey
from tests.browser.harness import LiveServer, overflow_px, screenshot, serving
from tests.conftest import initialised_app

GEN = make_uscc("331002", 4401)
COL = make_uscc("331002", 4402)
REG = make_uscc("331002", 4409)
PASSWORD = "case-loop-2026"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"photo of the new store sign" * 40


def region_with_a_gap(server: LiveServer) -> tuple[str, Client, Client]:
    """A regulator, and a batch released at 100 kg but accepted at 70 kg (a mass_discrepancy
    gap naming the generator first); returns the gap's id and the regulator's and the
    generator's API clients."""
    app = server.app
    reg = join(app, REG, "椒江区生态环境分局（测试）", "331002", ["regulator"])
    gen = join(app, GEN, "椒江整改测试五金厂", "331002", ["generator"])
    col = join(app, COL, "椒江整改测试收集公司", "331002", ["collector"], ["collect", "store"],
               vehicles=("浙J·T0002",))
    today = beijing_today()
    code = f"{GEN}90003949{today:%Y%m%d}001"
    number = f"{today.year}3310{998_001:06d}"
    gen.declare(code, {"waste_code": "900-039-49", "name": "废活性炭", "form": "solid",
                       "hazards": ["T"], "container": {"type": "吨袋", "count": 1},
                       "mass_g": 100_000, "generated_on": today.isoformat(),
                       "location": "危废仓库"})
    gen.release(code, COL, 100_000, number, vehicle="浙J·T0002")
    receipt = col.accept(code, GEN, 70_000, number)
    with app.app_context():
        access.add_user(db.session, "reg", PASSWORD, REG, "监管")
        access.add_user(db.session, "gen", PASSWORD, GEN, "企业")
        db.session.remove()
    return f"mass_discrepancy:{code}:{receipt['index']}", reg, gen


def log_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def test_open_from_a_gap_answer_from_a_phone_close_out(live_server: LiveServer, page: Page,
                                                         phone_page: Page):
    gap, _reg, _gen = region_with_a_gap(live_server)
    url = live_server.url
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    phone_page.on("pageerror", lambda exc: errors.append(str(exc)))

    # 1. the regulator opens a case from the gap and assigns it, one form, two signed entries
    log_in(page, live_server, "reg")
    page.goto(f"{url}/regulator/gaps?type=mass_discrepancy")
    page.click("#gap-list a.open-case")
    form = page.locator("#open-case")
    expect(form).to_be_visible()
    case_id = form.get_attribute("data-case-id")
    assert case_id == f"331002-{dt.datetime.now(dt.UTC).year}-0001"
    assert form.locator("select[name=assignee]").input_value() == GEN
    form.locator("input[name=person]").fill("王五")
    form.locator("textarea[name=measures]").fill("核实称重差异原因，更正交接记录")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{url}/regulator/cases/{case_id}")
    expect(page.locator("#case-state")).to_have_text("已交办，整改中")
    expect(page.locator("#case-steps li")).to_have_count(2)

    # 2. closing now is refused, saying why, and nothing changes
    page.click("#close-button")
    expect(page.locator("#case-outcome")).to_contain_text("不能销号")
    page.reload()
    expect(page.locator("#case-state")).to_have_text("已交办，整改中")
    expect(page.locator("#case-steps li")).to_have_count(2)

    # 3. the enterprise answers from its phone, with a photo from the camera input
    log_in(phone_page, live_server, "gen")
    phone_page.goto(f"{url}/rectify/")
    item = phone_page.locator(f"article.item[data-case='{case_id}']")
    expect(item).to_contain_text("核实称重差异原因")
    photo = item.locator("input[name=photos]")
    assert photo.get_attribute("accept") == "image/*" and photo.get_attribute("capture")
    item.locator("textarea[name=report]").fill("已复秤，差异为包装破损洒落，已更正")
    photo.set_input_files({"name": "现场.jpg", "mimeType": "image/jpeg", "buffer": JPEG})
    assert overflow_px(phone_page) <= 0
    screenshot(phone_page, "enterprise-rectify-phone")
    item.locator("button[type=submit]").click()
    expect(phone_page.locator(f"article.item[data-case='{case_id}'] [data-slot=state]")
           ).to_have_text("已报送，等待验收")

    # 4. the regulator sees the photo, accepts, and closes out
    page.reload()
    expect(page.locator("#case-state")).to_have_text("已报送整改情况，待验收")
    sha = hashlib.sha256(JPEG).hexdigest()
    img = page.locator(f"ul.evidence img[src$='{sha}']")
    expect(img).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", img.element_handle()) >= 0
    page.click("#review-form button[value=accepted]")
    expect(page.locator("#case-state")).to_have_text("验收通过，待销号")
    page.fill("#close-form textarea[name=note]", "现场核查属实，予以销号")
    page.click("#close-button")
    expect(page.locator("#case-state")).to_have_text("已销号")
    screenshot(page, "regulator-case-desktop")

    # the dashboard counts it, and draws the case charts with the vendored Chart.js
    page.goto(f"{url}/regulator/")
    page.wait_for_function("() => document.body.dataset.caseChartsReady === '1'")
    expect(page.locator("[data-figure=cases]")).to_have_text("1")
    expect(page.locator("[data-figure=rectify_rate]")).to_have_text("100%")
    expect(page.locator("[data-figure=close_rate]")).to_have_text("100%")
    assert page.evaluate("""() => [...document.querySelectorAll('canvas[data-case-chart]')]
        .map((c) => Chart.getChart(c) !== undefined)""") == [True, True]
    assert errors == []

    # the log: each step signed by the acting organisation with a key made in its browser
    with live_server.app.app_context():
        case = db.session.get(Case, case_id)
        assert (case.state, case.gap_id, case.assignee) == ("closed", gap, GEN)
        steps = case_history(db.session, case_id)
        assert [(s.kind, s.org) for s in steps] == [
            ("case.opened", REG), ("case.assigned", REG), ("case.responded", GEN),
            ("case.reviewed", REG), ("case.closed", REG)]
        assert steps[2].data["evidence"] == [{"sha256": sha, "name": "现场.jpg"}]
        keys = {k.org: k.name for k in db.session.query(SigningKey)
                .filter(SigningKey.org.in_([REG, GEN]), SigningKey.name.like("web-%"))}
        assert set(keys) == {REG, GEN}
        db.session.remove()


CITY = make_uscc("331000", 4408)


@pytest.fixture
def two_level_server(database, tmp_path) -> Iterator[LiveServer]:
    """The app where closing a case in 台州 (331000) needs a second regulator's signature."""
    with initialised_app(database, tmp_path, CASE_TWO_LEVEL_REGIONS=["331000"]) as app, \
            serving(app) as server:
        yield server


def test_two_level_close_out_signed_by_the_county_then_co_signed_by_the_city(
        two_level_server: LiveServer, page: Page, phone_page: Page):
    server, url = two_level_server, two_level_server.url
    gap, reg, gen = region_with_a_gap(server)
    join(server.app, CITY, "台州市生态环境局（测试）", "331000", ["regulator"])
    case_id = "331002-2026-0077"
    stream = case_stream(case_id)
    reg.act("case.opened", stream, {
        "region": "331002", "source": "gap", "gap": gap, "type": "mass_discrepancy",
        "severity": "high", "title": "称重差异", "facts": "移出 100 kg，接收 70 kg",
        "organisations": [GEN]})
    reg.act("case.assigned", stream, {"assignee": GEN, "person": "王五", "measures": "核实",
                                      "deadline": "2099-12-31"})
    gen.act("case.responded", stream, {"report": "已核实"})
    reg.act("case.reviewed", stream, {"result": "accepted"})
    with server.app.app_context():
        access.add_user(db.session, "city", PASSWORD, CITY, "市局")
        db.session.remove()

    # the county signs; the note is handed over, not sent
    log_in(page, server, "reg")
    page.goto(f"{url}/regulator/cases/{case_id}")
    page.click("#close-button")
    box = page.locator("#half-signed textarea")
    expect(box).to_be_visible()
    note = box.input_value()
    assert note.count("\n— ") == 1 and '"kind":"case.closed"' in note
    page.reload()
    expect(page.locator("#case-state")).to_have_text("验收通过，待销号")
    # the county cannot co-sign its own note (the same key twice), nor send it unchanged
    page.fill("#cosign-form textarea[name=note]", note)
    page.click("#cosign-form button[type=submit]")
    expect(page.locator("#case-outcome")).to_contain_text("重复签名")
    with pytest.raises(ApiError) as err:
        reg.post_note(note.encode())
    assert err.value.code == "cosignature_missing"

    # the city co-signs and sends it
    log_in(phone_page, server, "city")
    phone_page.goto(f"{url}/regulator/cases/{case_id}")
    phone_page.fill("#cosign-form textarea[name=note]", note)
    phone_page.click("#cosign-form button[type=submit]")
    expect(phone_page.locator("#case-state")).to_have_text("已销号")
    with server.app.app_context():
        last = case_history(db.session, case_id)[-1]
        assert (last.kind, last.org) == ("case.closed", REG)
        db.session.remove()


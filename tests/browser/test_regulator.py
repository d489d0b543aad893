"""A regulator in Chromium: the dashboard's charts drawn by the vendored Chart.js, an injected
gap found by filtering its type, and the drill-down to its batch's verified timeline; every
page fits a 375 px phone."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from api.demo.seed import DEMO_PASSWORD, join
from api.extensions import db
from api.runtime import log_config
from ledger.clock import beijing_today
from ledger.custody.uscc import make_uscc
from ledger.tlog.log import export_log
from tests.browser.harness import LiveServer, overflow_px, screenshot

INJECTED_GENERATOR = make_uscc("331002", 4321)
INJECTED_COLLECTOR = make_uscc("331002", 4322)


def inject_mass_discrepancy(server: LiveServer) -> str:
    """A batch released at 100 kg and accepted at 70 kg (a mass_discrepancy gap), signed by
    its own parties through the API; returns its code."""
    app = server.app
    gen = join(app, INJECTED_GENERATOR, "椒江注入测试五金厂", "331002", ["generator"])
    col = join(app, INJECTED_COLLECTOR, "椒江注入测试收集公司", "331002", ["collector"],
               ["collect", "store"], vehicles=("浙J·T0001",))
    today = beijing_today()
    code = f"{INJECTED_GENERATOR}90003949{today:%Y%m%d}001"
    number = f"{today.year}3310{999_001:06d}"
    gen.declare(code, {"waste_code": "900-039-49", "name": "废活性炭", "form": "solid",
                       "hazards": ["T"], "container": {"type": "吨袋", "count": 1},
                       "mass_g": 100_000, "generated_on": today.isoformat(),
                       "location": "危废仓库"})
    gen.release(code, INJECTED_COLLECTOR, 100_000, number, vehicle="浙J·T0001")
    col.accept(code, INJECTED_GENERATOR, 70_000, number)
    return code


def log_in(page: Page, server: LiveServer, username: str = "regulator") -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{server.url}/regulator/")


def charts_drawn(page: Page) -> list[bool]:
    page.wait_for_function("() => document.body.dataset.chartsReady === '1'")
    return page.evaluate("""() => [...document.querySelectorAll('canvas[data-chart]')]
        .map((c) => Chart.getChart(c) !== undefined && c.width > 0 && c.height > 0)""")


@pytest.fixture
def errors(page: Page) -> list[str]:
    """Script errors, CSP violations and failed loads on the desktop page (there must be
    none; the browser's own request for /favicon.ico aside)."""
    seen: list[str] = []
    page.on("pageerror", lambda exc: seen.append(str(exc)))
    page.on("console", lambda msg: seen.append(msg.text) if msg.type == "error"
            and "Failed to load resource" not in msg.text else None)
    page.on("response", lambda resp: seen.append(f"{resp.status} {resp.url}")
            if resp.status >= 400 and not resp.url.endswith("/favicon.ico") else None)
    return seen


def test_regulator_finds_an_injected_gap_and_drills_down_to_a_verified_timeline(
        demo_server: LiveServer, page: Page, errors: list[str]):
    code = inject_mass_discrepancy(demo_server)
    log_in(page, demo_server)
    # the dashboard: figures and three charts drawn by Chart.js
    expect(page.locator("#figures .figure")).to_have_count(14)  # with planned, reported
    assert charts_drawn(page) == [True, True, True]
    assert page.evaluate("Chart.getChart(document.getElementById('chart-month'))"
                         ".data.datasets.length") == 2
    expect(page.locator("#gap-summary tr[data-type=mass_discrepancy]")).to_be_visible()
    screenshot(page, "regulator-dashboard-desktop")
    # drill into a figure: the batches behind "declared" include the injected one
    page.click("#figures [data-figure=declared] a")
    row = page.locator(f"#drill-table tr[data-code='{code}']")
    expect(row).to_contain_text("椒江注入测试五金厂")  # a row a regulator reads, not a code
    expect(row).to_contain_text("废活性炭")
    expect(row.locator("td").nth(3)).to_have_text("100")  # declared, kg
    # sortable: by declared mass, then reversed
    masses = page.locator("#drill-table tbody td:nth-child(4)")
    header = page.locator("#drill-table thead button").nth(3)
    header.click()
    values = [int(v) for v in masses.evaluate_all("cs => cs.map(c => c.dataset.value)")]
    assert values == sorted(values) and len(values) > 1
    header.click()
    expect(header).to_have_attribute("aria-sort", "descending")
    values = [int(v) for v in masses.evaluate_all("cs => cs.map(c => c.dataset.value)")]
    assert values == sorted(values, reverse=True)
    # exportable: every batch behind the figure, with the same columns, in kg
    csv_text = page.request.get(demo_server.url + page.locator("#drill-csv")
                                .get_attribute("href")).text()
    lines = csv_text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("识别码,产废单位,统一社会信用代码,废物代码,废物名称,申报重量 (kg)")
    assert any(line.startswith(f"{code},椒江注入测试五金厂,") and ",100.000," in line
               for line in lines)
    assert len(lines) - 1 == len(values)
    # the gaps list, filtered by the injected gap's type
    page.click("nav.nav >> text=异常预警")
    page.select_option("#gap-filters select[name=type]", "mass_discrepancy")
    page.click("#gap-filters button[type=submit]")
    rows = page.locator("#gap-list tbody tr")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-type") == "mass_discrepancy"
    expect(rows.first).to_contain_text("椒江注入测试")
    screenshot(page, "regulator-gaps-desktop")
    # its detail, then the batch's timeline
    rows.first.locator("td").first.locator("a").click()
    expect(page.locator("#gap h1")).to_contain_text("重量差异")
    expect(page.locator("#gap")).to_contain_text("100 kg")
    page.click(f"#gap a[href='/regulator/batch/{code}']")
    page.wait_for_url(f"{demo_server.url}/regulator/batch/{code}")
    events = page.locator("#timeline li.event")
    expect(events).to_have_count(3)
    expect(page.locator("#timeline li.event.verified .mark.ok")).to_have_count(3)
    expect(page.locator("#verified")).to_contain_text("✔")
    expect(page.locator(".discrepancy-note")).to_contain_text("移出 100 kg，接收 70 kg")
    proof = events.nth(2).locator("details.proof")
    proof.locator("summary").click()
    expect(proof.locator("p.ok")).to_contain_text("包含证明")
    assert proof.locator(".hashes li").count() >= 1
    screenshot(page, "regulator-batch-desktop")
    assert errors == []


def test_regulator_pages_fit_a_phone(demo_server: LiveServer, phone_page: Page):
    code = inject_mass_discrepancy(demo_server)
    log_in(phone_page, demo_server)
    assert charts_drawn(phone_page) == [True, True, True]
    assert overflow_px(phone_page) <= 0
    screenshot(phone_page, "regulator-dashboard-phone")
    for path, name in [("/regulator/gaps?type=mass_discrepancy", "regulator-gaps-phone"),
                       (f"/regulator/batch/{code}", "regulator-batch-phone"),
                       ("/regulator/verify", "regulator-verify-phone")]:
        phone_page.goto(demo_server.url + path)
        assert overflow_px(phone_page) <= 0, path
        screenshot(phone_page, name)
    # touch targets: the gap's links and the figures are at least 44 px tall
    phone_page.goto(f"{demo_server.url}/regulator/gaps?type=mass_discrepancy")
    box = phone_page.locator("#gap-list a").first.bounding_box()
    assert box is not None and box["height"] >= 44


def exported_zip(server: LiveServer, directory: Path) -> bytes:
    """What `waste-ledger export DIR` writes, zipped as a person would before uploading."""
    with server.app.app_context():
        export_log(db.session, log_config(), str(directory))
        db.session.remove()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                z.write(path, f"export/{path.relative_to(directory)}")
    return out.getvalue()


def test_verify_page_checks_an_export_and_this_logs_checkpoint(
        demo_server: LiveServer, page: Page, tmp_path: Path):
    log_in(page, demo_server)
    page.goto(f"{demo_server.url}/regulator/verify")
    page.set_input_files("#verify-export input[type=file]", files=[{
        "name": "export.zip", "mimeType": "application/zip",
        "buffer": exported_zip(demo_server, tmp_path / "export")}])
    page.click("#verify-export button[type=submit]")
    expect(page.locator("#verdict")).to_contain_text("✔ 验证通过")
    expect(page.locator("#verdict")).to_contain_text("与本平台日志")
    note = page.request.get(f"{demo_server.url}/api/v1/checkpoint").text()
    page.goto(f"{demo_server.url}/regulator/verify")
    page.fill("#verify-checkpoint textarea[name=checkpoint]", note)
    page.click("#verify-checkpoint button[type=submit]")
    expect(page.locator("#verdict")).to_contain_text("✔ 验证通过")
    screenshot(page, "regulator-verify-desktop")
    broken = note.replace(note.split("\n")[2], note.split("\n")[2][::-1], 1)
    page.fill("#verify-checkpoint textarea[name=checkpoint]", broken)
    page.click("#verify-checkpoint button[type=submit]")
    expect(page.locator("#verdict")).to_contain_text("✘ 验证未通过")


def test_verify_page_checks_the_report_bundle_the_dashboard_offers(
        demo_server: LiveServer, page: Page):
    """The signed report bundle downloaded from the dashboard verifies on the verify page:
    the plain-words verdict shows, the tree size waits under 详细信息 until opened."""
    log_in(page, demo_server)
    page.goto(f"{demo_server.url}/regulator/")
    with page.expect_download() as download:
        page.click("a[href*='format=bundle']")
    bundle = Path(download.value.path()).read_bytes()
    page.goto(f"{demo_server.url}/regulator/verify")
    page.set_input_files("#verify-export input[type=file]", files=[{
        "name": "report.json", "mimeType": "application/json", "buffer": bundle}])
    page.click("#verify-export button[type=submit]")
    expect(page.locator("#verdict")).to_contain_text("✔ 验证通过")
    expect(page.locator("#verdict .reason")).to_contain_text("内容没有被改动过")
    expect(page.locator("#verdict-details dl")).to_be_hidden()
    page.click("#verdict-details summary")
    expect(page.locator("#verdict-details dl")).to_contain_text("树大小")
    doctored = bundle.replace(b'"declared":', b'"declared":1', 1)
    page.set_input_files("#verify-export input[type=file]", files=[{
        "name": "report.json", "mimeType": "application/json", "buffer": doctored}])
    page.click("#verify-export button[type=submit]")
    expect(page.locator("#verdict")).to_contain_text("这份报表包不可信")


def test_one_search_box_finds_companies_batches_manifests_and_plates(
        demo_server: LiveServer, page: Page, errors: list[str]):
    """The dashboard's unit box takes a company name (it used to answer 422 and lose the
    dashboard); the header's search box takes a name, a USCC, a batch code, a manifest number
    or a plate; totals are in tonnes, a batch in kilograms."""
    code = inject_mass_discrepancy(demo_server)
    number = f"{dt.datetime.now(dt.UTC).year}3310999001"
    log_in(page, demo_server)
    expect(page.locator("#figures [data-figure=declared] .unit")).to_have_text("t")
    expect(page.locator("#figures [data-figure=declared] .value")).to_have_text(
        re.compile(r"^[0-9]{1,3}(,[0-9]{3})*\.[0-9]{3}$"))  # tonnes to the kilogram

    box = page.locator("#filters input[name=generator]")
    box.fill("注入测试五金")
    page.click("#filters button[type=submit]")
    expect(page.locator("#generator-resolved")).to_have_text("椒江注入测试五金厂")
    expect(page.locator("#figures [data-figure=declared] .value")).to_have_text("0.100")
    box.fill("椒江注入测试")  # two units: said so, and the dashboard stays
    page.click("#filters button[type=submit]")
    expect(page.locator("#filters [data-field=generator]")).to_contain_text("对应多个单位")
    expect(page.locator("#figures")).to_be_visible()

    search = page.locator("#nav-search")
    for query, kind, key in (("注入测试收集", "organisation", INJECTED_COLLECTOR),
                             (INJECTED_GENERATOR.lower(), "organisation", INJECTED_GENERATOR),
                             (number, "manifest", number),
                             ("浙J T0001", "vehicle", "浙J·T0001")):
        search.fill(query)
        search.press("Enter")
        expect(page.locator(f"#hits li[data-kind={kind}][data-key='{key}']")).to_be_visible()
    expect(page.locator(f"#hits li[data-kind=vehicle] a:has-text('{number}')")).to_be_visible()
    # A whole batch code (typed in groups) opens the batch, its masses in kg.
    search.fill(f"{code[:18]} {code[18:26]} {code[26:34]} {code[34:]}")
    search.press("Enter")
    page.wait_for_url(f"**/regulator/batch/{code}")
    expect(page.locator("main")).to_contain_text("100 kg")
    search.fill("没有这个单位")
    search.press("Enter")
    expect(page.locator("#no-hits")).to_contain_text("辖区内没有找到")
    assert errors == []

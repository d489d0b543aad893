"""The declare form in Chromium for a waste found hazardous by identification (鉴别): the form
asks first whether a listed code fits (名录第六条); when none does, the category gives
900-000-××, the report number and the hazards the identification found are required, and the
signed declaration carries them."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from api.extensions import db
from ledger.custody.projections import Batch
from ledger.tlog.entries import parse_entry
from ledger.tlog.models import LogEntry
from tests.browser.harness import LiveServer, log_in


def test_an_identified_waste_with_no_listed_code_is_declared_as_900_000(
        demo_server: LiveServer, page: Page):
    log_in(page, demo_server)
    page.goto(f"{demo_server.url}/generator/declare")
    expect(page.locator("#edition-notice")).to_contain_text("--edition 2025")
    expect(page.locator("#identified-fields")).to_be_hidden()
    page.check("input[name=identified][value=listed]")
    expect(page.locator("#identified-fields")).to_be_visible()
    expect(page.locator("#waste-search")).to_be_visible()  # a listed code comes first
    page.check("input[name=identified][value=unlisted]")
    expect(page.locator("#waste-search")).to_be_hidden()
    page.fill("#name", "鉴别认定的废催化剂")
    page.fill("#mass", "30")
    page.click("#declare-submit")
    expect(page.locator("#err-identified_category")).to_be_visible()
    expect(page.locator("#err-identification_report")).to_be_visible()
    expect(page.locator("#err-hazards")).to_be_visible()
    page.select_option("#identified-category", "HW50")
    expect(page.locator("#waste-code")).to_have_value("900-000-50")
    page.fill("#identification-report", "台环鉴字〔2026〕第 12 号")
    page.check("input[name=hazards][value=T]")
    page.click("#declare-submit")
    expect(page.locator("#declared")).to_be_visible()
    code = page.locator('#declared [data-slot="code"]').inner_text().strip()
    assert code[18:26] == "90000050"
    with demo_server.app.app_context():
        assert db.session.get(Batch, code).category == "HW50"
        row = db.session.query(LogEntry).filter_by(stream=code, seq=0).one()
        data = parse_entry(row.note, max_size=len(row.note)).data
        db.session.remove()
    assert data["identification"] == {"report": "台环鉴字〔2026〕第 12 号",
                                      "no_listed_code": True}
    assert data["hazards"] == ["T"] and data["waste_code"] == "900-000-50"

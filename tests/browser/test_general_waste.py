"""General industrial solid waste (一般工业固体废物) declared from the pages, and the 台账
downloaded from the pages, in Chromium on both databases: a hazardous code declared as
general is refused beside the field; 炉渣 under 900-001-S17 is declared with no hazards; the
general 台账 downloaded from the batches page lists it."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import load_workbook
from playwright.sync_api import Page, expect
from sqlalchemy import select

from api.extensions import db
from ledger.custody.projections import Batch
from tests.browser.harness import LiveServer, log_in


def test_a_generator_declares_general_solid_waste_and_downloads_its_ledger(
        demo_server: LiveServer, page: Page):
    log_in(page, demo_server)
    page.goto(f"{demo_server.url}/generator/declare")
    page.check("input[name=waste_kind][value=general]")
    expect(page.locator("#waste-search")).to_be_hidden()
    expect(page.locator("#hazards-field")).to_be_hidden()
    expect(page.locator("#general-help")).to_contain_text("尚未载入")
    # failure: a listed hazardous code typed as general waste
    page.fill("#general-code", "900-039-49")
    page.fill("#name", "废活性炭")
    page.fill("#mass", "10")
    page.click("#declare-submit")
    expect(page.locator("#err-waste_code")).to_contain_text("不能按一般工业固体废物申报")
    expect(page.locator("#declared")).to_be_hidden()
    page.fill("#general-code", "900-001-S17")
    page.fill("#name", "炉渣")
    page.fill("#mass", "850.5")
    page.click("#declare-submit")
    expect(page.locator("#declared")).to_be_visible()
    code = page.locator('#declared [data-slot="code"]').inner_text().strip()
    with demo_server.app.app_context():
        batch = db.session.scalars(select(Batch).where(Batch.code == code)).one()
        assert (batch.hazardous, batch.category, batch.waste_code, batch.declared_mass_g) == (
            False, "GY", "900-001-17", 850_500)
        db.session.remove()
    # the general 台账, downloaded from the batches page
    page.goto(f"{demo_server.url}/generator/")
    page.click("#ledger-book summary")
    page.select_option("#ledger-book-form select[name=kind]", "general")
    with page.expect_download() as info:
        page.click("#ledger-book-go")
    wb = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
    made = list(wb["产生"].values)
    assert made[0][2] == "一般工业固体废物名称"
    assert [(r[0], r[2], r[3], r[4]) for r in made[1:]] == [
        (code, "炉渣", "SW17", "900-001-S17")]

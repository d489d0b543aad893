"""The regulator opens the demo's carried manifest in Chromium — three parties, the carrier's
signatures, the partial refusal and the refused part returned to its enterprise — and downloads
it as the national form (PDF), read back with pdftotext."""

from __future__ import annotations

import subprocess
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from api.demo.seed import CARRIER_PLATE, CARRIER_SERIAL, DEMO_PASSWORD, DISTRICT
from api.extensions import db
from ledger.custody.projections import Handover, Manifest
from ledger.custody.uscc import make_uscc
from tests.browser.harness import LiveServer


def log_in(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", "regulator")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{server.url}/regulator/")


def test_the_regulator_downloads_the_carried_manifest_as_the_national_form(
        demo_server: LiveServer, page: Page):
    carrier = make_uscc(DISTRICT, CARRIER_SERIAL)
    with demo_server.app.app_context():
        number = db.session.scalar(select(Manifest.number).where(Manifest.carrier == carrier))
        part = db.session.scalar(select(Handover.refused_part).where(
            Handover.manifest == number, Handover.refused_part.is_not(None)))
        db.session.remove()
    assert number and part
    log_in(page, demo_server)
    page.goto(f"{demo_server.url}/regulator/manifests/{number}")
    expect(page.locator("#manifest")).to_contain_text("台州市安运危险货物运输有限公司")
    expect(page.locator("#manifest")).to_contain_text("赵建国")
    expect(page.locator("table.signatures").first).to_contain_text("承运（承运人签名）")
    expect(page.locator("p.alert.refusal")).to_contain_text("部分拒收")
    expect(page.locator("p.alert.refusal")).to_contain_text(part)
    with page.expect_download() as download:
        page.click("#manifest-pdf")
    assert download.value.suggested_filename == f"manifest-{number}.pdf"
    pdf = Path(download.value.path()).read_bytes()
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()
    for field in ("危险废物转移联单", number, "台州市安运危险货物运输有限公司", CARRIER_PLATE,
                  "赵建国", "部分接收", "一袋破损，活性炭散落", part, "北京时间"):
        assert field in text, field

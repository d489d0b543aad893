"""One item, one code (一物一码) in Chromium on a phone, on both databases: an enterprise declares
three drums at once, gets three codes and prints three labels (their QR codes read back), asks a
collector for two of them and releases both in one tap; an empty selection and a drum already on
another request are each refused with a clear message next to the list."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import zxingcpp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from api.demo.seed import DEMO_PASSWORD
from api.extensions import db
from ledger.custody.projections import Batch, Handover
from ledger.tlog.entries import parse_entry
from ledger.tlog.models import LogEntry
from tests.browser.harness import LiveServer, log_in, org_of, overflow_px


def qr_texts_in(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    try:
        pages = [page.render(scale=150 / 72).to_pil().convert("RGB") for page in document]
    finally:
        document.close()
    return [r.text for image in pages for r in zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormat.QRCode)]


def ask_for_pickup(page: Page, server: LiveServer, codes: list[str], collector: str) -> None:
    """The pickup form with exactly ``codes`` ticked, asking ``collector``."""
    page.goto(f"{server.url}/generator/pickups")
    for box in page.locator("input[name=batches]").all():
        if box.is_checked():
            box.uncheck()
    for code in codes:
        page.locator(f'input[name=batches][value="{code}"]').check()
    page.select_option("#collector", collector)
    page.get_by_role("button", name="提交预约").click()


def test_three_drums_at_once_get_three_codes_three_labels_and_two_leave_in_one_tap(
        demo_server: LiveServer, phone_page: Page, tmp_path: Path):
    server, page = demo_server, phone_page
    org = org_of(server, "generator")
    log_in(page, server)
    page.goto(f"{server.url}/generator/declare")
    page.locator("#waste-search").press_sequentially("活性炭", delay=30)
    option = page.locator("#waste-options li[role=option]", has_text="900-039-49")
    option.click()
    expect(page.locator("#waste-code")).to_have_value("900-039-49")
    page.fill("#container-type", "铁桶")
    page.fill("#container-count", "3")
    page.fill("#container-volume", "200")
    expect(page.locator("#lot-help")).to_contain_text("共 3 件")  # what 数量 means, before signing
    page.fill("#mass", "150.5")
    page.click("#declare-submit")
    declared = page.locator("#declared")
    expect(declared).to_be_visible()
    expect(declared.locator('[data-slot="code"]')).to_have_text("已申报 3 件（每件一个识别码）")
    expect(declared.locator('[data-slot="mass"]')).to_have_text("3 件 × 150.5 千克")
    codes = declared.locator('[data-slot="codes"] li').evaluate_all(
        "items => items.map((li) => li.dataset.code)")
    assert len(codes) == 3 and len(set(codes)) == 3
    assert all(c.startswith(f"{org}90003949") for c in codes)
    assert [int(c[-3:]) for c in codes] == list(range(int(codes[0][-3:]), int(codes[0][-3:]) + 3))
    assert overflow_px(page) <= 0

    # Three batches, one container each, signed on this phone, sharing the lot reference.
    with server.app.app_context():
        for n, code in enumerate(codes, 1):
            batch = db.session.get(Batch, code)
            assert (batch.state, batch.holder, batch.declared_mass_g) == ("declared", org,
                                                                         150_500)
            entry = db.session.scalars(select(LogEntry).where(LogEntry.stream == code)).one()
            data = parse_entry(entry.note).data
            assert data["container"] == {"type": "铁桶", "count": 1, "volume_l": 200}
            assert data["lot"] == {"ref": codes[0], "no": n, "of": 3}
        db.session.remove()

    # Three labels in one PDF, each QR reading back to its own drum.
    button = page.locator("#declared-labels")
    expect(button).to_have_text("打印全部 3 张标签")
    with page.expect_download() as download:
        button.click()
    pdf = Path(download.value.path()).read_bytes()
    assert sorted(qr_texts_in(pdf)) == sorted(f"{server.url}/t/{c}" for c in codes)

    # Two of the three go to a collector: chosen, asked for, released in one tap.
    driver_org = org_of(server, "driver")
    ask_for_pickup(page, server, codes[:2], driver_org)
    article = page.locator("article.pickup", has=page.locator(f'li[data-code="{codes[0]}"]'))
    expect(article).to_be_visible()
    expect(article.locator("li[data-code]")).to_have_count(2)
    manifest = article.get_attribute("data-manifest")
    article.get_by_role("button", name="全部签名交接").click()
    for code in codes[:2]:
        item = article.locator(f'li[data-code="{code}"]')
        expect(item.locator('[data-slot="status"]')).to_have_text("本单位已签名，等待收运方确认")
    with server.app.app_context():
        released = {h.batch: (h.status, h.manifest) for h in db.session.scalars(
            select(Handover).where(Handover.batch.in_(codes)))}
        assert released == {c: ("awaiting_answer", manifest) for c in codes[:2]}
        assert db.session.get(Batch, codes[2]).state == "declared"  # the third stays
        db.session.remove()

    # Nothing chosen: said next to the list, nothing reserved.
    ask_for_pickup(page, server, [], driver_org)
    expect(page.locator("#err-batches")).to_contain_text("请至少选择一个批次")
    # The third drum on a request, then asked for again: refused, saying which and why.
    ask_for_pickup(page, server, codes[2:], driver_org)
    expect(page.locator("article.pickup", has=page.locator(
        f'li[data-code="{codes[2]}"]'))).to_be_visible()
    ask_for_pickup(page, server, codes[2:], driver_org)
    expect(page.locator("#err-batches")).to_contain_text("该批次已在另一条未完成的收集预约中")
    expect(page.locator("#err-batches")).to_contain_text(codes[2])

    # The driver's phone: both containers of that manifest accepted in one tap.
    driver = page.context.browser.new_context(locale="zh-CN", viewport={"width": 375,
                                              "height": 740}, is_mobile=True, has_touch=True)
    try:
        phone = driver.new_page()
        phone.goto(f"{server.url}/login")
        phone.fill("input[name=username]", "driver")
        phone.fill("input[name=password]", DEMO_PASSWORD)
        phone.click("button[type=submit]")
        phone.wait_for_url(f"{server.url}/collector/")
        phone.wait_for_selector("body[data-ready='1']")
        section = phone.locator(f'section.pickup[data-manifest="{manifest}"]')
        button = section.locator("button.accept-all")
        expect(button).to_have_text("全部签收 2 件（按交出重量；要逐件称重请扫码）")
        button.click()
        expect(phone.locator("#action-message")).to_contain_text("已签收 2 件")
    finally:
        driver.close()
    with server.app.app_context():
        for code in codes[:2]:
            batch = db.session.get(Batch, code)
            assert (batch.holder, batch.state, batch.mass_g) == (driver_org, "stored", 150_500)
        db.session.remove()

"""A small enterprise's 入库/出库 from its batch list (HJ 1259), in Chromium on both
databases: a declared batch goes into the registered facility with the person's name in the
signed entry; releasing it on the pickup page signs it out of storage first, by itself."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from api.extensions import db
from ledger.custody import access
from ledger.custody.projections import StorageFacility, StorageStay
from ledger.tlog.entries import parse_entry
from ledger.tlog.models import LogEntry
from tests.browser.harness import LiveServer, log_in


def declare(page: Page, server: LiveServer) -> str:
    """A new batch declared on the form (activated carbon, 30 kg); its code."""
    page.goto(f"{server.url}/generator/declare")
    page.locator("#waste-search").press_sequentially("活性炭", delay=30)
    page.locator("#waste-options li[role=option]", has_text="900-039-49").click()
    expect(page.locator("#waste-code")).to_have_value("900-039-49")
    page.fill("#mass", "30")
    page.click("#declare-submit")
    expect(page.locator("#declared")).to_be_visible()
    return page.locator('#declared [data-slot="code"]').inner_text().strip()


def request_pickup(page: Page, server: LiveServer, code: str) -> None:
    """Ask the first collector offered to fetch ``code``."""
    page.goto(f"{server.url}/generator/pickups?codes={code}")
    expect(page.locator(f'input[name=batches][value="{code}"]')).to_be_checked()
    collector = page.locator("#collector option").nth(1).get_attribute("value")
    assert collector
    page.select_option("#collector", collector)
    page.get_by_role("button", name="提交预约").click()
    expect(page.locator("article.pickup", has=page.locator(f'li[data-code="{code}"]'))) \
        .to_be_visible()


def test_a_generator_stores_a_batch_and_the_release_takes_it_out_first(
        demo_server: LiveServer, page: Page):
    server = demo_server
    with server.app.app_context():
        user = db.session.scalars(select(access.User).where(
            access.User.username == "generator")).one()
        org, person = user.org, user.display_name
        # the demo enterprise keeps its 台账: its storage room is registered (api/demo/seed.py)
        assert db.session.get(StorageFacility, (org, "TS001")) is not None
        db.session.remove()
    log_in(page, server)
    code = declare(page, server)
    page.goto(f"{server.url}/generator/?state=declared")
    page.wait_for_selector("body[data-storage-ready='1']")
    button = page.locator(f'button.storage-action[data-code="{code}"]')
    expect(button).to_have_text("入库")
    button.click()
    expect(page.locator("#storage-message")).to_contain_text("已签名入库 TS001")
    expect(button).to_have_text("出库")
    with server.app.app_context():
        stay = db.session.scalars(select(StorageStay).where(StorageStay.batch == code)).one()
        assert (stay.facility, stay.out_at) == ("TS001", None)
        last = db.session.scalars(select(LogEntry).where(LogEntry.stream == code)
                                  .order_by(LogEntry.seq.desc())).first()
        data = parse_entry(last.note, max_size=len(last.note)).data
        assert (last.kind, data["handled_by"]) == ("storage.in", person)
        db.session.remove()
    # the release on the pickup page: 出库 is signed first, then the release
    request_pickup(page, server, code)
    page.wait_for_load_state()  # the page's script has run: its buttons answer a click
    item = page.locator(f'li[data-code="{code}"]')
    item.get_by_role("button", name="签名交接").click()
    expect(item.locator('[data-slot="outcome"]')).to_have_text(re.compile(r"^记录号 [0-9]+$"))
    history = page.request.get(f"{server.url}/api/v1/batches/{code}").json()["history"]
    assert [h["kind"] for h in history][-3:] == ["storage.in", "storage.out",
                                                 "custody.released"]

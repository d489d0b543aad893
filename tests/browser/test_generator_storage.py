"""A small enterprise's 入库/出库 from its batch list (HJ 1259), in Chromium on both
databases: a declared batch goes into the registered facility with the person's name in the
signed entry; releasing it on the pickup page signs it out of storage first, by itself."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from api.extensions import db
from api.runtime import log_config
from ledger.custody import access
from ledger.custody.projections import Batch, StorageStay
from ledger.tlog import registry
from ledger.tlog.entries import parse_entry
from ledger.tlog.models import LogEntry
from tests.browser.harness import LiveServer, log_in
from tests.browser.test_generator import request_pickup


def test_a_generator_stores_a_batch_and_the_release_takes_it_out_first(
        demo_server: LiveServer, page: Page):
    server = demo_server
    with server.app.app_context():
        user = db.session.scalars(select(access.User).where(
            access.User.username == "generator")).one()
        org, person = user.org, user.display_name
        registry.register_facility(db.session, log_config(), org, "TS001", "危废仓库",
                                   "贮存库", 20_000)
        code = db.session.scalars(select(Batch.code).where(
            Batch.holder == org, Batch.state == "declared").order_by(Batch.code)).first()
        db.session.remove()
    assert code
    log_in(page, server)
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

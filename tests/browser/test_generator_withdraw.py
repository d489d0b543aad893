"""A small enterprise withdraws a batch it declared by mistake (撤回, batch.withdrawn) or
corrects one someone else has already signed on (更正, custody.corrected), from 我的批次, in
Chromium on both databases: the reason is asked for, the entry is signed on the device, the
card says 已撤回 and the code is never handed out again; once another party has signed, 撤回
is not offered, and the ledger's refusal is shown plainly when the page was out of date."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from api.demo.seed import in_process
from api.extensions import db
from api.runtime import log_config
from ledger.custody import access
from ledger.custody.projections import Batch
from ledger.tlog import registry
from ledger.tlog.client import Client
from ledger.tlog.notes import Signer
from tests.browser.harness import LiveServer, log_in, org_of


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


def request_pickup(page: Page, server: LiveServer, code: str) -> tuple[str, str]:
    """Ask the first collector offered to fetch ``code``: its USCC and the manifest."""
    page.goto(f"{server.url}/generator/pickups?codes={code}")
    expect(page.locator(f'input[name=batches][value="{code}"]')).to_be_checked()
    collector = page.locator("#collector option").nth(1).get_attribute("value")
    assert collector
    page.select_option("#collector", collector)
    page.get_by_role("button", name="提交预约").click()
    article = page.locator("article.pickup", has=page.locator(f'li[data-code="{code}"]'))
    expect(article).to_be_visible()
    manifest = article.get_attribute("data-manifest")
    assert manifest
    return collector, manifest


def device_client(server: LiveServer, org: str) -> Client:
    """The driver's phone of ``org`` as the Python client, with a key of its own."""
    with server.app.app_context():
        key = Signer.generate(f"phone-{org[-6:]}")
        registry.register_key(db.session, log_config(), org, key.verifier, "手机")
        token = access.issue_token(db.session, org, "test")
        db.session.remove()
    return Client(in_process(server.app), org, key, token)


def batch_state(server: LiveServer, code: str) -> str:
    with server.app.app_context():
        state = db.session.get(Batch, code).state
        db.session.remove()
    return state


def open_list(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/generator/")
    page.wait_for_selector("body[data-amend-ready='1']")


def test_a_wrong_batch_is_withdrawn_and_its_code_never_comes_back(demo_server: LiveServer,
                                                                   page: Page):
    server = demo_server
    log_in(page, server)
    code = declare(page, server)
    open_list(page, server)
    row = page.locator(f'tr[data-code="{code}"]')
    button = row.locator("button.withdraw-batch")
    expect(button).to_have_text("撤回")
    button.click()
    box = page.locator("#amend-box")
    expect(box).to_be_visible()
    expect(page.locator("#amend-title")).to_contain_text(code)
    page.click("#amend-sign")  # no reason yet: said so, nothing signed
    expect(page.locator("#amend-message")).to_have_text("请填写原因")
    assert batch_state(server, code) == "declared"
    page.fill("#amend-reason", "废物代码选错，应为 900-041-49")
    page.click("#amend-sign")
    expect(page.locator("#amend-message")).to_contain_text("已签名撤回（记录号")
    expect(row.locator(".badge")).to_have_text("已撤回")
    expect(row.locator("button.withdraw-batch")).to_have_count(0)
    assert batch_state(server, code) == "withdrawn"
    history = page.request.get(f"{server.url}/api/v1/batches/{code}").json()["history"]
    assert [h["kind"] for h in history] == ["batch.declared", "batch.withdrawn"]
    assert history[-1]["data"]["reason"] == "废物代码选错，应为 900-041-49"
    assert history[-1]["verified"]

    # after a reload: 已撤回 under its own tab, no button, no label to print
    page.goto(f"{server.url}/generator/?state=withdrawn")
    row = page.locator(f'tr[data-code="{code}"]')
    expect(row.locator(".badge")).to_have_text("已撤回")
    expect(row.locator("button.amend")).to_have_count(0)
    expect(row.locator("a.label-link")).to_have_count(0)
    expect(page.locator('a[data-group="withdrawn"] .count')).not_to_have_text("0")
    # the public page of its QR says it is void
    page.goto(f"{server.url}/t/{code}")
    expect(page.locator("#withdrawn")).to_contain_text("已撤回")

    # the next declaration of the same waste on the same day gets a later serial
    again = declare(page, server)
    assert again[:-3] == code[:-3] and int(again[-3:]) > int(code[-3:])


def test_once_someone_else_signed_only_a_correction_is_offered(demo_server: LiveServer,
                                                               page: Page):
    server = demo_server
    org = org_of(server, "generator")
    log_in(page, server)
    signed, later = declare(page, server), declare(page, server)
    collector, manifest = request_pickup(page, server, signed)
    driver = device_client(server, collector)
    driver.accept(signed, org, 30_000, manifest)  # the driver signed first

    open_list(page, server)
    row = page.locator(f'tr[data-code="{signed}"]')
    expect(row.locator("button.withdraw-batch")).to_have_count(0)
    expect(row.locator("button.correct-batch")).to_have_text("更正")
    other = page.locator(f'tr[data-code="{later}"]')
    expect(other.locator("button.withdraw-batch")).to_be_visible()

    # the page is out of date: the driver signs on the second batch meanwhile
    _, manifest2 = request_pickup(page, server, later)
    open_list(page, server)
    driver.accept(later, org, 30_000, manifest2)
    page.locator(f'tr[data-code="{later}"] button.withdraw-batch').click()
    page.fill("#amend-reason", "重复申报")
    page.click("#amend-sign")
    message = page.locator("#amend-message")
    expect(message).to_contain_text("其他单位已在该批次上签名，不能撤回，请改用更正")
    expect(message).to_have_class(re.compile(r"\berror\b"))
    assert batch_state(server, later) == "pending"  # nothing was withdrawn

    # 更正: the declared mass of the batch the driver signed for
    row.locator("button.correct-batch").click()
    expect(page.locator("#amend-now")).to_contain_text("30")
    page.fill("#amend-mass", "65,3")
    page.fill("#amend-reason", "称重时少算了一桶")
    page.click("#amend-sign")
    expect(message).to_contain_text("小数点")
    page.fill("#amend-mass", "65.3")
    page.click("#amend-sign")
    expect(message).to_contain_text("已签名更正（记录号")
    expect(row.locator("td.num")).to_have_text("65.3")
    history = page.request.get(f"{server.url}/api/v1/batches/{signed}").json()["history"]
    assert history[-1]["kind"] == "custody.corrected"
    assert (history[-1]["data"]["mass_g"], history[-1]["data"]["corrects"]) == (
        65_300, history[0]["leaf_hash"])

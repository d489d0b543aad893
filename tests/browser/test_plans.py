"""Plans and declarations in Chromium, on both databases: on a 375 px phone an enterprise drafts
next year's plan from this year's ledger and signs it with one tap, then files a quarterly
declaration from the pre-filled figures, adding its own utilisation (the difference is shown
before signing and kept); a regulator sees who has filed and who has not."""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import Page, expect

from api.demo.plans import last_ended_quarter, on_day
from api.demo.seed import DEMO_PASSWORD, WASTES, description, in_process
from api.extensions import db
from api.runtime import log_config
from ledger.audit.models import DeclarationLine, Plan
from ledger.clock import BEIJING
from ledger.custody import access
from ledger.custody.uscc import make_uscc
from ledger.tlog import registry
from ledger.tlog.client import Client
from ledger.tlog.entries import format_time
from ledger.tlog.notes import Signer
from tests.browser.harness import LiveServer, log_in, org_of, overflow_px, screenshot


def other_device(server: LiveServer, org: str) -> Client:
    with server.app.app_context():
        key = Signer.generate(f"pad-{org[-6:]}")
        registry.register_key(db.session, log_config(), org, key.verifier, "平板")
        token = access.issue_token(db.session, org, "test")
        db.session.remove()
    return Client(in_process(server.app), org, key, token)


def test_an_enterprise_plans_and_declares_a_quarter_on_a_phone(demo_server: LiveServer,
                                                               phone_page: Page):
    server, page = demo_server, phone_page
    org = org_of(server, "generator")
    today = dt.datetime.now(BEIJING).date()
    quarter = last_ended_quarter(today)
    when = on_day(quarter.end - dt.timedelta(days=9))
    pad = other_device(server, org)  # a batch of the quarter, declared on another device
    pad.clock = format_time(int(when.timestamp()) * 1000)
    pad.declare(f"{org}90003949{when.astimezone(BEIJING):%Y%m%d}801",
                description(WASTES[0], 45_600, when.astimezone(BEIJING).date()))

    log_in(page, server, "generator")
    year = today.year + 1
    page.goto(f"{server.url}/generator/plan?year={year}")
    line = page.locator('.plan-line[data-code="900-039-49"]')
    expect(line).to_be_visible()  # drafted from this year's ledger
    assert overflow_px(page) <= 0
    page.click("#plan-submit")
    expect(page.locator("#plan-done")).to_be_visible(timeout=20_000)
    expect(page.locator('#plan-done [data-slot="class"]')).not_to_be_empty()
    with server.app.app_context():
        plan = db.session.get(Plan, (org, year))
        assert plan is not None and plan.generation_g > 0
        db.session.remove()

    page.goto(f"{server.url}/generator/report?period={quarter.text}")
    item = page.locator('.report-line[data-code="900-039-49"]')
    expect(item).to_be_visible()
    generated = item.locator('[data-row="generated_g"]')
    expect(generated.locator('[data-slot="ledger"]')).to_have_text("45.6")
    item.locator('[data-field="own_utilisation_g"]').fill("5.6")
    closing = item.locator('[data-row="closing_storage_g"]')
    expect(closing.locator('[data-slot="difference"]')).to_have_text("−5.6")
    item.locator('[data-field="explanation"]').fill("部分自行再生利用")
    assert overflow_px(page) <= 0
    screenshot(page, "generator-report-phone")
    page.click("#report-submit")
    expect(page.locator("#report-done")).to_be_visible(timeout=20_000)
    with server.app.app_context():
        row = db.session.get(DeclarationLine, (org, quarter.text, "900-039-49"))
        assert (row.own_utilisation_g, row.ledger_generated_g, row.generated_g) == (
            5_600, 45_600, 45_600)
        assert row.closing_storage_g == row.ledger_closing_storage_g - 5_600
        db.session.remove()


def test_a_regulator_sees_who_has_filed_and_who_has_not(demo_server: LiveServer, page: Page):
    server = demo_server
    silent = make_uscc("331002", 1999)  # registered, no batches, no plan
    with server.app.app_context():
        registry.register_org(db.session, log_config(), silent, "椒江某新办厂", "331002",
                              ["generator"], None, None)
        db.session.remove()
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", "regulator")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{server.url}/regulator/")
    page.click("text=计划与申报")
    page.wait_for_url(f"{server.url}/regulator/roster")
    filed = page.locator(f'#roster tr[data-org="{org_of(server, "generator")}"]')
    expect(filed).to_have_attribute("data-plan", "filed")
    expect(filed).to_contain_text("已备案")
    new = page.locator(f'#roster tr[data-org="{silent}"]')
    expect(new).to_have_attribute("data-plan", "missing")
    expect(new).to_contain_text("未备案")
    expect(new).to_contain_text("无批次")
    page.click("text=只看未备案、未申报的单位")
    expect(page.locator(f'#roster tr[data-org="{silent}"]')).to_be_visible()
    expect(page.locator(f'#roster tr[data-org="{org_of(server, "generator")}"]')).to_have_count(0)

"""Administration in Chromium, clicking only: an enterprise's admin on a phone revokes the key
of a lost phone and adds a colleague (a taken username is explained and nothing changes); the
operator registers a new unit on a desktop (a wrong USCC is explained, the form keeps what was
typed); the regulator records a permit of its district (a wrong validity is explained, nothing
recorded)."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from api.demo.seed import DEMO_PASSWORD
from api.extensions import db
from ledger.custody import access
from ledger.custody.projections import Organisation, Permit
from ledger.custody.uscc import make_uscc
from ledger.tlog.models import SigningKey
from tests.browser.harness import LiveServer, overflow_px, screenshot


def _log_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form button[type=submit]")
    expect(page.locator(".who")).to_be_visible()


def test_an_enterprise_admin_revokes_a_lost_phone_and_adds_a_colleague(demo_server: LiveServer,
                                                                        phone_page: Page):
    page = phone_page
    _log_in(page, demo_server, "generator")
    page.get_by_role("link", name="单位管理").click()
    expect(page.locator("h1")).to_be_visible()
    org = page.url.rstrip("/").rsplit("/", 1)[1]
    with demo_server.app.app_context():
        live = db.session.scalars(select(SigningKey).where(SigningKey.org == org,
                                                           SigningKey.revoked_at.is_(None))).all()
        db.session.remove()
    assert live, "the demo enterprise has a registered phone"
    row = page.locator(f'tr[data-key="{live[0].fingerprint}"]')
    row.locator("input[name=reason]").fill("手机丢失")
    row.get_by_role("button", name="注销").click()
    expect(page.locator(".notice")).to_contain_text("已注销")
    expect(page.locator(f'tr[data-key="{live[0].fingerprint}"]')).to_contain_text("已注销")
    assert overflow_px(page) <= 0
    screenshot(page, "admin-org-phone")
    # a colleague, first with a username that is taken: said next to the form, nothing added
    page.locator("#add-person summary").click()
    page.fill("#add-person input[name=username]", "driver")
    page.fill("#add-person input[name=display_name]", "王师傅")
    page.fill("#add-person input[name=password]", "wang-pass-2026")
    page.locator("#add-person").get_by_role("button", name="添加").click()
    expect(page.locator("#admin-error")).to_contain_text("该用户名已被使用")
    expect(page.locator("#add-person input[name=display_name]")).to_have_value("王师傅")
    page.fill("#add-person input[name=username]", "wang-shifu")
    page.fill("#add-person input[name=password]", "wang-pass-2026")
    page.locator("#add-person").get_by_role("button", name="添加").click()
    expect(page.locator('tr[data-user="wang-shifu"]')).to_contain_text("王师傅")
    with demo_server.app.app_context():
        person = db.session.scalars(select(access.User)
                                    .where(access.User.username == "wang-shifu")).one()
        assert person.org == org and person.active
        db.session.remove()


def test_the_operator_registers_a_new_unit(demo_server: LiveServer, page: Page):
    _log_in(page, demo_server, "operator")
    page.get_by_role("link", name="单位管理").click()
    expect(page.locator("#organisations")).to_be_visible()
    form = page.locator("#add-organisation")
    new = make_uscc("331003", 55)
    wrong = new[:-1] + ("0" if new[-1] != "0" else "1")  # the check character is wrong
    form.locator("input[name=uscc]").fill(wrong)
    form.locator("input[name=name]").fill("黄岩再生资源利用有限公司")
    form.locator("input[name=region]").fill("331003")
    form.get_by_label("利用处置单位").check()
    form.get_by_role("button", name="登记").click()
    expect(page.locator("#admin-error")).to_be_visible()
    name = page.locator("#add-organisation input[name=name]")
    expect(name).to_have_value("黄岩再生资源利用有限公司")
    page.locator("#add-organisation input[name=uscc]").fill(new)
    page.locator("#add-organisation").get_by_role("button", name="登记").click()
    expect(page.locator("h1")).to_have_text("黄岩再生资源利用有限公司")
    expect(page.locator("main")).to_contain_text("331003 黄岩区")
    screenshot(page, "admin-org-desktop")
    with demo_server.app.app_context():
        assert db.session.get(Organisation, new) is not None
        assert db.session.get(Organisation, wrong) is None
        db.session.remove()


def test_the_regulator_records_a_permit_of_its_region(demo_server: LiveServer, page: Page):
    """The demo regulator (椒江) opens a collector of its district from 单位管理 and records its
    permit: a validity that ends before it starts is explained and nothing is recorded; then
    the permit is recorded and listed. A unit of another district is 404 to it."""
    _log_in(page, demo_server, "regulator")
    page.get_by_role("link", name="单位管理").click()
    page.get_by_role("link", name="椒江区清源环保科技有限公司").click()
    expect(page.locator("h1")).to_have_text("椒江区清源环保科技有限公司")
    org = page.url.rstrip("/").rsplit("/", 1)[1]
    permits = page.locator("#permits")

    def fill(valid_to: str) -> None:
        permits.locator("summary").click()
        form = permits.locator("form")
        form.locator("input[name=number]").fill("台危废经第2002-2号")
        form.locator("input[name=valid_from]").fill("2026-06-01")
        form.locator("input[name=valid_to]").fill(valid_to)
        form.locator("input[name=codes]").fill("HW08 900-039-49")
        form.locator("input[name=activities][value=collect]").check()
        form.locator("input[name=activities][value=store]").check()
        form.locator("input[name=capacity_t]").fill("3000")
        form.get_by_role("button", name="记录").click()

    fill("2026-01-01")  # ends before it starts
    expect(page.locator("#admin-error")).to_contain_text("“有效期至”早于“有效期自”")
    with demo_server.app.app_context():
        assert db.session.scalars(select(Permit).where(
            Permit.number == "台危废经第2002-2号")).all() == []
        db.session.remove()
    fill("2031-05-31")
    expect(page.locator("p.notice")).to_contain_text("已记录经营许可证")
    expect(permits).to_contain_text("台危废经第2002-2号 · 2026-06-01 — 2031-05-31")
    with demo_server.app.app_context():
        permit = db.session.scalars(select(Permit).where(
            Permit.number == "台危废经第2002-2号")).one()
        assert (permit.org, permit.activities, permit.capacity_t) == (org, "collect store", 3000)
        db.session.remove()
    # the disposer of 黄岩 (another district) is not even shown to it
    far = make_uscc("331003", 3001)
    assert page.request.get(f"{demo_server.url}/admin/org/{far}").status == 404

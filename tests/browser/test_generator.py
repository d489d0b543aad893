"""The generator's workspace in Chromium: declare a batch by searching the catalogue, sign it
with a key made in the browser, print its label (the QR decodes), request a pickup and sign
the release — also after the driver signed first — and every page fits a phone."""

from __future__ import annotations

import io
import re

import pypdfium2 as pdfium
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, Route, expect
from sqlalchemy import select

from api.demo.seed import DEMO_PASSWORD, in_process
from api.extensions import db
from api.runtime import log_config
from ledger.custody import access
from ledger.custody.pickups import PickupRequest
from ledger.custody.projections import Batch, Handover
from ledger.tlog import registry
from ledger.tlog.client import Client
from ledger.tlog.models import LogEntry, SigningKey
from ledger.tlog.notes import Signer
from tests.browser.harness import LiveServer, log_in, org_of, overflow_px, screenshot

DEVICE_KEY = """async (org) => {
  const { deviceKey } = await import("/static/js/ledger.js");
  const key = await deviceKey(org);
  return key ? { fingerprint: key.fingerprint, name: key.name, registered: key.registered }
             : null;
}"""


def declare_in_browser(page: Page, server: LiveServer, mass: str = "12.345") -> str:
    """Fill in the declaration form as a person does; returns the new batch code."""
    page.goto(f"{server.url}/generator/declare")
    page.locator("#waste-search").press_sequentially("活性炭", delay=30)
    option = page.locator("#waste-options li[role=option]", has_text="900-039-49")
    expect(option).to_be_visible()
    option.click()
    expect(page.locator("#waste-code")).to_have_value("900-039-49")
    expect(page.locator("#name")).to_have_value("废活性炭")  # guessed from the catalogue
    assert page.locator("input[name=hazards][value=T]").is_checked()  # from the catalogue
    page.fill("#mass", mass)
    page.click("#declare-submit")
    expect(page.locator("#declared")).to_be_visible()
    expect(page.locator("#declare-form")).to_be_hidden()
    return page.locator('#declared [data-slot="code"]').inner_text().strip()


def qr_texts(image: Image.Image) -> list[str]:
    found = zxingcpp.read_barcodes(image.convert("RGB"), formats=zxingcpp.BarcodeFormat.QRCode)
    return [r.text for r in found]


def device_client(server: LiveServer, org: str) -> Client:
    """Another device of ``org`` (e.g. the driver's phone) as the Python client, with a key of
    its own registered for ``org``."""
    with server.app.app_context():
        key = Signer.generate(f"phone-{org[-6:]}")
        registry.register_key(db.session, log_config(), org, key.verifier, "手机")
        token = access.issue_token(db.session, org, "test")
        db.session.remove()
    return Client(in_process(server.app), org, key, token)


def request_pickup(page: Page, server: LiveServer, code: str) -> tuple[str, str]:
    """Ask for ``code`` to be collected by the first (covering) collector; returns the
    collector's USCC and the reserved manifest number."""
    page.goto(f"{server.url}/generator/pickups?codes={code}")
    expect(page.locator(f'input[name=batches][value="{code}"]')).to_be_checked()
    collector = page.locator("#collector option").nth(1).get_attribute("value")
    assert collector
    page.select_option("#collector", collector)
    page.fill("#note", "下午两点后有人")
    page.get_by_role("button", name="提交预约").click()
    article = page.locator("article.pickup", has=page.locator(f'li[data-code="{code}"]'))
    expect(article).to_be_visible()
    manifest = article.get_attribute("data-manifest")
    assert manifest and len(manifest) == 14
    return collector, manifest


def test_a_generator_declares_prints_requests_a_pickup_and_releases(demo_server: LiveServer,
                                                                    page: Page):
    server = demo_server
    org = org_of(server, "generator")
    log_in(page, server)
    code = declare_in_browser(page, server)
    assert len(code) == 37 and code.startswith(f"{org}90003949")

    # Signed by a key this browser made and had registered for the organisation.
    key = page.evaluate(DEVICE_KEY, org)
    assert key and key["registered"]
    with server.app.app_context():
        batch = db.session.get(Batch, code)
        assert batch is not None and batch.declared_mass_g == 12_345  # exact grams
        assert (batch.state, batch.holder, batch.name) == ("declared", org, "废活性炭")
        entry = db.session.scalars(select(LogEntry).where(LogEntry.stream == code)).one()
        registered = db.session.get(SigningKey, entry.key_fp)
        assert registered is not None and registered.fingerprint == key["fingerprint"]
        assert (registered.org, registered.name) == (org, key["name"])
        db.session.remove()
    detail = page.request.get(f"{server.url}/api/v1/batches/{code}").json()
    assert [h["verified"] for h in detail["history"]] == [True]
    assert detail["history"][0]["key"] == key["fingerprint"]

    # The label the page links to carries a QR code that opens the batch's trace page.
    page.select_option("#declared-size", "150")
    href = page.locator("#declared-label").get_attribute("href")
    assert href == f"/api/v1/batches/{code}/label.pdf?size=150"
    pdf = page.request.get(server.url + href)
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    rendered = pdfium.PdfDocument(pdf.body())[0].render(scale=300 / 72).to_pil()
    assert qr_texts(rendered) == [f"{server.url}/t/{code}"]
    png = page.request.get(f"{server.url}/api/v1/batches/{code}/label.png")
    assert qr_texts(Image.open(io.BytesIO(png.body()))) == [f"{server.url}/t/{code}"]
    screenshot(page, "generator-declared-desktop")

    # The list shows it; a pickup is requested and the release signed on this device.
    page.goto(f"{server.url}/generator/?state=declared")
    expect(page.locator(f'tr[data-code="{code}"]')).to_be_visible()
    collector, manifest = request_pickup(page, server, code)
    item = page.locator(f'li[data-code="{code}"]')
    item.get_by_role("button", name="签名交接").click()
    outcome = item.locator('[data-slot="outcome"]')
    expect(outcome).to_have_text(re.compile(r"^记录号 [0-9]+$"))  # said once, not twice
    expect(item.locator('[data-slot="status"]')).to_have_text("本单位已签名，等待收运方确认")
    article = page.locator("article.pickup", has=item)
    expect(article.locator("form.inline")).to_have_count(0)  # nothing left to cancel
    with server.app.app_context():
        handover = db.session.scalars(select(Handover).where(Handover.batch == code)).one()
        assert (handover.from_org, handover.to_org, handover.manifest) == (org, collector,
                                                                          manifest)
        assert (handover.status, handover.released_mass_g) == ("awaiting_answer", 12_345)
        assert db.session.get(Batch, code).state == "pending"
        release = db.session.scalars(select(LogEntry).where(LogEntry.stream == code,
                                                            LogEntry.seq == 1)).one()
        assert release.key_fp == key["fingerprint"]
        db.session.remove()
    history = page.request.get(f"{server.url}/api/v1/batches/{code}").json()["history"]
    assert [(h["kind"], h["verified"]) for h in history] == [
        ("batch.declared", True), ("custody.released", True)]
    page.reload()
    expect(page.locator(f'li[data-code="{code}"]')).to_have_attribute("data-status", "released")


def test_a_release_after_the_driver_signed_first_settles_the_handover(demo_server: LiveServer,
                                                                     page: Page):
    server = demo_server
    org = org_of(server, "generator")
    log_in(page, server)
    code = declare_in_browser(page, server, mass="7")
    collector, manifest = request_pickup(page, server, code)
    # The driver weighs and signs first, from the phone.
    device_client(server, collector).accept(code, org, 6_950, manifest)
    page.reload()
    item = page.locator(f'li[data-code="{code}"]')
    expect(item).to_have_attribute("data-status", "answered")
    # The enterprise confirms against both masses: its own and the driver's weighed one.
    expect(item.locator('[data-slot="weighed"]')).to_have_text(
        "收运方称重 6.95 千克；本单位记录 7 千克，相差 0.05 千克（0.7%）")
    screenshot(page, "generator-release-desktop")
    page.locator("article.pickup", has=item).get_by_role("button", name="全部签名交接").click()
    expect(item.locator('[data-slot="outcome"]')).to_contain_text("交接完成")
    with server.app.app_context():
        batch = db.session.get(Batch, code)
        assert (batch.state, batch.holder, batch.mass_g) == ("stored", collector, 6_950)
        handover = db.session.scalars(select(Handover).where(Handover.batch == code)).one()
        assert handover.status == "confirmed"
        assert db.session.scalars(select(PickupRequest.manifest)).all().count(manifest) == 1
        db.session.remove()


def test_bad_input_is_explained_next_to_the_field(demo_server: LiveServer, page: Page):
    log_in(page, demo_server)
    page.goto(f"{demo_server.url}/generator/declare")
    page.fill("#mass", "1.2345")
    page.click("#declare-submit")
    expect(page.locator("#err-waste_code")).to_contain_text("请从名录中选择废物代码")
    expect(page.locator("#err-mass_g")).to_contain_text("最多 3 位小数")
    # Keyboard only: type a code, arrow down, Enter.
    page.locator("#waste-search").press_sequentially("900-249", delay=30)
    expect(page.locator("#waste-options li[role=option]").first).to_be_visible()
    page.locator("#waste-search").press("Enter")
    expect(page.locator("#waste-code")).to_have_value("900-249-08")
    with demo_server.app.app_context():
        before = len(db.session.scalars(select(Batch.code)).all())
        db.session.remove()
    page.fill("#mass", "0")
    page.click("#declare-submit")
    expect(page.locator("#err-mass_g")).to_contain_text("应大于 0")
    with demo_server.app.app_context():
        assert len(db.session.scalars(select(Batch.code)).all()) == before  # nothing sent
        db.session.remove()


def test_a_serial_taken_meanwhile_is_asked_for_again(demo_server: LiveServer, page: Page):
    """Another device of the same unit declares the very code this tab was given before the
    tab signs: the ledger answers batch_exists, and the page asks again and re-signs once."""
    server = demo_server
    org = org_of(server, "generator")
    other_device = device_client(server, org)
    taken: list[str] = []

    def declare_first(route: Route) -> None:
        answer = route.fetch()
        code = answer.json()["code"]
        if not taken:  # only the first answer is raced
            data = {**description(code), "generated_on": f"{code[26:30]}-{code[30:32]}-"
                                                         f"{code[32:34]}"}
            other_device.declare(code, data)
            taken.append(code)
        route.fulfill(response=answer)

    page.route(re.compile(r"/api/v1/batches/next-code\?"), declare_first)
    log_in(page, server)
    code = declare_in_browser(page, server, mass="3.5")
    assert taken and code != taken[0]
    assert code[:-3] == taken[0][:-3] and int(code[-3:]) == int(taken[0][-3:]) + 1
    with server.app.app_context():
        assert db.session.get(Batch, code).declared_mass_g == 3_500
        assert db.session.get(Batch, taken[0]).declared_mass_g == 1_000
        db.session.remove()


def test_a_lost_answer_does_not_declare_the_drum_twice(demo_server: LiveServer, page: Page):
    """The declaration reached the ledger but its answer was lost on the way back: the person
    presses again and the page sends the same signed note (the ledger answers with the first
    receipt), so one drum is one batch."""
    server = demo_server
    lost: list[str] = []

    def lose_first_answer(route: Route) -> None:
        if route.request.method != "POST" or lost:
            route.continue_()
            return
        route.fetch()  # the server appends it ...
        lost.append(route.request.post_data or "")
        route.abort("connectionreset")  # ... and the phone never hears back

    page.route(re.compile(r"/api/v1/entries$"), lose_first_answer)
    log_in(page, server)
    page.goto(f"{server.url}/generator/declare")
    page.locator("#waste-search").press_sequentially("活性炭", delay=30)
    page.locator("#waste-options li[role=option]", has_text="900-039-49").click()
    page.fill("#mass", "7.25")
    page.click("#declare-submit")
    expect(page.locator("#form-error")).to_contain_text("不会重复申报")
    page.click("#declare-submit")
    expect(page.locator("#declared")).to_be_visible()
    code = page.locator('#declared [data-slot="code"]').inner_text().strip()
    assert lost and code in lost[0]
    with server.app.app_context():
        mine = db.session.scalars(select(Batch.code).where(
            Batch.code.like(code[:-3] + "%"), Batch.declared_mass_g == 7_250)).all()
        db.session.remove()
    assert mine == [code]


def test_a_revoked_device_key_is_replaced_on_the_next_signature(demo_server: LiveServer,
                                                               page: Page):
    """The operator revoked this browser's key (a lost phone, say): the next declaration makes
    and registers a new key here and goes through, instead of failing for ever."""
    server = demo_server
    org = org_of(server, "generator")
    log_in(page, server)
    declare_in_browser(page, server)
    old = page.evaluate(DEVICE_KEY, org)
    with server.app.app_context():
        registry.revoke_key(db.session, log_config(), org, old["fingerprint"], "设备丢失")
        db.session.remove()
    code = declare_in_browser(page, server, mass="2")
    new = page.evaluate(DEVICE_KEY, org)
    assert new["fingerprint"] != old["fingerprint"] and new["registered"]
    with server.app.app_context():
        entry = db.session.scalars(select(LogEntry).where(LogEntry.stream == code)).one()
        assert entry.key_fp == new["fingerprint"]
        assert db.session.get(SigningKey, old["fingerprint"]).revoked_at is not None
        db.session.remove()
    expect(page.locator("#device-key")).to_contain_text(new["name"])


def description(code: str) -> dict[str, object]:
    return {"waste_code": "900-039-49", "name": "废活性炭", "form": "solid", "hazards": ["T"],
            "container": {"type": "吨袋", "count": 1}, "mass_g": 1_000}


MASSES = {"12.345": 12_345, "\uff11\uff12\uff0e\uff15": 12_500, "1,234.5": 1_234_500,
          "0.001": 1, " 7 ": 7_000, "1000000000": 10**12, "1.2345": "mass_format",
          "abc": "mass_format", "-1": "mass_format", "1e3": "mass_format", "": "mass_required",
          "0": "mass_range", "1000000000.001": "mass_range", "12.": "mass_format"}


def test_kilograms_become_exact_grams(live_server: LiveServer, page: Page):
    page.goto(f"{live_server.url}/login")
    got = page.evaluate("""async (inputs) => {
      const { parseMassKg, gramsToKg } = await import("/static/js/generator/util.js");
      const out = {};
      for (const text of inputs) {
        const r = parseMassKg(text);
        out[text] = r.error || r.grams;
      }
      out.back = [gramsToKg(12345), gramsToKg(1), gramsToKg(1234500), gramsToKg(7000)];
      return out;
    }""", list(MASSES))
    assert got.pop("back") == ["12.345", "0.001", "1,234.5", "7"]
    assert got == MASSES


def _every_page(page: Page, server: LiveServer, suffix: str) -> None:
    """Each page with something on it, at this width: no sideways scrolling, a screenshot."""
    log_in(page, server)
    page.goto(f"{server.url}/generator/declare")
    page.locator("#waste-search").press_sequentially("废矿物油", delay=30)
    expect(page.locator("#waste-options li[role=option]").first).to_be_visible()
    assert overflow_px(page) <= 0
    screenshot(page, f"generator-declare-search-{suffix}", full_page=False)
    code = declare_in_browser(page, server)
    assert overflow_px(page) <= 0
    screenshot(page, f"generator-declared-{suffix}")
    request_pickup(page, server, code)
    for path, name in (("/generator/", "batches"), ("/generator/declare", "declare"),
                       ("/generator/pickups", "pickups")):
        page.goto(server.url + path)
        expect(page.locator("h1")).to_be_visible()
        assert overflow_px(page) <= 0, path
        screenshot(page, f"generator-{name}-{suffix}")


def test_every_page_fits_a_phone(demo_server: LiveServer, phone_page: Page):
    _every_page(phone_page, demo_server, "phone")
    assert phone_page.evaluate("innerWidth") == 375


def test_every_page_on_a_desktop(demo_server: LiveServer, page: Page):
    _every_page(page, demo_server, "desktop")


def test_the_pickup_address_reaches_the_drivers_round_with_a_map_link(
        demo_server: LiveServer, page: Page):
    """The enterprise's pickup form starts from the address it gave last; a new address is
    kept with the request, and the driver's round shows it with a map link."""
    server = demo_server
    log_in(page, server)
    code = declare_in_browser(page, server, mass="5")
    page.goto(f"{server.url}/generator/pickups?codes={code}")
    address = page.locator("#address")
    expect(address).to_have_value("台州市椒江区海门街道东海大道 1 号（演示地址）")
    page.select_option("#collector", org_of(server, "driver"))
    page.fill("#address", "台州市椒江区海门街道北门 8 号")
    page.get_by_role("button", name="提交预约").click()
    article = page.locator("article.pickup", has=page.locator(f'li[data-code="{code}"]'))
    expect(article).to_contain_text("取货地址：台州市椒江区海门街道北门 8 号")
    manifest = article.get_attribute("data-manifest")
    page.goto(f"{server.url}/generator/pickups")
    expect(page.locator("#address")).to_have_value("台州市椒江区海门街道北门 8 号")

    page.context.clear_cookies()
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", "driver")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/collector/")
    page.wait_for_selector("body[data-ready='1']")
    enterprise = page.locator("article.enterprise", has=page.locator(
        f"section.pickup[data-manifest='{manifest}']"))
    expect(enterprise.locator(".address").filter(has_text="北门 8 号")).to_be_visible()
    link = enterprise.locator(".address a.map-link").filter(has_text="地图导航").last
    href = link.get_attribute("href") or ""
    assert href.startswith("https://uri.amap.com/search?keyword=")
    assert "%E5%8C%97%E9%97%A8" in href  # 北门, encoded
    assert link.get_attribute("rel") == "noopener noreferrer"


def test_finding_the_waste_code_as_a_small_enterprise_does(demo_server: LiveServer, page: Page):
    """Everyday names find catalogue codes; what the unit declared before and the region's
    common wastes come first; the count is the true total and every match can be reached; the
    name filled in is a whole phrase; "与上次相同" fills the form in one tap."""
    server = demo_server
    log_in(page, server)
    page.goto(f"{server.url}/generator/declare")
    search = page.locator("#waste-search")
    options = page.locator("#waste-options li[role=option]:not(.more)")
    help_line = page.locator("#waste-help")
    # An empty box: the codes this unit declared before, marked so.
    search.focus()
    expect(options.first.locator(".why-previous")).to_have_text("本单位申报过")
    expect(help_line).to_contain_text("本单位申报过的和本地常见的")

    search.fill("废机油")  # an everyday name the catalogue text does not contain
    oil = options.filter(has_text="900-214-08")
    expect(oil).to_be_visible()
    expect(oil.locator(".why-synonym")).to_have_text("俗称“废机油”")

    search.fill("活性炭")
    expect(options.first).to_contain_text("900-039-49")  # first, not eleventh

    search.fill("废矿物油")
    expect(help_line).to_contain_text("找到 33 条（显示 12 条）")
    more = page.locator("#waste-options li.more")
    expect(more).to_have_text("显示更多（还有 21 条）")
    for shown in (24, 33):
        more.click()
        expect(options).to_have_count(shown)
    expect(more).to_have_count(0)
    expect(options.filter(has_text="900-249-08")).to_have_count(1)
    expect(help_line).to_contain_text("找到 33 条（显示 33 条）")

    search.fill("含油抹布")
    rag = options.filter(has_text="900-041-49")
    expect(rag).to_be_visible()
    rag.click()
    expect(page.locator("#waste-code")).to_have_value("900-041-49")
    expect(page.locator("#name")).to_have_value("沾染危险废物的废弃包装物、容器、过滤吸附介质")
    page.fill("#container-type", "编织袋")
    page.locator("details.more summary").click()
    page.fill("input[name=location]", "二号危废间")
    page.fill("#mass", "8")
    page.click("#declare-submit")
    expect(page.locator("#declared")).to_be_visible()

    # The next drum of the same waste: one tap, then only the mass.
    page.goto(f"{server.url}/generator/declare")
    page.click("#same-as-last")
    expect(page.locator("#waste-code")).to_have_value("900-041-49")
    expect(page.locator("#name")).to_have_value("沾染危险废物的废弃包装物、容器、过滤吸附介质")
    expect(page.locator("#container-type")).to_have_value("编织袋")
    expect(page.locator("#mass")).to_be_focused()
    page.fill("#mass", "9.5")
    page.click("#declare-submit")
    expect(page.locator("#declared")).to_be_visible()
    code = page.locator('#declared [data-slot="code"]').inner_text().strip()
    data = page.request.get(f"{server.url}/api/v1/batches/{code}").json()["history"][0]["data"]
    assert (data["waste_code"], data["container"]["type"], data["location"], data["mass_g"]) == (
        "900-041-49", "编织袋", "二号危废间", 9_500)


def test_a_refusal_before_the_release_is_never_shown_as_a_handover(demo_server: LiveServer,
                                                                   page: Page):
    """The driver refused before the enterprise signed: the card says so (who, why, how much),
    and signing confirms the refusal; it never claims a handover. The batch stays here."""
    server = demo_server
    org = org_of(server, "generator")
    log_in(page, server)
    code = declare_in_browser(page, server, mass="5")
    collector, manifest = request_pickup(page, server, code)
    device_client(server, collector).refuse(code, org, manifest, "包装破损或渗漏")
    page.reload()
    item = page.locator(f'li[data-code="{code}"]')
    expect(item).to_have_attribute("data-status", "refused")
    expect(item.locator('[data-slot="status"]')).to_have_text("收运方已拒收，批次仍在本单位")
    expect(item.locator('[data-slot="refusal"]')).to_contain_text(
        "拒收整批 5 千克，原因：包装破损或渗漏")
    item.get_by_role("button", name="签名确认拒收").click()
    outcome = item.locator('[data-slot="outcome"]')
    expect(outcome).to_contain_text("已签名确认拒收")
    expect(outcome).not_to_contain_text("交接完成")
    expect(item.locator('[data-slot="status"]')).to_have_text("被拒收，待本单位重新签名交接")
    expect(item.get_by_role("button", name="再次签名交接")).to_be_visible()
    with server.app.app_context():
        batch = db.session.get(Batch, code)
        assert (batch.state, batch.holder) == ("refused", org)
        db.session.remove()
    page.reload()
    expect(page.locator(f'li[data-code="{code}"]')).to_have_attribute("data-status", "sign")


API_ERROR = """async (code) => {
  const { api } = await import("/static/js/ledger.js");
  try { await api("GET", `/api/v1/batches/${code}`); return null; }
  catch (err) { return { code: err.code, message: err.message }; }
}"""


def test_an_api_error_reaches_the_page_in_its_language_only(demo_server: LiveServer,
                                                            page: Page):
    """The pages' scripts show the API's message as it comes (ledger.js ApiError): one
    sentence in the page's language, naming the batch, without the English detail."""
    server = demo_server
    org = org_of(server, "generator")
    log_in(page, server)
    page.goto(f"{server.url}/generator/pickups")
    missing = f"{org}9000394920261203999"
    got = page.evaluate(API_ERROR, missing)
    assert got["code"] == "batch_not_found"
    assert got["message"].startswith("找不到该批次") and not re.search(r"[a-z]{3}", got["message"])
    page.goto(f"{server.url}/lang/en")
    page.goto(f"{server.url}/generator/pickups")
    english = page.evaluate(API_ERROR, missing)["message"]
    assert not re.search(r"[\u4e00-\u9fff]", english), english


def test_the_enterprise_declines_a_receipt_the_driver_signed_first(demo_server: LiveServer,
                                                                   page: Page):
    """The driver signed for a drum the enterprise will not hand over after all: the
    enterprise withdraws with a signed entry (two taps); the batch stays, to be released."""
    server = demo_server
    org = org_of(server, "generator")
    log_in(page, server)
    code = declare_in_browser(page, server, mass="4")
    collector, manifest = request_pickup(page, server, code)
    device_client(server, collector).accept(code, org, 4_000, manifest)
    page.reload()
    item = page.locator(f'li[data-code="{code}"]')
    back = item.locator("button.withdraw-one")
    expect(back).to_have_text("不交出（撤回）")
    back.click()
    expect(back).to_have_text("再按一次确认撤回")
    with server.app.app_context():
        assert db.session.get(Batch, code).state == "pending"  # nothing signed on one tap
        db.session.remove()
    back.click()
    expect(item.locator('[data-slot="outcome"]')).to_contain_text("已签名撤回")
    expect(item).to_have_attribute("data-status", "withdrawn")
    with server.app.app_context():
        batch = db.session.get(Batch, code)
        assert (batch.state, batch.holder) == ("declared", org)
        handover = db.session.scalars(select(Handover).where(Handover.batch == code)).one()
        assert handover.status == "withdrawn"
        db.session.remove()
    history = page.request.get(f"{server.url}/api/v1/batches/{code}").json()["history"]
    assert [h["kind"] for h in history] == ["batch.declared", "custody.accepted",
                                            "custody.withdrawn"]
    assert history[-1]["org"] == org and history[-1]["verified"]
    page.reload()  # still on the request, to be handed over again
    expect(page.locator(f'li[data-code="{code}"]')).to_have_attribute("data-status", "sign")


def test_the_pickup_form_offers_only_receivers_that_may_take_the_ticked_batches(
        demo_server: LiveServer, page: Page):
    """A collector licensed for waste oil (HW08) only: offered while only oil is ticked, gone
    (and said why) as soon as spent activated carbon is ticked too, its choice cleared."""
    from api.runtime import log_config
    from ledger.custody.uscc import make_uscc

    oil_only = make_uscc("331002", 150)
    with demo_server.app.app_context():
        cfg = log_config()
        registry.register_org(db.session, cfg, oil_only, "只收废矿物油的收集公司", "331002",
                              ["collector"])
        registry.grant_permit(db.session, cfg, oil_only, "浙危废经第0150号", "2024-01-01",
                              "2030-12-31", ["HW08"], ["collect", "store"], 500)
        db.session.remove()
    from api.demo.seed import WASTES, description
    from ledger.clock import beijing_today

    log_in(page, demo_server)
    org = org_of(demo_server, "generator")
    phone = device_client(demo_server, org)
    today = beijing_today()
    oil = f"{org}90024908{today:%Y%m%d}901"
    carbon = f"{org}90003949{today:%Y%m%d}902"
    phone.declare(oil, description(WASTES[2], 30_000, today))
    phone.declare(carbon, description(WASTES[0], 20_000, today))
    page.goto(f"{demo_server.url}/generator/pickups?codes={oil}")
    option = page.locator(f'#collector option[value="{oil_only}"]')
    expect(option).to_be_enabled()
    page.select_option("#collector", oil_only)
    page.locator(f'input[name=batches][value="{carbon}"]').check()
    expect(option).to_be_disabled()
    expect(page.locator("#collector")).to_have_value("")
    page.locator("#not-offered summary").click()
    expect(page.locator(f'#not-offered li[data-uscc="{oil_only}"]')).to_contain_text("900-039-49")
    page.locator(f'input[name=batches][value="{carbon}"]').uncheck()
    expect(option).to_be_enabled()
    expect(page.locator(f'#not-offered li[data-uscc="{oil_only}"]')).to_be_hidden()

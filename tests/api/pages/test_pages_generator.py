"""The generator's pages (产废单位): who may open them, what they list, the next-code endpoint,
pickup requests and label sheets from the page forms (CSRF), and bad input."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from api.errors import in_user_language
from api.extensions import db
from ledger.clock import beijing_today
from ledger.custody.pickups import PickupRequest
from ledger.errors import RuleViolation
from ledger.tlog.client import ApiError
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    DISPOSER_PERMIT,
    GENERATORS,
    STATION,
    code_for,
    description,
    manifest,
)
from tests.api.logins import csrf_of, declare, log_in_as, region_with_people

G1, G2 = GENERATORS[0], GENERATORS[1]
PASSWORD = "correct horse battery"
USERS = {"boss": G1, "other": G2, "driver": COLLECTOR}
PAGES = ("/generator/", "/generator/declare", "/generator/pickups")


@pytest.fixture
def staff(app):
    return region_with_people(app, USERS, PASSWORD)


def log_in(client, username: str) -> str:
    """Log in through the form, as a person does; returns the session's CSRF token."""
    return log_in_as(client, username, PASSWORD)


def next_code(client, waste_code: str = "900-039-49", generated_on: str | None = None):
    day = beijing_today().isoformat() if generated_on is None else generated_on
    return client.get("/api/v1/batches/next-code",
                      query_string={"waste_code": waste_code, "generated_on": day})


# --- who may open the pages -------------------------------------------------------------------


def test_logged_out_people_are_sent_to_log_in(staff, client):
    for path in PAGES:
        resp = client.get(path)
        assert resp.status_code == 302, path
        assert resp.location == f"/login?next={path}", resp.location
    assert next_code(client).status_code == 401


def test_a_collector_may_not_open_the_generators_pages(staff, client):
    log_in(client, "driver")
    for path in PAGES:
        resp = client.get(path)
        assert resp.status_code == 403, path
        assert "该单位没有此项业务角色" in resp.get_data(as_text=True)
    resp = next_code(client)
    assert resp.status_code == 403 and resp.json["code"] == "role_missing"


def test_errors_reach_a_person_in_one_language(staff, app, client):
    """The 403 page and a page script's API call (X-Ledger-Page: 1) say the error in the
    person's language only; an integrator's API call keeps the Chinese with the English."""
    log_in(client, "driver")
    page = client.get("/generator/").get_data(as_text=True)
    assert "该单位没有此项业务角色" in page and "this needs the role" not in page
    api = next_code(client)
    assert api.json["message"] == "该单位没有此项业务角色（this needs the role generator）"
    query = {"waste_code": "900-039-49", "generated_on": beijing_today().isoformat()}
    scripted = client.get("/api/v1/batches/next-code", query_string=query,
                          headers={"X-Ledger-Page": "1"})
    assert scripted.status_code == 403
    assert scripted.json == {"code": "role_missing", "status": 403,
                             "message": "该单位没有此项业务角色", "errors": {}}
    client.get("/lang/en")
    english = client.get("/api/v1/batches/next-code", query_string=query,
                         headers={"X-Ledger-Page": "1"}).json["message"]
    assert english == "this needs the role generator"
    assert "this needs the role generator" in client.get("/generator/").get_data(as_text=True)
    # What the message names stays: a plate, a code.
    with app.test_request_context("/generator/pickups"):
        exc = RuleViolation("vehicle 浙J·X9999 is not registered to the carrier",
                            code="vehicle_unknown")
        assert in_user_language(exc) == "车辆未登记在承运单位名下：浙J·X9999"


def test_pages_render_in_chinese_for_a_generator(staff, client):
    declare(staff, G1, 1)
    log_in(client, "boss")
    texts = {"/generator/": ["我的批次", "待收集", "打印所选标签", "申报新批次"],
             "/generator/declare": ["申报危险废物批次", "废物代码", "危险特性", "签名并申报",
                                    "重量（千克）", "/hazard/In.svg"],
             "/generator/pickups": ["预约收集", "收集单位", "提交预约"]}
    for path, wanted in texts.items():
        resp = client.get(path)
        assert resp.status_code == 200, path
        html = resp.get_data(as_text=True)
        for text in wanted:
            assert text in html, (path, text)
        assert "<script>" not in html and "style=" not in html  # the CSP allows neither
    declare_page = client.get("/generator/declare").get_data(as_text=True)
    assert f'data-org="{G1}"' in declare_page
    assert f'value="{beijing_today().isoformat()}"' in declare_page  # Beijing's today


# --- 我的批次 ---------------------------------------------------------------------------------


def test_the_list_shows_own_batches_by_state_with_counts(staff, client):
    waiting = declare(staff, G1, 1, mass_g=12_345)
    released = declare(staff, G1, 2, mass_g=80_000)
    staff[G1].release(released, COLLECTOR, 80_000, manifest(1))
    foreign = declare(staff, G2, 1)
    log_in(client, "boss")
    html = client.get("/generator/").get_data(as_text=True)
    assert waiting in html and released in html and foreign not in html
    assert "12.345" in html and "80" in html  # kilograms, exactly
    assert re.search(r'data-group="declared"[^>]*>\s*待收集 <span class="count">1</span>', html)
    assert re.search(r'data-group="pending"[^>]*>\s*交接中 <span class="count">1</span>', html)
    assert f"/api/v1/batches/{waiting}/label.pdf" in html and f"/t/{waiting}" in html
    pending = client.get("/generator/?state=pending").get_data(as_text=True)
    assert released in pending and waiting not in pending
    # An unknown filter shows everything rather than failing.
    assert waiting in client.get("/generator/?state=nonsense").get_data(as_text=True)


def test_the_list_shows_batches_after_they_leave(staff, client):
    code = declare(staff, G1, 1)
    staff[G1].release(code, COLLECTOR, 120_000, manifest(1))
    staff[COLLECTOR].accept(code, G1, 119_000, manifest(1))
    log_in(client, "boss")
    html = client.get("/generator/?state=transferred").get_data(as_text=True)
    assert code in html and "已转移" in html


# --- the next batch code ----------------------------------------------------------------------


def test_next_code_serials_increment_and_skip_declared_ones(staff, client):
    log_in(client, "boss")
    day = beijing_today()
    first = next_code(client)
    assert first.status_code == 200, first.json
    assert first.json["code"] == f"{G1}90003949{day:%Y%m%d}001"
    assert first.json["serial"] == 1 and first.json["waste_code"] == "900-039-49"
    # A second tab asking before the first signed gets another serial.
    assert next_code(client, "90003949").json["serial"] == 2
    # Above the highest serial already in the ledger for that waste code and day.
    staff[G1].declare(f"{G1}90003949{day:%Y%m%d}007",
                       {**description(1000), "generated_on": day.isoformat()})
    assert next_code(client).json["code"].endswith("008")
    # Another waste code or another day has its own serials.
    assert next_code(client, "900-249-08").json["code"] == f"{G1}90024908{day:%Y%m%d}001"


def test_containers_declared_together_get_one_code_each(staff, client):
    """一物一码: three drums at once are three consecutive codes, three declarations sharing a
    lot; one declaration for the three is refused, in Chinese, naming the fix."""
    log_in(client, "boss")
    day = beijing_today()
    answer = client.get("/api/v1/batches/next-code", query_string={
        "waste_code": "900-039-49", "generated_on": day.isoformat(), "count": 3}).json
    codes = [f"{G1}90003949{day:%Y%m%d}{n:03d}" for n in (1, 2, 3)]
    assert answer["codes"] == codes and answer["code"] == codes[0]
    assert next_code(client).json["serial"] == 4  # all three are held
    for n, code in enumerate(codes, 1):
        staff[G1].declare(code, {**description(1000), "generated_on": day.isoformat(),
                                 "lot": {"ref": codes[0], "no": n, "of": 3}})
    with pytest.raises(ApiError) as err:
        staff[G1].declare(f"{G1}90003949{day:%Y%m%d}005", {
            **description(3000), "generated_on": day.isoformat(),
            "container": {"type": "铁桶", "count": 3}})
    assert err.value.status == 422 and err.value.body["code"] == "one_code_per_container"
    assert "一物一码" in err.value.message and "按件申报" in err.value.message
    too_many = client.get("/api/v1/batches/next-code", query_string={
        "waste_code": "900-039-49", "generated_on": day.isoformat(), "count": 101})
    assert too_many.status_code == 422 and "count" in too_many.json["errors"]["query"]


def test_next_code_is_per_organisation(staff, client):
    log_in(client, "boss")
    assert next_code(client).json["serial"] == 1
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/generator/")
                                                       .get_data(as_text=True))})
    log_in(client, "other")
    answer = next_code(client).json
    assert answer["code"].startswith(G2) and answer["serial"] == 1
    assert G1 not in str(answer)


@pytest.mark.parametrize(("waste_code", "day", "field", "code"), [
    ("", None, "waste_code", "waste_code_missing"),
    ("900-039-4", None, "waste_code", "waste_code_malformed"),
    ("123-456-49", None, "waste_code", "waste_code_unknown"),
    ("900-039-49", "2026-13-01", "generated_on", "generated_on_invalid"),
    ("900-039-49", "2026-1-1", "generated_on", "generated_on_invalid"),
    ("900-039-49", "", "generated_on", "generated_on_invalid"),
    ("900-039-49", "2999-01-01", "generated_on", "generated_on_future"),
])
def test_next_code_rejects_bad_input_naming_the_field(staff, client, waste_code, day, field,
                                                      code):
    log_in(client, "boss")
    resp = next_code(client, waste_code, day)
    assert resp.status_code == 422, resp.json
    assert resp.json["code"] == code
    assert list(resp.json["errors"]) == [field]
    assert re.search("[\u4e00-\u9fff]", resp.json["message"])  # said in Chinese


# --- pickup requests --------------------------------------------------------------------------


def test_a_pickup_request_from_the_page_form(staff, app, client):
    code = declare(staff, G1, 1)
    token = log_in(client, "boss")
    page = client.get(f"/generator/pickups?codes={code}").get_data(as_text=True)
    assert f'value="{code}" checked' in page  # preselected from the list page
    # Collectors whose permit covers the waste are offered, collectors first.
    options = re.findall(r'<option value="(\w{18})" data-takes="([^"]*)">', page)
    offered = [uscc for uscc, _ in options]
    assert offered[0] in (COLLECTOR, STATION) and DISPOSER in offered
    assert G2 not in offered and G1 not in offered  # generators cannot receive
    assert all(code in takes.split() for _, takes in options)
    form = {"collector": COLLECTOR, "batches": [code], "wanted_on": "", "note": "下午有人",
            "csrf_token": token}
    without = {k: v for k, v in form.items() if k != "csrf_token"}
    refused = client.post("/generator/pickups", data=without)
    assert refused.status_code == 403
    with app.app_context():
        assert db.session.scalars(select(PickupRequest)).all() == []
    made = client.post("/generator/pickups", data=form)
    assert made.status_code == 302 and "#pickup-" in made.location
    with app.app_context():
        row = db.session.scalars(select(PickupRequest)).one()
        assert (row.generator, row.collector, row.note) == (G1, COLLECTOR, "下午有人")
        number, pickup_id = row.manifest, row.id
    page = client.get("/generator/pickups").get_data(as_text=True)
    assert number in page and "已向" in page and "签名交接" in page
    assert f'data-collector="{COLLECTOR}"' in page and f'data-manifest="{number}"' in page
    # The other generator sees nothing of it.
    other = app.test_client()
    log_in(other, "other")
    assert number not in other.get("/generator/pickups").get_data(as_text=True)
    # Cancelling needs the token too.
    assert client.post(f"/generator/pickups/{pickup_id}/cancel").status_code == 403
    done = client.post(f"/generator/pickups/{pickup_id}/cancel", data={"csrf_token": token})
    assert done.status_code == 302
    page = client.get("/generator/pickups").get_data(as_text=True)
    assert "已取消预约" in page and f'data-manifest="{number}"' not in page


@pytest.mark.parametrize(("change", "field_text"), [
    ({"collector": ""}, "请选择收集单位"),
    ({"collector": G2}, "该单位没有此项业务角色"),
    ({"batches": []}, "请至少选择一个批次"),
    ({"wanted_on": "下周"}, "日期格式应为 YYYY-MM-DD"),
])
def test_a_bad_pickup_request_says_what_is_wrong(staff, app, client, change, field_text):
    code = declare(staff, G1, 1)
    token = log_in(client, "boss")
    form = {"collector": COLLECTOR, "batches": [code], "csrf_token": token, **change}
    resp = client.post("/generator/pickups", data=form)
    assert resp.status_code in (403, 404, 422), resp.status_code
    html = resp.get_data(as_text=True)
    assert field_text in html and "新建预约" in html  # the form again, with the message
    assert html.count(field_text) == 1  # said once, next to its field
    with app.app_context():
        assert db.session.scalars(select(PickupRequest)).all() == []


def test_a_pickup_cannot_take_another_organisations_batch(staff, client):
    foreign = declare(staff, G2, 1)
    token = log_in(client, "boss")
    resp = client.post("/generator/pickups", data={"collector": COLLECTOR, "batches": [foreign],
                                                   "csrf_token": token})
    assert resp.status_code == 404
    assert foreign in resp.get_data(as_text=True)  # named in the message next to the field


def test_release_status_follows_the_handover(staff, client):
    code = declare(staff, G1, 1)
    token = log_in(client, "boss")
    client.post("/generator/pickups", data={"collector": COLLECTOR, "batches": [code],
                                            "csrf_token": token})
    page = client.get("/generator/pickups").get_data(as_text=True)
    number = re.search(r'data-manifest="(\d{14})"', page).group(1)
    assert 'data-status="sign"' in page
    # The driver signs first (receiver-signs-first): the generator's release settles it.
    staff[COLLECTOR].accept(code, G1, 119_500, number)
    page = client.get("/generator/pickups").get_data(as_text=True)
    assert 'data-status="answered"' in page and "收运方已签收" in page and "sign-one" in page
    staff[G1].release(code, COLLECTOR, 120_000, number)
    page = client.get("/generator/pickups").get_data(as_text=True)
    assert 'data-status="done"' in page and "sign-one" not in page


def test_a_refusal_before_the_release_is_shown_as_a_refusal(staff, client):
    """The driver refused on the open request before the enterprise signed: the card says who
    refused, why and how much, and what to do next, never "收运方已签收"."""
    whole, part = declare(staff, G1, 1), declare(staff, G1, 2)
    token = log_in(client, "boss")
    client.post("/generator/pickups", data={"collector": COLLECTOR, "batches": [whole, part],
                                            "csrf_token": token})
    page = client.get("/generator/pickups").get_data(as_text=True)
    number = re.search(r'data-manifest="(\d{14})"', page).group(1)
    staff[COLLECTOR].refuse(whole, G1, number, "包装破损或渗漏")
    staff[COLLECTOR].refuse(part, G1, number, "标签与实物不符", refused_mass_g=20_000)
    page = client.get("/generator/pickups").get_data(as_text=True)
    assert "收运方已签收" not in page
    assert page.count('data-status="refused"') == 2
    assert "拒收整批 120 千克，原因：包装破损或渗漏" in page
    assert "拒收 20 千克（部分拒收，接收 100 千克），原因：标签与实物不符" in page
    assert "签名确认拒收" in page and "撤回这次交接" in page and "下一步" in page
    # Confirming the whole refusal leaves the batch here, to be signed again; the partial
    # refusal's release hands over the rest.
    staff[G1].release(whole, COLLECTOR, 120_000, number)
    staff[G1].release(part, COLLECTOR, 120_000, number)
    page = client.get("/generator/pickups").get_data(as_text=True)
    assert f'data-code="{whole}" data-status="sign"' in page
    assert f'data-code="{part}" data-status="done"' in page


def test_a_merged_batch_that_was_disposed_of_shows_as_disposed_with_the_date(staff, client):
    """A station merged the enterprise's batch into a drum and the disposer disposed of the
    drum: the enterprise's list says 已处置 with the date (not 已合并), under the 已处置 tab;
    a merged batch whose drum is not yet disposed of stays 已合并."""
    done, waiting = declare(staff, G1, 1, 10_000), declare(staff, G1, 2, 10_000)
    for n, code in enumerate((done, waiting)):
        staff[G1].release(code, COLLECTOR, 10_000, manifest(10 + n))
        staff[COLLECTOR].accept(code, G1, 10_000, manifest(10 + n))
        staff[COLLECTOR].release(code, STATION, 10_000, manifest(20 + n))
        staff[STATION].accept(code, COLLECTOR, 10_000, manifest(20 + n))
    drum, other = code_for(STATION, 1), code_for(STATION, 2)
    staff[STATION].consolidate(drum, [(done, 10_000)], description(10_000))
    staff[STATION].consolidate(other, [(waiting, 10_000)], description(10_000))
    staff[STATION].release(drum, DISPOSER, 10_000, manifest(30))
    staff[DISPOSER].accept(drum, STATION, 10_000, manifest(30))
    staff[DISPOSER].dispose(drum, "disposal", "D10", DISPOSER_PERMIT, 10_000)
    log_in(client, "boss")
    page = client.get("/generator/").get_data(as_text=True)
    row = page.split(f'<tr data-code="{done}"')[1].split("</tr>")[0]
    assert "已处置" in row and f"合并后于 {beijing_today().isoformat()} 处置" in row
    assert "已合并" not in row
    assert "已合并" in page.split(f'<tr data-code="{waiting}"')[1].split("</tr>")[0]
    disposed_tab = client.get("/generator/?state=disposed").get_data(as_text=True)
    assert f'data-code="{done}"' in disposed_tab and f'data-code="{waiting}"' not in disposed_tab
    merged_tab = client.get("/generator/?state=consolidated").get_data(as_text=True)
    assert f'data-code="{waiting}"' in merged_tab and f'data-code="{done}"' not in merged_tab


# --- label sheets -----------------------------------------------------------------------------


def test_a_label_sheet_of_the_selected_batches(staff, client):
    codes = [declare(staff, G1, n) for n in (1, 2)]
    token = log_in(client, "boss")
    resp = client.post("/generator/labels", data={"codes": codes, "sheet": "a4", "size": "100",
                                                  "csrf_token": token})
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.data.startswith(b"%PDF")
    assert client.post("/generator/labels", data={"codes": codes, "sheet": "a4"}).status_code \
        == 403
    none = client.post("/generator/labels", data={"sheet": "a4", "csrf_token": token})
    assert none.status_code == 422 and "请先勾选" in none.get_data(as_text=True)
    bad_size = client.post("/generator/labels", data={"codes": codes, "sheet": "a4",
                                                      "size": "120", "csrf_token": token})
    assert bad_size.status_code == 422 and "100、150 或 200" in bad_size.get_data(as_text=True)
    bad_sheet = client.post("/generator/labels", data={"codes": codes, "sheet": "a3",
                                                       "csrf_token": token})
    assert bad_sheet.status_code == 422


def test_a_label_sheet_never_prints_another_organisations_batch(staff, client):
    foreign = declare(staff, G2, 1)
    token = log_in(client, "boss")
    resp = client.post("/generator/labels", data={"codes": [foreign], "sheet": "a4",
                                                  "csrf_token": token})
    assert resp.status_code == 404


def test_the_pickup_form_offers_only_receivers_whose_permit_covers_the_batches(staff, app,
                                                                               client):
    """A collector licensed for waste oil only (HW08) is not offered for spent activated carbon
    (HW49): the form says why, a hand-made post naming it is refused in one sentence, shown
    once, and nothing is reserved."""
    from api.runtime import log_config
    from ledger.custody.uscc import make_uscc
    from ledger.tlog import registry

    oil_only = make_uscc("331002", 150)
    staff.join(oil_only, "只收废矿物油的收集公司", "331002", ["collector"])
    with app.app_context():
        registry.grant_permit(db.session, log_config(), oil_only, "浙危废经第0150号",
                              "2024-01-01", "2030-12-31", ["HW08"], ["collect", "store"], 500)
        db.session.remove()
    code = declare(staff, G1, 1)
    token = log_in(client, "boss")
    page = client.get(f"/generator/pickups?codes={code}").get_data(as_text=True)
    hidden = re.search(rf'<option value="{oil_only}" data-takes="([^"]*)" hidden disabled>',
                       page)
    assert hidden is not None and code not in hidden[1].split()
    why = page.split('id="not-offered"')[1].split("</details>")[0]
    assert "只收废矿物油的收集公司" in why and "900-039-49" in why
    resp = client.post("/generator/pickups", data={"collector": oil_only, "batches": [code],
                                                   "csrf_token": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert html.count("经营许可证不覆盖 900-039-49，也没有适用的豁免") == 1  # once, not twice
    assert "(" not in html.split('id="err-collector"')[1].split("</p>")[0]  # no English aside
    with app.app_context():
        assert db.session.scalars(select(PickupRequest)).all() == []


def test_a_batch_already_on_an_open_request_is_not_ticked_again(staff, app, client):
    code = declare(staff, G1, 1)
    token = log_in(client, "boss")
    made = client.post("/generator/pickups", data={"collector": COLLECTOR, "batches": [code],
                                                   "csrf_token": token})
    assert made.status_code == 302
    page = client.get(f"/generator/pickups?codes={code}").get_data(as_text=True)
    assert f'value="{code}" checked' not in page and "已在预约" in page

"""Aluminium dross (铝灰渣) from a small enterprise to a smelter that recovers aluminium under the
exemption list (2021 清单 item 22, 利用), through the generator's page and the API, on SQLite
and PostgreSQL: the pickup page offers the row, the signed release carries it, the smelter
accepts and utilises it without a hazardous waste permit, and the regulator's batch view and
the reconciliation mark the handover exempt."""

from __future__ import annotations

import html
import io
import json
import re

import openpyxl
import pytest

from ledger.custody.uscc import make_uscc
from ledger.tlog.client import ApiError
from tests.api.lifecycle import GENERATORS, REGULATOR, code_for, description
from tests.api.logins import log_in_as, region_with_people

G1 = GENERATORS[0]
SMELTER = make_uscc("331003", 250)
PASSWORD = "correct horse battery"
CONDITION = "回收金属铝。"


@pytest.fixture
def smelting(app):
    r = region_with_people(app, {"boss": G1}, PASSWORD)
    r.join(SMELTER, "台州某再生铝有限公司", "331003", ["receiver"])  # no hazardous waste permit
    return r


def dross(smelting) -> str:
    code = code_for(G1, 1, "32102648")
    smelting[G1].declare(code, description(2_400_000, "321-026-48", "铝灰渣"))
    return code


def test_dross_goes_to_the_smelter_under_the_exemption_from_the_page(smelting, client):
    code = dross(smelting)
    token = log_in_as(client, "boss", PASSWORD)
    made = client.post("/generator/pickups", data={
        "collector": SMELTER, "batches": [code], "csrf_token": token})
    assert made.status_code == 302, made.get_data(as_text=True)
    page = client.get("/generator/pickups").get_data(as_text=True)
    manifest = re.search(rf'data-manifest="(\d{{14}})"\s+data-collector="{SMELTER}"', page)
    assert manifest, page
    options = re.findall(r'<option value="(\{[^"]+\})" data-condition="([^"]*)">([^<]*)<', page)
    assert len(options) == 1, options  # item 22 utilisation: the only row for 321-026-48
    claim = json.loads(html.unescape(options[0][0]))
    assert claim == {"edition": "2021", "item": 22, "row": 1, "stage": "利用",
                     "condition": CONDITION}
    assert "清单第 22 项第 1 行" in options[0][2] and options[0][1] == CONDITION
    assert "按《危险废物豁免管理清单》（2021年版名录）交接" in page
    release = {"to": SMELTER, "mass_g": 2_400_000, "manifest": manifest.group(1)}
    # Without the claim the smelter's missing permit refuses the release, as before.
    with pytest.raises(ApiError) as err:
        smelting[G1].act("custody.released", code, release)
    assert (err.value.status, err.value.code) == (422, "permit_not_covering")
    smelting[G1].act("custody.released", code, {**release, "exemption": claim})
    smelting[SMELTER].accept(code, G1, 2_390_000, manifest.group(1))
    smelting[SMELTER].act("custody.disposed", code, {
        "method": "utilisation", "method_code": "R4", "mass_g": 2_390_000,
        "exemption": claim})
    detail = smelting[REGULATOR].batch(code)
    assert detail["state"] == "disposed" and detail["catalogue_edition"] == "2021"
    (handover,) = detail["handovers"]
    assert handover["exemption"] == {"edition": "2021", "item": 22, "row": 1, "stage": "利用",
                                     "fits": True, "misfit": None, "by_release": True,
                                     "by_answer": False}
    assert not handover["permit_flagged"]
    assert detail["disposal"]["exemption"]["stage"] == "利用"
    assert detail["disposal"]["permit"] is None
    xlsx = smelting[REGULATOR].transport(
        "GET", "/api/v1/reconciliation?region=331002&format=xlsx", None,
        smelting[REGULATOR]._headers())[1]
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    info = {r[0]: r[1] for r in wb["说明"].iter_rows(values_only=True)}
    assert info["名录版本"].startswith("2021年版（2021-01-01 起施行）")
    (row,) = list(wb["豁免交接"].iter_rows(min_row=2, values_only=True))
    assert row == (code, G1, SMELTER, manifest.group(1), 2390.0, "2021", 22, 1, "利用", "是")
    report = smelting[REGULATOR].request("GET", "/api/v1/reconciliation?region=331002")
    assert report["exempt_handovers"] == [{
        "batch": code, "from": G1, "to": SMELTER, "manifest": manifest.group(1),
        "accepted_mass_g": 2_390_000, "edition": "2021", "item": 22, "row": 1,
        "stage": "利用", "fits": True}]


def test_the_regulator_sees_the_exempt_handover_on_the_batch_page(smelting, app):
    code = dross(smelting)
    manifest = "20263310000077"
    claim = {"edition": "2021", "item": 22, "row": 1, "stage": "利用", "condition": CONDITION}
    smelting[G1].act("custody.released", code, {"to": SMELTER, "mass_g": 2_400_000,
                                              "manifest": manifest, "exemption": claim})
    from api.extensions import db
    from ledger.custody import access

    with app.app_context():
        access.add_user(db.session, "reg", PASSWORD, REGULATOR, "监管员")
        db.session.remove()
    reg = app.test_client()
    log_in_as(reg, "reg", PASSWORD)
    page = reg.get(f"/regulator/batch/{code}").get_data(as_text=True)
    assert "豁免：清单第 22 项第 1 行（利用）" in page
    assert "《国家危险废物名录》2021年版" in page


# --- the catalogue edition and 900-000-×× on the pages ----------------------------------------


def test_the_declare_page_asks_about_identification_and_names_the_edition(smelting, app, client):
    log_in_as(client, "boss", PASSWORD)
    page = client.get("/generator/declare").get_data(as_text=True)
    assert "这批废物是经危险废物鉴别认定的吗？" in page
    assert "名录中没有适用的代码" in page and 'value="HW49"' in page
    assert "按《国家危险废物名录（2021年版）》查找" in page
    assert 'id="edition-notice"' in page and "--edition 2025 --effective 2025-01-01" in page
    # The next free code for an identified waste, and its declaration with the report.
    from ledger.clock import beijing_today

    day = beijing_today().isoformat()
    got = client.get("/api/v1/batches/next-code",
                     query_string={"waste_code": "900-000-49", "generated_on": day})
    assert got.status_code == 200 and got.json["waste_code"] == "900-000-49"
    data = {**description(30_000, "900-000-49", "鉴别认定的废催化剂"), "hazards": ["T", "R"],
            "identification": {"report": "台环鉴字〔2026〕第 12 号", "no_listed_code": True}}
    smelting[G1].declare(got.json["code"], data)
    assert smelting[G1].batch(got.json["code"])["category"] == "HW49"


def test_the_dashboard_says_the_edition_in_force_is_not_loaded_until_it_is(smelting, app):
    from pathlib import Path

    from api.extensions import db
    from ledger.custody import access
    from ledger.custody.editions import import_edition

    with app.app_context():
        access.add_user(db.session, "reg", PASSWORD, REGULATOR, "监管员")
        db.session.remove()
    reg = app.test_client()
    log_in_as(reg, "reg", PASSWORD)
    page = reg.get("/regulator/").get_data(as_text=True)
    assert 'id="edition-notice"' in page and "生态环境部等五部门令第36号" in page
    before = smelting[G1].request("GET", "/api/v1/catalogue/suggest?q=900-252")
    assert before["edition"] == "2021" and before["items"][0]["code"] == "900-252-12"
    fixture = Path(__file__).parents[2] / "data" / "catalogue"
    with app.app_context():
        import_edition(db.session, "2025", "2025-01-01",
                       catalogue_csv=(fixture / "hw_catalogue_fixture.csv").read_text("utf-8"),
                       exemptions_csv=(fixture / "hw_exemptions_fixture.csv").read_text("utf-8"))
        db.session.remove()
    assert 'id="edition-notice"' not in reg.get("/regulator/").get_data(as_text=True)
    # The declare form's search then offers the edition in force (here the synthetic fixture).
    found = smelting[G1].request("GET", "/api/v1/catalogue/suggest?q=900-252")
    assert found["edition"] == "2025" and found["items"] == []

"""The reconciliation (对账) over HTTP and the command line, on SQLite and PostgreSQL: figures of
real lifecycles, access rules, CSV/XLSX exports, the signed bundle, and seed-demo data."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

import openpyxl
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ledger.audit.reconcile import STOCK, Figures, reconcile, verify_report_bundle
from ledger.custody.projections import Batch
from ledger.errors import LedgerError
from ledger.tlog.client import ApiError
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    DISPOSER_PERMIT,
    GENERATORS,
    OUTSIDER,
    REGULATOR,
    STATION,
    TODAY,
    code_for,
    description,
    manifest,
)
from tests.ledger.reference import as_figures, reference

GEN = GENERATORS[0]
PERMIT = DISPOSER_PERMIT
URL = "/api/v1/reconciliation"
# Beijing days around "today" (UTC), so the test does not depend on the hour it runs at
AROUND_TODAY = {"from": (TODAY - dt.timedelta(days=1)).isoformat(),
                "to": (TODAY + dt.timedelta(days=1)).isoformat()}


@pytest.fixture
def operator_token(app):
    from api.extensions import db
    from ledger.custody.access import issue_token

    with app.app_context():
        return issue_token(db.session, app.config["OPERATOR_ORG"], "test")


@pytest.fixture
def operator_vkey(app):
    from api.runtime import log_config

    with app.app_context():
        return log_config().operator.verifier


def get(district, org: str, path: str = URL, /, **params: str) -> Any:
    query = ("?" + urlencode(params)) if params else ""
    return district[org].request("GET", path + query)


def raw(client, token: str, **params: str):
    return client.get(URL + "?" + urlencode(params),
                      headers={"Authorization": f"Bearer {token}"})


def by_key(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in rows}


def twenty_into_one_drum(district) -> tuple[list[tuple[str, int]], str]:
    """Twenty enterprises' batches collected, poured into one drum at the station, utilised."""
    codes = []
    for i, g in enumerate(GENERATORS[:20]):
        code, mass = code_for(g, 1), 4_000 + 250 * i
        district[g].declare(code, description(mass))
        district[g].release(code, COLLECTOR, mass, manifest(100 + i), vehicle="浙J·D1234")
        district[COLLECTOR].accept(code, g, mass, manifest(100 + i))
        codes.append((code, mass))
    total = sum(m for _, m in codes)
    for code, mass in codes:
        district[COLLECTOR].release(code, STATION, mass, manifest(200))
    for code, mass in codes:
        district[STATION].accept(code, COLLECTOR, mass, manifest(200))
    drum = code_for(STATION, 1)
    district[STATION].consolidate(drum, codes, {**description(total), "name": "废活性炭（合并）"})
    district[STATION].release(drum, DISPOSER, total, manifest(300))
    district[DISPOSER].accept(drum, STATION, total, manifest(300))
    district[DISPOSER].dispose(drum, "utilisation", "R4", PERMIT, total)
    return codes, drum


def test_twenty_generators_in_one_drum_each_sees_its_own_mass_utilised(district):
    codes, drum = twenty_into_one_drum(district)
    total = sum(m for _, m in codes)
    body = get(district, REGULATOR, **AROUND_TODAY)
    assert body["filters"] == {"region": "331002", **AROUND_TODAY, "generator": None,
                               "waste_code": None, "category": None, "viewer": REGULATOR}
    assert set(body) == {"format", "unit", "log", "computed_at", "filters", "totals",
                         "by_generator", "by_waste_code", "by_category", "by_month",
                         "exempt_handovers"}
    assert body["exempt_handovers"] == []  # nothing here was handed over under an exemption
    assert set(body["totals"]) == set(Figures().as_dict())
    assert set(body["by_generator"][0]) == {"key", "name", *Figures().as_dict()}
    assert body["totals"]["batches"] == 20
    assert body["totals"]["declared"] == body["totals"]["disposed_utilisation"] == total
    assert body["totals"]["unaccounted"] == 0
    rows = by_key(body["by_generator"])
    assert set(rows) == set(GENERATORS[:20])
    for (_, mass), g in zip(codes, GENERATORS[:20], strict=True):
        r = rows[g]
        assert (r["declared"], r["collected"], r["disposed_utilisation"], r["disposed"],
                r["in_storage"], r["unaccounted"]) == (mass, mass, mass, mass, 0, 0)
        assert r["name"].startswith("椒江小微企业")
        mine = get(district, g)  # the generator itself: only its own batch
        assert [x["key"] for x in mine["by_generator"]] == [g]
        assert mine["totals"]["disposed_utilisation"] == mass
    drill = get(district, REGULATOR, f"{URL}/drilldown", figure="disposed")
    assert drill["items"] == sorted(c for c, _ in codes) and drill["next_cursor"] is None
    page = get(district, REGULATOR, f"{URL}/drilldown", figure="disposed", limit="7")
    assert len(page["items"]) == 7 and page["next_cursor"] == page["items"][-1]
    rest = get(district, REGULATOR, f"{URL}/drilldown", figure="disposed",
               cursor=page["next_cursor"], limit="100")
    assert page["items"] + rest["items"] == drill["items"]
    assert drum not in get(district, REGULATOR, f"{URL}/drilldown", figure="declared")["items"]


def test_partial_refusal_and_a_pending_handover(district):
    code = code_for(GEN, 1)
    district[GEN].declare(code, description(120_000))
    district[GEN].release(code, COLLECTOR, 120_000, manifest(1), vehicle="浙J·D1234")
    district[COLLECTOR].accept(code, GEN, 119_500, manifest(1))
    district[COLLECTOR].release(code, DISPOSER, 119_500, manifest(2))
    district[DISPOSER].refuse(code, COLLECTOR, manifest(2), "两桶渗漏，拒收", refused_mass_g=19_500)
    waiting = code_for(GENERATORS[1], 1)
    district[GENERATORS[1]].declare(waiting, description(30_000))
    district[GENERATORS[1]].release(waiting, COLLECTOR, 30_000, manifest(3), vehicle="浙J·D1234")
    left = code_for(GENERATORS[2], 1, waste="90024908")
    district[GENERATORS[2]].declare(left, description(5_000, "900-249-08", "废矿物油"))
    t = get(district, REGULATOR)["totals"]
    assert {k: t[k] for k in ("declared", "collected", "received_at_disposers", "refused",
                              "in_transit", "at_generator", "unaccounted")} == {
        "declared": 155_000, "collected": 119_500, "received_at_disposers": 100_000,
        "refused": 19_500, "in_transit": 30_000, "at_generator": 5_000, "unaccounted": 500}
    district[DISPOSER].dispose(code, "disposal", "D10", PERMIT, 100_000)
    body = get(district, REGULATOR, waste_code="900-039-49")
    assert body["totals"]["disposed_disposal"] == 100_000
    assert body["totals"]["declared"] == 150_000  # the oil is another code
    assert [r["key"] for r in body["by_waste_code"]] == ["900-039-49"]
    assert get(district, REGULATOR, category="HW08")["totals"]["at_generator"] == 5_000
    assert get(district, REGULATOR, generator=GENERATORS[1])["totals"]["in_transit"] == 30_000
    assert get(district, REGULATOR, **{"from": "2020-01-01", "to": "2020-12-31"})[
        "totals"]["declared"] == 0
    assert get(district, REGULATOR, f"{URL}/drilldown", figure="in_transit")["items"] == [waiting]
    assert get(district, REGULATOR, f"{URL}/drilldown", figure="refused")["items"] == [code]


def test_who_may_see_what(app, client, district, operator_token):
    mine = code_for(GEN, 1)
    district[GEN].declare(mine, description(1_000))
    theirs = code_for(GENERATORS[1], 1)
    district[GENERATORS[1]].declare(theirs, description(2_000))
    far = code_for(OUTSIDER, 1)
    district[OUTSIDER].declare(far, description(4_000))

    def status(org: str, path: str = URL, /, **params: str) -> int:
        try:
            get(district, org, path, **params)
        except ApiError as exc:
            assert {"code", "status", "message", "errors"} <= set(exc.body)
            return exc.status
        return 200

    assert get(district, REGULATOR)["totals"]["declared"] == 3_000  # its district only
    assert get(district, REGULATOR, region="331002")["totals"]["declared"] == 3_000
    assert status(REGULATOR, region="331003") == 403  # another district
    assert status(REGULATOR, region="331000") == 403  # the whole city is more than its own
    assert status(REGULATOR, region="330100") == 403
    assert status(REGULATOR, f"{URL}/drilldown", figure="declared", region="330100") == 403
    assert get(district, GEN)["totals"]["declared"] == 1_000  # a generator: its own batches
    assert get(district, GEN, region="331002")["totals"]["declared"] == 1_000
    assert status(GEN, generator=GENERATORS[1]) == 403
    assert get(district, GEN, f"{URL}/drilldown", figure="declared")["items"] == [mine]
    assert get(district, COLLECTOR)["totals"]["batches"] == 0  # it declared nothing
    assert get(district, OUTSIDER)["totals"]["declared"] == 4_000
    op = raw(client, operator_token)
    assert op.status_code == 200 and op.json["totals"]["declared"] == 7_000
    assert raw(client, operator_token, region="330100").json["totals"]["declared"] == 4_000
    assert client.get(URL).status_code == 401
    assert raw(client, operator_token, region="33100").status_code == 422
    assert raw(client, operator_token, generator="91331002000000019B").status_code == 422
    assert raw(client, operator_token, **{"from": "2026-02-01", "to": "2026-01-01"}
               ).status_code == 422
    assert raw(client, operator_token, format="pdf").status_code == 422


def test_csv_has_a_bom_chinese_headers_and_kg(client, district):
    codes, _ = twenty_into_one_drum(district)
    resp = raw(client, district[REGULATOR].token, format="csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"].startswith("attachment; filename=")
    assert resp.headers["X-Log-Size"].isdigit()
    data = resp.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    header = list(rows[0])
    for name in ("分组", "产废单位", "废物代码", "申报量(kg)", "已收集(kg)", "贮存中(kg)",
                 "运输中(kg)", "已接收(kg)", "已利用(kg)", "已处置(kg)", "拒收(kg)", "未核清(kg)"):
        assert name in header
    total = next(r for r in rows if r["分组"] == "合计")
    grams = sum(m for _, m in codes)
    assert total["申报量(kg)"] == total["已利用(kg)"] == f"{grams // 1000}.{grams % 1000:03d}"
    assert total["未核清(kg)"] == "0.000" and total["批次数"] == "20"
    gens = [r for r in rows if r["分组"] == "按产废单位"]
    assert len(gens) == 20 and gens[0]["产废单位"].startswith("椒江小微企业")
    first = next(r for r in gens if r["统一社会信用代码"] == GENERATORS[0])
    assert first["已利用(kg)"] == "4.000"
    assert [r["废物代码"] for r in rows if r["分组"] == "按废物代码"] == ["900-039-49"]
    assert [r["废物类别"] for r in rows if r["分组"] == "按废物类别"] == ["HW49"]
    assert len([r for r in rows if r["分组"] == "按月份"]) >= 1


def test_xlsx_opens_with_openpyxl_and_holds_the_numbers(client, district):
    codes, _ = twenty_into_one_drum(district)
    resp = raw(client, district[REGULATOR].token, format="xlsx")
    assert resp.status_code == 200
    assert resp.mimetype.endswith("spreadsheetml.sheet")
    wb = openpyxl.load_workbook(io.BytesIO(resp.get_data()))
    assert wb.sheetnames == ["说明", "汇总", "按产废单位", "按废物代码", "按废物类别", "按月份"]
    info = {r[0]: r[1] for r in wb["说明"].iter_rows(values_only=True)}
    assert info["区域"] == "331002 椒江区" and str(info["日志条目数 (log size)"]).isdigit()
    ws = wb["按产废单位"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header[:3] == ["产废单位", "统一社会信用代码", "批次数"]
    rows = {r[1]: dict(zip(header, r, strict=True))
            for r in ws.iter_rows(min_row=2, values_only=True)}
    assert len(rows) == 20
    for (_, mass), g in zip(codes, GENERATORS[:20], strict=True):
        assert rows[g]["已利用(kg)"] == pytest.approx(mass / 1000)
        assert rows[g]["申报量(kg)"] == pytest.approx(mass / 1000)
        assert rows[g]["未核清(kg)"] == 0
    assert ws.cell(row=2, column=4).number_format == "#,##0.000"
    total = wb["汇总"]
    assert [c.value for c in total[2]][:3] == ["合计", 20,
                                              pytest.approx(sum(m for _, m in codes) / 1000)]


def test_the_bundle_is_signed_by_the_operator_and_names_the_checkpoint(
        client, district, operator_vkey):
    code = code_for(GEN, 1)
    district[GEN].declare(code, description(10_000))
    resp = raw(client, district[REGULATOR].token, format="bundle")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    bundle = resp.get_data()
    verified = verify_report_bundle(bundle, operator_vkey)
    assert verified.report["totals"]["declared"] == 10_000
    assert verified.report["filters"]["viewer"] == REGULATOR
    assert verified.checkpoint is not None and verified.checkpoint.size == verified.log_size
    cp = client.get("/api/v1/checkpoint").get_data().decode().split("\n")
    assert int(cp[1]) >= verified.log_size
    for i in (10, len(bundle) // 2, len(bundle) - 5):
        tampered = bundle[:i] + bytes([bundle[i] ^ 0x01]) + bundle[i + 1:]
        with pytest.raises(LedgerError):
            verify_report_bundle(tampered, operator_vkey)
    doctored = json.loads(bundle)
    doctored["report"]["totals"]["at_generator"] -= 1_000  # "1 t less left uncollected"

    with pytest.raises(LedgerError) as err:
        verify_report_bundle(rfc8785.dumps(doctored), operator_vkey)
    assert err.value.code == "report_hash_mismatch"


def test_openapi_documents_the_reconciliation(client):
    spec = client.get("/api/v1/openapi.json").json
    op = spec["paths"]["/api/v1/reconciliation"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"region", "from", "to", "generator", "waste_code", "category", "format"} <= names
    assert {"200", "401", "403", "422"} <= set(op["responses"])
    assert "text/csv; charset=utf-8" in op["responses"]["200"]["content"]
    drill = spec["paths"]["/api/v1/reconciliation/drilldown"]["get"]
    assert "figure" in {p["name"] for p in drill["parameters"]}


junk = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", "0", "%00", "\x00", "9" * 400, "2026-02-30", "9999-12-31",
                     "0001-01-01", "331002", "HW49", "GY", "91331002000000019A"]),
)
PARAMS = ["region", "from", "to", "generator", "waste_code", "category", "format", "figure",
          "cursor", "limit"]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from([URL, f"{URL}/drilldown"]),
       params=st.dictionaries(st.sampled_from(PARAMS), junk, max_size=4))
def test_no_query_makes_the_reconciliation_fail_with_500(app, client, path, params,
                                                        operator_token):
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    resp = client.get(f"{path}?{query}", headers={"Authorization": f"Bearer {operator_token}"})
    assert resp.status_code < 500, (path, query, resp.get_data()[:300])


# --- the command line -----------------------------------------------------------------------


def test_cli_reconcile_formats(app, cli, district, tmp_path, operator_vkey):
    codes, _ = twenty_into_one_drum(district)
    total = sum(m for _, m in codes)
    result = cli("reconcile", "--region", "331002", "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["totals"]["disposed_utilisation"] == total and body["filters"]["viewer"] is None
    assert "reconcile:" in result.stderr  # progress goes to stderr
    table = cli("reconcile", "--region", "331002", "--from", AROUND_TODAY["from"],
                "--to", AROUND_TODAY["to"])
    assert table.exit_code == 0
    assert "申报量(kg)" in table.stdout and "按产废单位" in table.stdout
    assert f"{total // 1000}.{total % 1000:03d}" in table.stdout
    assert "椒江小微企业1号" in table.stdout
    out = tmp_path / "r.xlsx"
    assert cli("reconcile", "--format", "xlsx", "-o", str(out)).exit_code == 0
    assert openpyxl.load_workbook(out)["汇总"].cell(row=2, column=2).value == 20
    csv_out = cli("reconcile", "--generator", GENERATORS[3], "--waste-code", "900-039-49",
                  "--format", "csv")
    lines = csv_out.stdout_bytes.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("分组,") and len([x for x in lines if "按产废单位" in x]) == 1
    bundle = tmp_path / "r.bundle.json"
    assert cli("reconcile", "--format", "bundle", "-o", str(bundle)).exit_code == 0
    assert verify_report_bundle(bundle.read_bytes(), operator_vkey).report["totals"][
        "batches"] == 20
    bad = cli("reconcile", "--region", "3310")
    assert bad.exit_code != 0 and "region_malformed" in bad.output


def test_seed_demo_balances(app, cli):
    from api.extensions import db

    seeded = cli("seed-demo", "--enterprises", "6", "--months", "2")
    assert seeded.exit_code == 0, seeded.output
    body = json.loads(cli("reconcile", "--format", "json").stdout)
    t = body["totals"]
    assert t["declared"] == sum(t[k] for k in STOCK) + t["unaccounted"]
    for name in ("by_generator", "by_waste_code", "by_category", "by_month"):
        for figure in t:
            assert sum(r[figure] for r in body[name]) == t[figure], (name, figure)
    # realistic data: something in every main place, only weighing losses unaccounted
    # two a month per enterprise, and the two special cases (dross to the smelter under the
    # exemption, an identified 900-000-49 waste), three drums declared together, one code
    # each (一物一码), and the two codes of the trip a transport company carried (承运人)
    assert t["batches"] == 19 and len(body["by_generator"]) == 6
    assert [(e["item"], e["stage"]) for e in body["exempt_handovers"]] == [(22, "利用")]
    for figure in ("at_generator", "in_transit", "in_storage", "disposed"):
        assert t[figure] > 0, figure
    assert 0 <= t["unaccounted"] <= t["declared"] - t["collected"]
    with app.app_context():
        session = db.session()
        originals = list(session.scalars(select(Batch.code).where(
            Batch.consolidated.is_(False))))
        expected = sum((as_figures(c) for c in reference(session, originals).values()),
                       Figures())
        report = reconcile(session)
    # the batch figures against the reference; planned and declared come from the plans and
    # declarations (tests/ledger/audit/test_plan_reconcile.py checks those against their own
    # reference); every demo enterprise files a plan
    assert report.totals.planned > 0
    assert replace(report.totals, planned=0, reported=0) == expected
    assert report.totals.as_dict() == t


def test_exports_never_turn_a_name_into_a_formula_and_write_exact_kg():
    from api.exports import kg_text, report_csv, report_xlsx
    from ledger.audit.reconcile import Report, ReportFilters, Row

    evil = "=HYPERLINK(\"http://example.invalid\",\"点我\")"
    figures = Figures(batches=1, declared=1_500, at_generator=1_501)  # unaccounted −1 g
    report = Report(filters=ReportFilters(), viewer=None, log_size=1, root="A" * 43 + "=",
                    computed_at="2026-11-22T00:00:00Z", totals=figures,
                    by_generator=(Row(GEN, evil, figures),), by_waste_code=(),
                    by_category=(), by_month=())
    rows = list(csv.DictReader(io.StringIO(report_csv(report).decode("utf-8-sig"))))
    assert rows[1]["产废单位"] == "'" + evil
    assert rows[0]["未核清(kg)"] == "-0.001" and rows[0]["申报量(kg)"] == "1.500"
    cell = openpyxl.load_workbook(io.BytesIO(report_xlsx(report)))["按产废单位"]["A2"]
    assert (cell.value, cell.data_type) == (evil, "s")
    assert [kg_text(g) for g in (0, 1, 999, 1000, -1500, 12_345_678)] == [
        "0.000", "0.001", "0.999", "1.000", "-1.500", "12345.678"]

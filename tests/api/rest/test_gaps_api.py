"""Gap findings through the API and the CLI, with their access rules."""

from __future__ import annotations

import csv
import io
import json
import re

import openpyxl

from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    REGULATOR,
    build_region,
    code_for,
    description,
)
from tests.api.logins import log_in_as, region_with_people


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_regulator_sees_a_discrepancy_and_exports_it(app, client):
    region = build_region(app, generators=2)
    code = code_for(GENERATORS[0], 1)
    region[GENERATORS[0]].declare(code, description(100_000))
    region[GENERATORS[0]].release(code, COLLECTOR, 100_000, "20263310000001")
    region[COLLECTOR].accept(code, GENERATORS[0], 80_000, "20263310000001")
    body = client.get("/api/v1/gaps?type=mass_discrepancy",
                      headers=headers(region[REGULATOR].token)).json
    assert body["total"] == 1 and body["items"][0]["batches"] == [code]
    gap_id = body["items"][0]["id"]
    one = client.get(f"/api/v1/gaps/{gap_id}", headers=headers(region[REGULATOR].token))
    assert one.json["type_zh"] == "重量差异"
    exported = client.get("/api/v1/gaps?format=csv", headers=headers(region[REGULATOR].token))
    text = exported.get_data(as_text=True)
    assert text.startswith("\ufeff编号,类型")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert any(r[1] == "重量差异" and code in r[4] for r in rows[1:])
    # Chinese and Beijing time, as on the pages: 高/中/低, "2026-12-03 09:33"
    assert all(r[2] in ("高", "中", "低") for r in rows[1:])
    assert all(re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}", r[6])
               for r in rows[1:])
    workbook = client.get("/api/v1/gaps?format=xlsx&type=mass_discrepancy",
                          headers=headers(region[REGULATOR].token))
    assert workbook.headers["Content-Disposition"] == "attachment; filename=gaps.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.data)).active
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0][:2] == ["编号", "类型"] and len(cells) == 2
    assert cells[1][0] == gap_id and cells[1][1] == "重量差异" and code in cells[1][4]
    # the detail in words, masses in kg (the JSON API keeps grams)
    assert "移出重量：100.000 kg" in cells[1][9] and "接收重量：80.000 kg" in cells[1][9]
    assert "{" not in cells[1][9] and one.json["detail"]["released_mass_g"] == 100_000
    # the generator sees the gap that involves it; another generator does not
    mine = client.get("/api/v1/gaps", headers=headers(region[GENERATORS[0]].token)).json
    assert [g["id"] for g in mine["items"]] == [gap_id]
    theirs = client.get("/api/v1/gaps", headers=headers(region[GENERATORS[1]].token)).json
    assert theirs["total"] == 0
    hidden = client.get(f"/api/v1/gaps/{gap_id}", headers=headers(region[GENERATORS[1]].token))
    assert hidden.status_code == 404


def test_regulator_is_limited_to_its_region(app, client):
    region = build_region(app, generators=1)
    resp = client.get("/api/v1/gaps?region=330100", headers=headers(region[REGULATOR].token))
    assert resp.status_code == 403 and resp.json["code"] == "region_forbidden"
    assert client.get("/api/v1/gaps").status_code == 401
    assert client.get("/api/v1/gaps?type=bogus",
                      headers=headers(region[REGULATOR].token)).status_code == 422


def test_cli_lists_gaps_as_json_and_xlsx(app, cli, tmp_path):
    region = build_region(app, generators=1)
    code = code_for(GENERATORS[0], 1)
    region[GENERATORS[0]].declare(code, description(100_000))
    region[GENERATORS[0]].release(code, COLLECTOR, 100_000, "20263310000001")
    region[COLLECTOR].accept(code, GENERATORS[0], 50_000, "20263310000001")
    out = cli("gaps", "--format", "json", "--type", "mass_discrepancy")
    assert out.exit_code == 0
    found = json.loads(out.output[out.output.index("["): out.output.rindex("]") + 1])
    assert [g["batches"] for g in found] == [[code]]
    path = tmp_path / "gaps.xlsx"
    out = cli("gaps", "--format", "xlsx", "--type", "mass_discrepancy", "-o", str(path))
    assert out.exit_code == 0, out.output
    sheet = openpyxl.load_workbook(path).active
    assert [c.value for c in sheet[1]][:3] == ["编号", "类型", "严重程度"]
    assert sheet.max_row == 2 and code in sheet.cell(2, 5).value
    assert cli("gaps", "--format", "xlsx").exit_code != 0  # a workbook is not for a terminal


def test_a_refused_part_left_is_exported_with_its_chinese_name(app, client):
    """拒收部分逾期未退回或改送预警 in the API, CSV and the regulator's scope; the detail in
    words. The region's threshold is 0 days here, so the part left is due at once."""
    app.config["GAP_THRESHOLDS"] = {"331002": {"refused_part_days": 0}}
    region = region_with_people(app, {"reg": REGULATOR}, "gaps-2026")
    gen = GENERATORS[0]
    code = code_for(gen, 1)
    region[gen].declare(code, description(100_000))
    region[gen].release(code, DISPOSER, 100_000, "20263310000001")
    region[DISPOSER].refuse(code, gen, "20263310000001", "一袋破损", refused_mass_g=15_000)
    token = headers(region[REGULATOR].token)
    body = client.get("/api/v1/gaps?type=refused_part_unresolved", headers=token).json
    assert body["total"] == 1 and body["items"][0]["batches"] == [code]
    item = body["items"][0]
    assert item["type_zh"] == "拒收部分逾期未退回或改送预警" and item["status"] == "open"
    text = client.get("/api/v1/gaps?format=csv&type=refused_part_unresolved",
                      headers=token).get_data(as_text=True)
    [row] = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1:]
    assert row[1] == "拒收部分逾期未退回或改送预警"
    assert "拒收重量：15.000 kg" in row[9] and "原因：一袋破损" in row[9]
    # the enterprise (移出人 and generator) sees it among its own
    mine = client.get("/api/v1/gaps?type=refused_part_unresolved",
                      headers=headers(region[gen].token)).json
    assert [g["id"] for g in mine["items"]] == [item["id"]]
    # the regulator's pages: the list and the finding, in Chinese, the detail in words
    log_in_as(client, "reg", "gaps-2026")
    page = client.get("/regulator/gaps?type=refused_part_unresolved").get_data(as_text=True)
    assert "拒收部分逾期未退回或改送预警" in page and code in page
    one = client.get(f"/regulator/gaps/{item['id']}").get_data(as_text=True)
    assert "拒收部分逾期未退回或改送预警" in one and "拒收重量" in one and "一袋破损" in one

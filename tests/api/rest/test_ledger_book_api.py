"""The statutory ledger (管理台账, HJ 1259-2022) over HTTP, on SQLite and PostgreSQL: who may ask,
the tables and their Chinese headers, 入库/出库 with facility codes and the 经办人 from the signed
payload, the general industrial solid waste 台账, CSV and XLSX."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

from openpyxl import load_workbook

from ledger.tlog.rules import org_stream
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    DISPOSER_PERMIT,
    GENERATORS,
    OUTSIDER,
    REGULATOR,
    TODAY,
    code_for,
    description,
    manifest,
)

GEN = GENERATORS[0]


def fetch(client, region, who: str, org: str = GEN, **params: str):
    params = {"from": TODAY.isoformat(), "to": TODAY.isoformat(), **params}
    return client.get(f"/api/v1/organisations/{org}/ledger?{urlencode(params)}",
                      headers={"Authorization": f"Bearer {region[who].token}"})


def history(region) -> tuple[str, str]:
    """A drum declared, stored, taken out and handed over by named people; the oil stays."""
    g = region[GEN]
    g.act("facility.registered", org_stream(GEN), {
        "code": "TS001", "name": "危废仓库", "type": "贮存库", "capacity_kg": 20_000})
    drum = code_for(GEN, 1)
    g.act("batch.declared", drum, {**description(120_000), "handled_by": "王小明"})
    g.act("storage.in", drum, {"facility": "TS001", "mass_g": 120_000, "handled_by": "李仓管"})
    g.act("storage.out", drum, {"facility": "TS001", "mass_g": 119_800, "handled_by": "李仓管"})
    g.act("custody.released", drum, {"to": DISPOSER, "mass_g": 120_000,
                                     "manifest": manifest(1), "handled_by": "王小明"})
    region[DISPOSER].act("custody.accepted", drum, {"from": GEN, "mass_g": 119_500,
                                                    "manifest": manifest(1),
                                                    "handled_by": "赵过磅"})
    region[DISPOSER].act("custody.disposed", drum, {
        "method": "disposal", "method_code": "D10", "permit": DISPOSER_PERMIT,
        "mass_g": 119_500, "handled_by": "钱主任"})
    oil = code_for(GEN, 1, "90024908")
    g.declare(oil, description(5_000, "900-249-08", "废矿物油"))
    return drum, oil


def test_the_generators_ledger_has_each_step_with_who_did_it(client, one_generator):
    drum, oil = history(one_generator)
    resp = fetch(client, one_generator, GEN)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert "attachment" in resp.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames == ["台账说明", "产生", "入库", "出库", "转移", "接收", "利用处置"]
    made = list(wb["产生"].values)
    assert made[0][:6] == ("产生批次编码", "产生时间", "危险废物名称", "危险废物类别",
                           "危险废物代码", "产生量")
    rows = {r[0]: r for r in made[1:]}
    assert set(rows) == {drum, oil}
    assert rows[drum][2:6] == ("废活性炭", "HW49", "900-039-49", 120.0)
    assert rows[drum][11:13] == ("王小明", "转移至台州市德长环保处置有限公司")
    assert rows[oil][11] is None or rows[oil][11] == ""  # declared without handled_by
    stored_in = list(wb["入库"].values)
    assert stored_in[1][0] == drum and stored_in[1][8] == 120.0
    assert stored_in[1][10:13] == ("TS001", "贮存库", "李仓管")
    out = list(wb["出库"].values)[1]
    assert (out[8], out[12], out[13]) == (119.8, "李仓管", "台州市德长环保处置有限公司")
    moved = list(wb["转移"].values)[1]
    assert moved[5:11] == (120.0, 119.5, "kg", manifest(1), "台州市德长环保处置有限公司",
                           DISPOSER)
    assert list(wb["利用处置"].values)[1:] == []  # the generator disposed of nothing itself
    # the disposer's own ledger: what it received and disposed of, with its people
    wb = load_workbook(io.BytesIO(fetch(client, one_generator, DISPOSER, DISPOSER).data))
    assert list(wb["接收"].values)[1][11] == "赵过磅"
    done = list(wb["利用处置"].values)[1]
    assert (done[0], done[7], done[8], done[11]) == (drum, "处置", "D10", "钱主任")


def test_one_table_as_csv_and_who_may_ask(client, one_generator):
    drum, _ = history(one_generator)
    resp = fetch(client, one_generator, REGULATOR, format="csv", table="入库")
    assert resp.status_code == 200
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert rows[0][:2] == ["入库批次编码", "入库时间"] and rows[1][0] == drum
    assert rows[1][8] == "120.000"
    assert fetch(client, one_generator, COLLECTOR).status_code == 403
    assert fetch(client, one_generator, OUTSIDER).status_code == 403
    assert fetch(client, one_generator, GEN, org=OUTSIDER).status_code == 403
    assert fetch(client, one_generator, GEN, table="别的", format="csv").status_code == 422
    assert fetch(client, one_generator, GEN, **{"from": "2026-12-31",
                                                "to": "2026-01-01"}).status_code == 422
    # another period: empty tables, headers only
    wb = load_workbook(io.BytesIO(fetch(client, one_generator, GEN, **{
        "from": "2020-01-01", "to": "2020-01-31"}).data))
    assert len(list(wb["产生"].values)) == 1


def test_the_general_industrial_solid_waste_ledger(client, one_generator):
    history(one_generator)
    slag = code_for(GEN, 1, "90000117")
    one_generator[GEN].declare(slag, {**description(800_000, "900-001-17", "炉渣"),
                                      "hazardous": False, "hazards": [],
                                      "handled_by": "王小明"})
    wb = load_workbook(io.BytesIO(fetch(client, one_generator, GEN, kind="general").data))
    made = list(wb["产生"].values)
    assert made[0][2:5] == ("一般工业固体废物名称", "一般工业固体废物类别", "一般工业固体废物代码")
    assert [r[:5] for r in made[1:]] == [(slag, made[1][1], "炉渣", "SW17", "900-001-S17")]
    assert list(wb["台账说明"].values)[3][1] == "一般工业固体废物管理台账"


def test_days_outside_the_calendar_the_ledger_knows_are_422(client, one_generator):
    for period in ({"from": "0001-01-01", "to": "0001-01-02"},
                   {"from": "2026-01-01", "to": "9999-12-31"}):
        assert fetch(client, one_generator, GEN, **period).status_code == 422

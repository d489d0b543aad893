"""Container labels through HTTP and the CLI, on SQLite and PostgreSQL: batches declared with
the Python client, labels fetched as PNG, SVG and PDF and read back with a real QR decoder."""

from __future__ import annotations

import io
import re
import shutil
from typing import Any

import pypdfium2 as pdfium
import pytest
from PIL import Image

from api.extensions import db
from api.runtime import log_config
from ledger.custody import access
from ledger.custody.containers import RULE, RuleChange
from ledger.custody.label_data import labels_for
from ledger.custody.uscc import make_uscc
from ledger.tlog import registry
from ledger.tlog.client import Client
from ledger.tlog.notes import Signer
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    DISPOSER_PERMIT,
    GENERATORS,
    OUTSIDER,
    REGULATOR,
    TODAY,
    build_region,
    code_for,
    manifest,
)
from tests.labels.phone import decoded, pdf_pages, svg_raster
from tests.tools import unless_ci

BASE = "https://ledger.example.cn/zj"
GEN = make_uscc("331002", 60)  # a generator registered with its contact person and phone
ELSEWHERE = make_uscc("330100", 900)  # Hangzhou's regulator: not this district's
OIL = "90024908"
PERMIT = DISPOSER_PERMIT
PX = {100: 1181, 150: 1772, 200: 2362}  # label side at 300 dpi


def in_process(app: Any):  # type: ignore[no-untyped-def]
    test_client = app.test_client()

    def send(method: str, path: str, body: bytes | None, headers: dict[str, str]):
        resp = test_client.open(path, method=method, data=body, headers=headers)
        return resp.status_code, resp.get_data()

    return send


def drum(volume_l: int | None = 200, **overrides: Any) -> dict[str, Any]:
    """A steel drum of waste hydraulic oil, as a small workshop declares it."""
    container: dict[str, Any] = {"type": "铁桶", "count": 1}
    if volume_l is not None:
        container["volume_l"] = volume_l
    return {"waste_code": "900-249-08", "name": "废矿物油与含矿物油废物", "form": "liquid",
            "hazards": ["T", "I"], "container": container, "mass_g": 185_400,
            "generated_on": TODAY.isoformat(), "location": "危废仓库",
            "components": "矿物油 85%，水 10%", "precautions": "远离火源，防止泄漏",
            "notes": "桶口朝上", **overrides}


@pytest.fixture
def drums(app):
    app.config["PUBLIC_BASE_URL"] = BASE
    r = build_region(app, generators=2)
    r.join(ELSEWHERE, "杭州市生态环境局", "330100", ["regulator"])
    with app.app_context():
        cfg = log_config()
        registry.register_org(db.session, cfg, GEN, "台州市椒江精密机械有限公司", "331002",
                              ["generator"], "王建国", "0576-8888 6666")
        key = Signer.generate("dev-gen60")
        registry.register_key(db.session, cfg, GEN, key.verifier, "手机")
        token = access.issue_token(db.session, GEN, "test")
    r.clients[GEN] = Client(in_process(app), GEN, key, token)
    return r


def fetch(client, path: str, org: str | None, drums=None, **kw: Any):  # type: ignore[no-untyped-def]
    headers = {} if org is None else {"Authorization": f"Bearer {drums[org].token}"}
    if "json" in kw:
        return client.post(path, headers=headers, **kw)
    return client.get(path, headers=headers, **kw)


def url(code: str) -> str:
    return f"{BASE}/t/{code}"


def pdf_text(pdf: bytes) -> str:
    """All text PDFium extracts from the first page, whitespace removed (titles are spaced)."""
    document = pdfium.PdfDocument(pdf)
    try:
        return re.sub(r"\s+", "", document[0].get_textpage().get_text_bounded())
    finally:
        document.close()


def page_count(pdf: bytes) -> int:
    document = pdfium.PdfDocument(pdf)
    try:
        return len(document)
    finally:
        document.close()


def test_png_label_decodes_to_its_trace_url_at_the_size_its_container_needs(client, drums):
    code = code_for(GEN, 1, OIL)
    drums[GEN].declare(code, drum(volume_l=200))  # 200 L: 150 mm (HJ 1276-2022 表 1)
    resp = fetch(client, f"/api/v1/batches/{code}/label.png", GEN, drums)
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert resp.headers["Content-Disposition"] == f'inline; filename="{code}.png"'
    image = Image.open(io.BytesIO(resp.data))
    assert image.size == (PX[150], PX[150])
    assert round(image.info["dpi"][0]) == 300
    assert decoded(image) == [url(code)]
    for asked, side in (("200", 200), ("100x100", 100)):
        resp = fetch(client, f"/api/v1/batches/{code}/label.png?size={asked}", GEN, drums)
        image = Image.open(io.BytesIO(resp.data))
        assert image.size == (PX[side], PX[side])
        assert decoded(image) == [url(code)]


def test_pdf_label_prints_chinese_and_decodes(client, drums):
    code = code_for(GEN, 2, OIL)
    # volume not declared: 100 mm; a name short enough to stay on one line of text
    drums[GEN].declare(code, drum(volume_l=None, name="废液压油"))
    resp = fetch(client, f"/api/v1/batches/{code}/label.pdf", GEN, drums)
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    document = pdfium.PdfDocument(resp.data)
    try:
        width, height = document[0].get_size()
    finally:
        document.close()
    assert round(width / 72 * 25.4) == round(height / 72 * 25.4) == 100
    text = pdf_text(resp.data)
    for printed in ("危险废物", "废物名称：", "废液压油", "HW08", "900-249-08", "液态",
                    "台州市椒江精密机械有限公司", "王建国", "0576-88886666", "185.4kg",
                    "铁桶；桶口朝上", "远离火源，防止泄漏", "矿物油85%",
                        "名录2021年版"):
        assert printed in text, printed
    assert decoded(pdf_pages(resp.data)[0]) == [url(code)]


@unless_ci(shutil.which("rsvg-convert") is None, "rsvg-convert is not installed")
def test_svg_label_keeps_chinese_text_and_decodes(client, drums):
    code = code_for(GEN, 3, OIL)
    drums[GEN].declare(code, drum(volume_l=30))
    resp = fetch(client, f"/api/v1/batches/{code}/label.svg?size=100", GEN, drums)
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    text = "".join(re.findall(r">([^<>]*)</text>", resp.data.decode()))  # kept as text
    assert "废物名称：废矿物油" in text and "台州市椒江精密机械有限公司" in text
    assert decoded(svg_raster(resp.data)) == [url(code)]


def test_general_industrial_solid_waste_gets_its_own_label(client, drums):
    code = code_for(GEN, 1, "90000117")
    drums[GEN].declare(code, {
        "hazardous": False, "waste_code": "900-001-17", "name": "废金属边角料",
        "form": "solid", "hazards": [], "container": {"type": "吨袋", "count": 2},
        "mass_g": 800_000, "generated_on": TODAY.isoformat(), "location": "一般固废仓库"})
    resp = fetch(client, f"/api/v1/batches/{code}/label.pdf", GEN, drums)
    assert resp.status_code == 200
    text = pdf_text(resp.data)
    assert "一般工业固体废物" in text and "危险废物" not in text
    assert "SW17" in text and "900-001-S17" in text and "吨袋共2件" in text
    assert decoded(pdf_pages(resp.data)[0]) == [url(code)]


def test_label_facts_come_from_the_declaration_and_the_catalogue(app, drums):
    # Three bags under one code, as a log written before one code per container
    # (ledger/custody/containers.py) holds them: the label says so.
    with app.app_context():
        db.session.add(RuleChange(rule=RULE, from_index=10**9))
        db.session.commit()
    code = code_for(GEN, 4, "90003949")
    drums[GEN].declare(code, {
        "waste_code": "900-039-49", "name": "废活性炭", "form": "solid", "hazards": [],
        "container": {"type": "吨袋", "count": 3, "volume_l": 1000}, "mass_g": 1_500,
        "generated_on": TODAY.isoformat(), "location": "危废仓库",
        "components": [{"name": "活性炭", "percent": 90}, "吸附的有机物"]})
    with app.app_context():
        operator = access.principal_for(db.session, app.config["OPERATOR_ORG"])
        [facts] = labels_for(db.session, operator, [url(code)], BASE)  # a trace URL works too
    assert facts.hazards == ("T",)  # none declared: the catalogue's for 900-039-49
    assert facts.main_components == "活性炭 90%，吸附的有机物"
    assert facts.container == "吨袋 1000 L 共 3 件" and facts.container_volume_l == 1000
    assert (facts.contact_person, facts.phone) == ("王建国", "0576-8888 6666")
    assert facts.trace_url == url(code) and facts.category == "HW49"


def test_a_container_of_a_lot_says_which_of_how_many_it_is(app, drums):
    first = code_for(GEN, 5, "90003949")
    codes = [code_for(GEN, 5 + n, "90003949") for n in range(2)]
    for n, code in enumerate(codes, 1):
        drums[GEN].declare(code, {
            "waste_code": "900-039-49", "name": "废活性炭", "form": "solid", "hazards": ["T"],
            "container": {"type": "铁桶", "count": 1, "volume_l": 200}, "mass_g": 150_000,
            "generated_on": TODAY.isoformat(), "lot": {"ref": first, "no": n, "of": 2}})
    with app.app_context():
        operator = access.principal_for(db.session, app.config["OPERATOR_ORG"])
        facts = labels_for(db.session, operator, codes, BASE)
    assert [f.container for f in facts] == ["铁桶 200 L 第 1/2 件", "铁桶 200 L 第 2/2 件"]


def test_a4_and_roll_sheets_have_the_right_pages_and_every_code_decodes(client, drums):
    codes = [code_for(GEN, n, OIL) for n in range(1, 6)]
    for code in codes:
        drums[GEN].declare(code, drum(volume_l=30))  # 30 L: 100 mm, four to an A4 page
    resp = fetch(client, "/api/v1/labels/sheet", GEN, drums,
                 json={"codes": codes, "sheet": "a4"})
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    pages = pdf_pages(resp.data, dpi=200)
    assert len(pages) == 2
    assert sorted(decoded(pages[0])) == sorted(url(c) for c in codes[:4])
    assert decoded(pages[1]) == [url(codes[4])]
    bigger = fetch(client, "/api/v1/labels/sheet", GEN, drums,
                   json={"codes": codes, "sheet": "a4", "size": 150})
    assert page_count(bigger.data) == 5  # one 150 mm label per A4 page
    roll = fetch(client, "/api/v1/labels/sheet", GEN, drums,
                 json={"codes": codes[:3] + codes[:1], "sheet": "roll-100x150"})
    assert roll.status_code == 200 and page_count(roll.data) == 4  # repeats print again
    assert decoded(pdf_pages(roll.data, dpi=150)[3]) == [url(codes[0])]


def test_long_names_step_the_label_up_a_size_instead_of_being_cut(client, drums):
    """A 200 L drum's label is 150 mm, unless its text does not fit whole there: then 200 mm.
    Asking for a size the text does not fit is refused before printing, saying so."""
    code = code_for(GEN, 6, "90034934")
    drums[GEN].declare(code, drum(
        waste_code="900-349-34", name="失效、变质、不合格的强酸性擦洗粉、清洁剂等废酸液和酸渣",
        form="liquid", hazards=["C"], components="硫酸 20%，表面活性剂 5%，水",
        precautions="密闭贮存，防止泄漏，远离碱性物质", notes="桶口朝上，标签朝外"))
    resp = fetch(client, f"/api/v1/batches/{code}/label.pdf", GEN, drums)
    assert resp.status_code == 200
    (page,) = pdf_pages(resp.data)
    assert abs(page.width - 200 / 25.4 * 300) <= 1  # 200 mm at the helper's 300 dpi
    assert decoded(page) == [url(code)]
    text = pdf_text(resp.data).replace("危险特性", "")  # the box heading lands mid-line
    assert "失效、变质、不合格的强酸性擦洗粉、清洁剂等废酸液和酸渣" in text
    assert "台州市椒江精密机械有限公司" in text and "…" not in text
    small = fetch(client, f"/api/v1/batches/{code}/label.pdf?size=150", GEN, drums)
    assert small.status_code == 422 and small.json["code"] == "label_text_too_long"
    assert "文字过长：150 mm 标签" in small.json["message"]
    assert "或改用更大的标签" in small.json["message"]


def test_a_container_over_450_l_prints_two_labels_for_two_opposite_faces(client, drums):
    big, small = code_for(GEN, 7, OIL), code_for(GEN, 8, OIL)
    drums[GEN].declare(big, drum(volume_l=1000))
    drums[GEN].declare(small, drum(volume_l=450))
    pdf = fetch(client, f"/api/v1/batches/{big}/label.pdf", GEN, drums).data
    assert page_count(pdf) == 2
    assert [decoded(p) for p in pdf_pages(pdf, dpi=150)] == [[url(big)]] * 2
    assert page_count(fetch(client, f"/api/v1/batches/{small}/label.pdf", GEN, drums).data) == 1
    sheet = fetch(client, "/api/v1/labels/sheet", GEN, drums,
                  json={"codes": [big, small], "sheet": "a4"})
    pages = pdf_pages(sheet.data, dpi=100)
    assert len(pages) == 3  # 200 mm: one to an A4 page; the big drum twice
    assert [decoded(p) for p in pages] == [[url(big)], [url(big)], [url(small)]]


def test_only_the_generator_the_holder_and_regulators_of_the_region_get_a_label(client, drums):
    code = code_for(GEN, 5, OIL)
    drums[GEN].declare(code, drum())
    path = f"/api/v1/batches/{code}/label.pdf"
    unknown = fetch(client, f"/api/v1/batches/{code_for(GEN, 99, OIL)}/label.pdf", GEN, drums)
    assert unknown.status_code == 404
    for org in (GENERATORS[0], OUTSIDER, ELSEWHERE, COLLECTOR):
        resp = fetch(client, path, org, drums)
        assert resp.status_code == 404, org  # the same answer as for a code that does not exist
        assert resp.json["code"] == unknown.json["code"] == "batch_not_found"
    assert fetch(client, path, None).status_code == 401
    assert fetch(client, path, None).json["code"] == "unauthenticated"
    assert fetch(client, path, REGULATOR, drums).status_code == 200
    drums[GEN].release(code, COLLECTOR, 185_400, manifest(1))
    drums[COLLECTOR].accept(code, GEN, 185_400, manifest(1))
    assert fetch(client, path, COLLECTOR, drums).status_code == 200  # holds it now
    drums[COLLECTOR].release(code, DISPOSER, 185_400, manifest(2))
    drums[DISPOSER].accept(code, COLLECTOR, 185_400, manifest(2))
    assert fetch(client, path, COLLECTOR, drums).status_code == 404  # no longer has it
    assert fetch(client, path, DISPOSER, drums).status_code == 200
    assert fetch(client, path, GEN, drums).status_code == 200  # the unit that generated it
    sheet = fetch(client, "/api/v1/labels/sheet", COLLECTOR, drums,
                  json={"codes": [code], "sheet": "a4"})
    assert sheet.status_code == 404 and sheet.json["errors"] == {"codes.0": [
        sheet.json["message"]]}
    assert fetch(client, "/api/v1/labels/sheet", None, json={
        "codes": [code], "sheet": "a4"}).status_code == 401


def test_bad_requests_are_422_with_the_field_and_the_json_error_body(client, drums):
    code = code_for(GEN, 6, OIL)
    drums[GEN].declare(code, drum())
    bad_size = fetch(client, f"/api/v1/batches/{code}/label.png?size=120", GEN, drums)
    assert bad_size.status_code == 422 and "size" in bad_size.json["errors"]["query"]
    bad_code = fetch(client, "/api/v1/batches/NOT-A-CODE/label.png", GEN, drums)
    assert bad_code.status_code == 422 and set(bad_code.json) == {
        "code", "status", "message", "errors"}
    assert bad_code.json["errors"].keys() == {"code"}
    assert fetch(client, f"/api/v1/batches/{code}/label.gif", GEN, drums).status_code == 404
    sheet = "/api/v1/labels/sheet"
    too_many = fetch(client, sheet, GEN, drums, json={"codes": [code] * 1001, "sheet": "a4"})
    assert too_many.status_code == 422 and "codes" in too_many.json["errors"]["json"]
    none = fetch(client, sheet, GEN, drums, json={"codes": [], "sheet": "a4"})
    assert none.status_code == 422
    wrong_sheet = fetch(client, sheet, GEN, drums, json={"codes": [code], "sheet": "a3"})
    assert wrong_sheet.status_code == 422 and "sheet" in wrong_sheet.json["errors"]["json"]
    wrong_size = fetch(client, sheet, GEN, drums,
                       json={"codes": [code], "sheet": "a4", "size": "120"})
    assert wrong_size.status_code == 422 and "size" in wrong_size.json["errors"]["json"]
    too_wide = fetch(client, sheet, GEN, drums,
                     json={"codes": [code], "sheet": "roll-100x100", "size": 150})
    assert too_wide.status_code == 422 and too_wide.json["errors"].keys() == {"size"}
    malformed = fetch(client, sheet, GEN, drums, json={"codes": [code, "X"], "sheet": "a4"})
    assert malformed.status_code == 422 and malformed.json["errors"].keys() == {"codes.1"}


def test_a_bad_public_base_url_is_the_installation_s_fault_not_the_caller_s(app, client, drums):
    code = code_for(GEN, 7, OIL)
    drums[GEN].declare(code, drum())
    app.config["PUBLIC_BASE_URL"] = "ledger.example.cn"  # no scheme
    resp = fetch(client, f"/api/v1/batches/{code}/label.png", GEN, drums)
    assert resp.status_code == 503 and resp.json["code"] == "public_base_url_invalid"


def test_cli_writes_a_label_and_a_sheet_as_the_operator(cli, drums, tmp_path):
    codes = [code_for(GENERATORS[1], n, OIL) for n in (1, 2, 3)]
    for code in codes:
        drums[GENERATORS[1]].declare(code, drum(volume_l=30))
    one = tmp_path / "one.pdf"
    out = cli("label", codes[0], "-o", str(one))
    assert out.exit_code == 0, out.output
    assert page_count(one.read_bytes()) == 1
    assert decoded(pdf_pages(one.read_bytes())[0]) == [url(codes[0])]
    png = tmp_path / "one.png"
    assert cli("label", codes[0], "--format", "png", "--size", "200", "-o", str(png)).exit_code == 0
    assert Image.open(io.BytesIO(png.read_bytes())).size == (PX[200], PX[200])
    sheet = tmp_path / "roll.pdf"
    out = cli("label", *codes, "--sheet", "roll-100x100", "-o", str(sheet))
    assert out.exit_code == 0, out.output
    assert page_count(sheet.read_bytes()) == 3
    a4 = tmp_path / "a4.pdf"
    assert cli("label", *codes, "-o", str(a4)).exit_code == 0  # several codes: an A4 sheet
    assert sorted(decoded(pdf_pages(a4.read_bytes(), dpi=200)[0])) == sorted(map(url, codes))
    refused = cli("label", *codes, "--format", "png", "-o", str(tmp_path / "x.png"))
    assert refused.exit_code != 0 and "--format pdf" in refused.output
    unknown = cli("label", code_for(GENERATORS[1], 9, OIL), "-o", str(tmp_path / "x.pdf"))
    assert unknown.exit_code != 0 and "batch_not_found" in unknown.output
    assert not (tmp_path / "x.pdf").exists()

"""Cases through the API: signed steps via drafts and entries, the scoped list, evidence files
(limits, storage by hash, who may read them), case_overdue gaps and the 问题清单 workbook."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path

import openpyxl
import pytest

from api.exports import XLSX_MIMETYPE as XLSX
from api.extensions import db
from ledger.audit.cases import case_stream
from ledger.custody import access
from ledger.custody.uscc import make_uscc
from ledger.tlog.client import ApiError
from tests.api.lifecycle import GENERATORS, REGULATOR, build_region
from tests.api.logins import log_in_as

OTHER_REGULATOR = make_uscc("331003", 903)
CASE = "331002-2026-0001"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"photo" * 100
PDF = b"%PDF-1.7\n" + b"report" * 50
TODAY = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def opened(gap: str | None = None) -> dict:
    data = {"region": "331002", "source": "inspection", "type": "storage",
            "severity": "medium", "title": "贮存场所无标识",
            "facts": "现场检查发现危废仓库未设置标识牌",
            "organisations": [GENERATORS[0]]}
    if gap:
        data |= {"source": "gap", "gap": gap}
    return data


def assigned(deadline: dt.date, assignee: str = GENERATORS[0]) -> dict:
    return {"assignee": assignee, "person": "李四", "measures": "设置危险废物贮存设施标识",
            "deadline": deadline.isoformat()}


@pytest.fixture
def two_regs(app):
    r = build_region(app, generators=2)
    r.join(OTHER_REGULATOR, "台州市生态环境局黄岩分局", "331003", ["regulator"])
    return r


def root(client, token: str) -> str:
    return client.get("/api/v1/entries?limit=1", headers=headers(token)).json["size"]


def upload(client, token: str, data: bytes, name: str = "photo.jpg", case: str = CASE):
    """POST the file as a browser does (the body built here: the test client would spool a
    large one to a temporary file it never closes)."""
    boundary = "----evidence"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return client.post(f"/api/v1/cases/{case}/evidence", headers=headers(token), data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_the_loop_over_http_with_evidence_and_scoped_reads(app, client, two_regs):
    reg, gen = two_regs[REGULATOR], two_regs[GENERATORS[0]]
    reg.act("case.opened", case_stream(CASE), opened())
    reg.act("case.assigned", case_stream(CASE), assigned(TODAY + dt.timedelta(days=30)))
    sent = upload(client, gen.token, JPEG)
    assert sent.status_code == 201, sent.json
    sha = hashlib.sha256(JPEG).hexdigest()
    assert sent.json == {"sha256": sha, "media_type": "image/jpeg", "size": len(JPEG)}
    stored = Path(app.config["CASE_EVIDENCE_DIR"]) / sha[:2] / sha
    assert stored.read_bytes() == JPEG  # outside the database, under its hash
    assert upload(client, gen.token, JPEG).status_code == 201  # the same bytes again: fine
    gen.act("case.responded", case_stream(CASE),
            {"report": "已设置标识牌", "evidence": [{"sha256": sha, "name": "标识.jpg"}]})
    reg.act("case.reviewed", case_stream(CASE), {"result": "accepted"})
    reg.act("case.closed", case_stream(CASE), {"note": "予以销号"})

    one = client.get(f"/api/v1/cases/{CASE}", headers=headers(reg.token)).json
    assert one["state"] == "closed" and one["state_zh"] == "已销号"
    assert [e["kind"] for e in one["entries"]] == [
        "case.opened", "case.assigned", "case.responded", "case.reviewed", "case.closed"]
    assert sha in one["entries"][2]["note"]  # the signed note names the file's hash
    # who sees the case: its region's regulator and the assignee; nobody else
    for org, visible in ((REGULATOR, 1), (GENERATORS[0], 1), (GENERATORS[1], 0),
                         (OTHER_REGULATOR, 0)):
        assert client.get("/api/v1/cases", headers=headers(two_regs[org].token)).json[
            "total"] == visible, org
    for org, status in ((GENERATORS[1], 404), (OTHER_REGULATOR, 404)):
        assert client.get(f"/api/v1/cases/{CASE}",
                          headers=headers(two_regs[org].token)).status_code == status
        with client.get(f"/api/v1/cases/{CASE}/evidence/{sha}",
                        headers=headers(two_regs[org].token)) as hidden:
            assert hidden.status_code == status
    for org in (REGULATOR, GENERATORS[0]):
        with client.get(f"/api/v1/cases/{CASE}/evidence/{sha}",
                        headers=headers(two_regs[org].token)) as got:
            assert got.status_code == 200 and got.data == JPEG
            assert got.mimetype == "image/jpeg"
    assert client.get(f"/api/v1/cases/{CASE}/evidence/{sha}").status_code == 401
    assert client.get(f"/api/v1/cases/{CASE}/evidence/{'0' * 64}",
                      headers=headers(reg.token)).json["code"] == "evidence_unknown"
    # the case for the record (立卷): every signed entry byte for byte and every file
    with client.get(f"/api/v1/cases/{CASE}/export.zip", headers=headers(reg.token)) as got:
        assert got.status_code == 200 and got.mimetype == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(got.data))
    names = archive.namelist()
    assert f"evidence/{sha}.jpg" in names and archive.read(f"evidence/{sha}.jpg") == JPEG
    notes = sorted(n for n in names if n.startswith("entries/"))
    assert [n.split("-", 1)[1] for n in notes] == [
        "case.opened.note", "case.assigned.note", "case.responded.note", "case.reviewed.note",
        "case.closed.note"]
    assert archive.read(notes[2]).decode() == one["entries"][2]["note"]  # exactly as signed
    listed = json.loads(archive.read("evidence.json"))
    assert listed == [{"sha256": sha, "media_type": "image/jpeg", "size": len(JPEG),
                       "uploaded_by": GENERATORS[0], "uploaded": listed[0]["uploaded"]}]
    assert json.loads(archive.read("case.json"))["id"] == CASE
    for org, status in ((GENERATORS[0], 200), (GENERATORS[1], 404), (OTHER_REGULATOR, 404)):
        with client.get(f"/api/v1/cases/{CASE}/export.zip",
                        headers=headers(two_regs[org].token)) as got:
            assert got.status_code == status, org


def test_list_filters(client, two_regs):
    reg = two_regs[REGULATOR]
    reg.act("case.opened", case_stream(CASE), opened())
    reg.act("case.assigned", case_stream(CASE), assigned(TODAY + dt.timedelta(days=3)))
    reg.act("case.opened", case_stream("331002-2026-0002"), opened())
    reg.act("case.assigned", case_stream("331002-2026-0002"),
            assigned(TODAY + dt.timedelta(days=60), GENERATORS[1]))

    def ids(query: str) -> list[str]:
        resp = client.get(f"/api/v1/cases?{query}", headers=headers(reg.token))
        assert resp.status_code == 200, resp.json
        return [c["id"] for c in resp.json["items"]]

    assert ids("") == [CASE, "331002-2026-0002"]  # nearest deadline first
    assert ids(f"deadline_before={TODAY + dt.timedelta(days=10)}") == [CASE]
    assert ids(f"organisation={GENERATORS[1]}") == ["331002-2026-0002"]
    assert ids("state=closed") == []
    assert ids("type=storage") == [CASE, "331002-2026-0002"]
    bad = client.get("/api/v1/cases?state=done", headers=headers(reg.token))
    assert bad.status_code == 422 and "state" in bad.json["errors"]["query"]


def test_a_refused_step_over_http_is_a_clear_error_and_changes_nothing(client, two_regs):
    reg, gen = two_regs[REGULATOR], two_regs[GENERATORS[0]]
    reg.act("case.opened", case_stream(CASE), opened())
    size = root(client, reg.token)
    with pytest.raises(ApiError) as err:
        gen.act("case.opened", case_stream("331002-2026-0009"), opened())
    assert (err.value.status, err.value.code) == (403, "case_forbidden")
    with pytest.raises(ApiError) as err:
        reg.act("case.closed", case_stream(CASE), {})
    assert (err.value.status, err.value.code) == (422, "case_state_invalid")
    with pytest.raises(ApiError) as err:  # not yet assigned to it: the case is not its to see
        gen.act("case.responded", case_stream(CASE), {"report": "x"})
    assert (err.value.status, err.value.code) == (404, "case_unknown")
    assert root(client, reg.token) == size
    assert client.get("/api/v1/cases", headers=headers(reg.token)).json["items"][0][
        "state"] == "opened"


def test_evidence_limits_and_who_may_upload(app, client, two_regs):
    reg, gen = two_regs[REGULATOR], two_regs[GENERATORS[0]]
    reg.act("case.opened", case_stream(CASE), opened())
    reg.act("case.assigned", case_stream(CASE), assigned(TODAY))
    evidence = Path(app.config["CASE_EVIDENCE_DIR"])
    text = upload(client, gen.token, b"<html><script>alert(1)</script>", "photo.jpg")
    assert (text.status_code, text.json["code"]) == (422, "file_type_invalid")
    empty = client.post(f"/api/v1/cases/{CASE}/evidence", headers=headers(gen.token),
                        data={}, content_type="multipart/form-data")
    assert (empty.status_code, empty.json["code"]) == (422, "file_missing")
    nine_mb = JPEG + b"\0" * (9 * 1024 * 1024)  # over the app-wide body limit, under this one
    assert upload(client, gen.token, nine_mb).status_code == 201
    app.config["CASE_EVIDENCE_MAX_BYTES"] = 1000
    big = upload(client, gen.token, PDF + b"x" * 1000, "report.pdf")
    assert (big.status_code, big.json["code"]) == (413, "file_too_large")
    huge = upload(client, gen.token, PDF + b"x" * 200_000, "report.pdf")
    assert (huge.status_code, huge.json["code"]) == (413, "too_large")
    other = upload(client, two_regs[GENERATORS[1]].token, JPEG)
    assert other.status_code == 404  # not its case: it does not exist for it
    outsider = upload(client, two_regs[OTHER_REGULATOR].token, JPEG)
    assert outsider.status_code == 404
    stored = [p.name for p in evidence.rglob("*") if p.is_file()]
    assert stored == [hashlib.sha256(nine_mb).hexdigest()]  # nothing else was stored
    assert upload(client, reg.token, PDF, "report.pdf").json["media_type"] == "application/pdf"


def test_overdue_cases_are_gaps_and_the_list_exports_as_xlsx(client, two_regs):
    reg, gen = two_regs[REGULATOR], two_regs[GENERATORS[0]]
    reg.act("case.opened", case_stream(CASE), opened())
    reg.act("case.assigned", case_stream(CASE), assigned(TODAY - dt.timedelta(days=1)))
    reg.act("case.opened", case_stream("331002-2026-0002"), opened())
    reg.act("case.assigned", case_stream("331002-2026-0002"),
            assigned(TODAY + dt.timedelta(days=1)))
    gaps = client.get("/api/v1/gaps?type=case_overdue", headers=headers(reg.token)).json
    assert [g["id"] for g in gaps["items"]] == [f"case_overdue:{CASE}"]
    assert gaps["items"][0]["type_zh"] == "整改超期" and gaps["items"][0]["status"] == "open"
    mine = client.get("/api/v1/gaps?type=case_overdue", headers=headers(gen.token)).json
    assert mine["total"] == 1
    gen.act("case.responded", case_stream(CASE), {"report": "已整改"})
    reg.act("case.reviewed", case_stream(CASE), {"result": "accepted"})
    reg.act("case.closed", case_stream(CASE), {})
    late = client.get(f"/api/v1/gaps/case_overdue:{CASE}", headers=headers(reg.token)).json
    assert late["status"] == "resolved"  # closed, but after the deadline: on the record

    book = client.get("/api/v1/cases?format=xlsx", headers=headers(reg.token))
    assert book.headers["Content-Disposition"] == "attachment; filename=cases.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(book.data)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["序号", "问题", "责任单位", "责任人", "整改措施", "整改时限", "整改进展",
                       "销号情况"]
    first = rows[1]
    assert first[0] == "1" and first[1].startswith("贮存场所无标识")
    assert first[2] == f"椒江小微企业1号（{GENERATORS[0]}）" and first[3] == "李四"
    assert first[5] == (TODAY - dt.timedelta(days=1)).isoformat()
    assert first[6] == "已销号：已整改" and first[7].startswith("已销号（")
    assert rows[2][7] == "未销号" and rows[2][6] == "已交办，整改中"


def test_a_gap_has_one_open_case(client, two_regs):
    reg = two_regs[REGULATOR]
    gap = f"uncollected_overdue:{GENERATORS[0]}9000394920260921001"
    reg.act("case.opened", case_stream(CASE), opened(gap))
    with pytest.raises(ApiError) as err:
        reg.act("case.opened", case_stream("331002-2026-0002"), opened(gap))
    assert (err.value.status, err.value.code) == (409, "case_exists_for_gap")


def test_the_regulator_pages_show_an_overdue_case_gap(app, client, two_regs):
    """A case_overdue gap on the dashboard, the gap list and the gap's page (a type without a
    label used to be a server error), in Chinese and in English."""
    reg = two_regs[REGULATOR]
    reg.act("case.opened", case_stream(CASE), opened())
    reg.act("case.assigned", case_stream(CASE), assigned(TODAY - dt.timedelta(days=2)))
    with app.app_context():
        access.add_user(db.session, "inspector", "inspector-2026", REGULATOR, "inspector")
        db.session.remove()
    log_in_as(client, "inspector", "inspector-2026")
    gap_id = f"case_overdue:{CASE}"
    for path in ("/regulator/", "/regulator/gaps?type=case_overdue",
                 f"/regulator/gaps/{gap_id}"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert "整改超期" in resp.get_data(as_text=True), path
    page = client.get(f"/regulator/gaps/{gap_id}").get_data(as_text=True)
    assert "整改时限" in page and (TODAY - dt.timedelta(days=2)).isoformat() in page
    client.get("/lang/en")
    english = client.get(f"/regulator/gaps/{gap_id}")
    assert "Rectification overdue" in english.get_data(as_text=True)


def test_the_regulators_case_list_page(app, client, two_regs):
    reg = two_regs[REGULATOR]
    reg.act("case.opened", case_stream(CASE), opened())
    reg.act("case.assigned", case_stream(CASE), assigned(TODAY - dt.timedelta(days=1)))
    reg.act("case.opened", case_stream("331002-2026-0002"), opened())
    with app.app_context():
        access.add_user(db.session, "inspector", "inspector-2026", REGULATOR, "inspector")
        access.add_user(db.session, "owner", "owner-2026-pw", GENERATORS[0], "owner")
        db.session.remove()
    log_in_as(client, "inspector", "inspector-2026")
    page = client.get("/regulator/cases").get_data(as_text=True)
    assert 'data-case="331002-2026-0001"' in page and 'data-case="331002-2026-0002"' in page
    assert "已超期" in page and "椒江小微企业1号" in page and "已立案，待交办" in page
    assert "/api/v1/cases?format=xlsx" in page
    only = client.get("/regulator/cases?state=opened").get_data(as_text=True)
    assert 'data-case="331002-2026-0002"' in only and 'data-case="331002-2026-0001"' not in only
    bad = client.get("/regulator/cases?deadline_before=tomorrow")
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    book = client.get("/api/v1/cases?format=xlsx")  # the page's link, with the page's log-in
    assert book.status_code == 200 and book.mimetype == XLSX
    other = app.test_client()
    log_in_as(other, "owner", "owner-2026-pw")
    assert other.get("/regulator/cases").status_code == 403

"""The regulator's pages: the mass balance with drill-down and charts' data, gaps, a batch's
timeline with proofs, exports, and verifying an uploaded export or checkpoint — only for the
regulator's own region."""

from __future__ import annotations

import base64
import csv as csv_mod
import html as html_lib
import io
import json
import re
import tarfile
import zipfile
from pathlib import Path

import openpyxl
import pytest

from api.demo.seed import join
from ledger.custody import access
from ledger.custody.uscc import make_uscc
from ledger.tlog import export as bundle
from ledger.tlog.merkle import leaf_hash, verify_inclusion
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    DISPOSER_PERMIT,
    GENERATORS,
    REGULATOR,
    STATION,
    build_region,
    code_for,
    description,
    manifest,
)
from tests.api.logins import log_in_as

GEN = GENERATORS[0]
OTHER_REGULATOR = make_uscc("330100", 901)  # 杭州: another region
PASSWORD = "inspector-2026"


@pytest.fixture
def regulated(app):
    """A district with one batch weighed 20 % light at pickup (a mass-discrepancy gap),
    one consolidated into a drum that was disposed of, and log-ins for two regulators (this
    district's and Hangzhou's) and a generator."""
    r = build_region(app, generators=2)
    join(app, OTHER_REGULATOR, "杭州市生态环境局", "330100", ["regulator"])
    light = code_for(GEN, 1)
    r[GEN].declare(light, description(100_000))
    r[GEN].release(light, COLLECTOR, 100_000, manifest(1))
    r[COLLECTOR].accept(light, GEN, 80_000, manifest(1))
    parent = code_for(GENERATORS[1], 2)
    r[GENERATORS[1]].declare(parent, description(50_000))
    r[GENERATORS[1]].release(parent, STATION, 50_000, manifest(2))
    r[STATION].accept(parent, GENERATORS[1], 50_000, manifest(2))
    drum = code_for(STATION, 3)
    r[STATION].consolidate(drum, [(parent, 50_000)], description(50_000))
    r[STATION].release(drum, DISPOSER, 50_000, manifest(3))
    r[DISPOSER].accept(drum, STATION, 50_000, manifest(3))
    r[DISPOSER].dispose(drum, "disposal", "D10", DISPOSER_PERMIT, 50_000)
    from api.extensions import db

    with app.app_context():
        access.add_user(db.session, "inspector", PASSWORD, REGULATOR, "椒江分局检查员")
        access.add_user(db.session, "hangzhou", PASSWORD, OTHER_REGULATOR, "杭州检查员")
        access.add_user(db.session, "owner", PASSWORD, GEN, "王老板")
    r.codes = {"light": light, "parent": parent, "drum": drum}  # type: ignore[attr-defined]
    return r


def log_in(client, username: str) -> str:
    """Log in through the form, as a person does; returns the session's CSRF token."""
    return log_in_as(client, username, PASSWORD)


def text_of(resp) -> str:
    return html_lib.unescape(resp.get_data(as_text=True))


def figure_t(page: str, name: str) -> str:
    """A total on the dashboard, in tonnes as shown (unit t)."""
    match = re.search(rf'data-figure="{name}">.*?<span class="value">([^<]+)</span>', page,
                      re.S)
    assert match, f"figure {name} is shown"
    return match.group(1)


# --- access -------------------------------------------------------------------------------


PAGES = ["/regulator/", "/regulator/gaps", "/regulator/verify"]


def test_logged_out_people_are_sent_to_log_in(regulated, client):
    for path in PAGES + [f"/regulator/batch/{regulated.codes['light']}"]:
        resp = client.get(path)
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/login?next=/regulator/")


def test_other_roles_are_forbidden(regulated, client):
    log_in(client, "owner")
    for path in PAGES + [f"/regulator/batch/{regulated.codes['light']}"]:
        resp = client.get(path)
        assert resp.status_code == 403, path
        page = text_of(resp)
        assert "时间线" not in page and "物料平衡" not in page and "100 kg" not in page


def test_a_regulator_of_another_region_sees_none_of_this_district(regulated, app, client):
    inspector = app.test_client()
    log_in(inspector, "inspector")
    listed = text_of(inspector.get("/regulator/gaps?type=mass_discrepancy"))
    gap_id = re.search(r'data-gap="([^"]+)"', listed)[1]
    assert inspector.get(f"/regulator/gaps/{gap_id}").status_code == 200
    log_in(client, "hangzhou")
    assert client.get(f"/regulator/gaps/{gap_id}").status_code == 404
    page = text_of(client.get("/regulator/"))
    assert figure_t(page, "declared") == "0.000"
    assert "重量差异" not in page  # the district's gap is not in Hangzhou's summary
    gaps = text_of(client.get("/regulator/gaps?status="))
    assert regulated.codes["light"] not in gaps and "共 0 项" in gaps
    drill = text_of(client.get("/regulator/?figure=declared"))
    assert regulated.codes["light"] not in drill and regulated.codes["parent"] not in drill
    for code in regulated.codes.values():
        assert client.get(f"/regulator/batch/{code}").status_code == 404
    resp = client.get("/regulator/?region=331002")
    assert resp.status_code == 403 and "监管部门只能查看本辖区" in text_of(resp)
    assert client.get("/regulator/gaps?region=331002").status_code == 403
    assert all(gap_id not in text_of(client.get(p)) for p in PAGES)
    # The search box answers within the region only: this district's unit, batch and
    # manifest are not found from Hangzhou, and a name is never a 422.
    light = regulated.codes["light"]
    for q in (GEN, light, light[:20], "椒江", manifest(1)):
        resp = client.get("/regulator/search", query_string={"q": q})
        assert resp.status_code == 200 and 'id="no-hits"' in text_of(resp), q
    found = inspector.get("/regulator/search", query_string={"q": manifest(1)})
    assert f'data-key="{manifest(1)}"' in text_of(found) and light in text_of(found)
    assert inspector.get("/regulator/search", query_string={"q": light}).status_code == 302


# --- 1. the dashboard -----------------------------------------------------------------------


def test_dashboard_shows_the_mass_balance_with_drill_down_and_chart_data(regulated, client):
    log_in(client, "inspector")
    resp = client.get("/regulator/")
    assert resp.status_code == 200
    page = text_of(resp)
    assert figure_t(page, "declared") == "0.150"  # 100 kg + 50 kg, consolidated counted once
    assert figure_t(page, "in_storage") == "0.080"  # weighed 80 kg at the collector
    assert figure_t(page, "disposed_disposal") == "0.050"
    assert figure_t(page, "unaccounted") == "0.020"  # lost between release and acceptance
    charts = json.loads(re.search(
        r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)[1])
    assert charts["by_category"]["keys"] == ["HW49"]
    assert charts["by_category"]["declared"] == [0.15]  # tonnes
    assert charts["by_category"]["disposed"] == [0.05]
    assert sum(charts["by_month"]["declared"]) == 0.15
    assert charts["by_district"]["keys"] == ["331002"]
    # the county is named by GB/T 2260, not by the agency registered there
    assert charts["by_district"]["names"] == ["椒江区"]
    assert "331002 椒江区" in page and "辖区 331002 椒江区" in page
    assert 'src="/static/vendor/chart.js/chart.umd.min.js"' in page
    assert "<script>" not in page  # no inline code (CSP)
    # each figure drills down to its batches
    drill = text_of(client.get("/regulator/?figure=disposed_disposal"))
    assert f"/regulator/batch/{regulated.codes['parent']}" in drill
    assert f"/regulator/batch/{regulated.codes['light']}" not in drill.split('id="drill"')[1]
    drill = text_of(client.get("/regulator/?figure=unaccounted"))
    assert f"/regulator/batch/{regulated.codes['light']}" in drill
    # the open gaps summary links to the filtered list
    assert "/regulator/gaps?type=mass_discrepancy" in page
    # each generator's row filters the dashboard to it
    assert f"generator={GENERATORS[1]}" in page.split('id="by-generator"')[1]


def test_drill_down_exports_as_csv_and_xlsx_with_names_masses_and_states(regulated, client):
    log_in(client, "inspector")
    page = text_of(client.get("/regulator/?figure=declared"))
    csv_link = re.search(r'id="drill-csv" href="([^"]+)"', page)[1]
    xlsx_link = re.search(r'id="drill-xlsx" href="([^"]+)"', page)[1]
    resp = client.get(csv_link)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    body = resp.get_data().decode("utf-8-sig")
    header, *lines = list(csv_mod.reader(io.StringIO(body)))
    assert header[:3] == ["识别码", "产废单位", "统一社会信用代码"]
    light = next(r for r in lines if r[0] == regulated.codes["light"])
    assert light[1] == "椒江小微企业1号" and light[5] == "100.000"
    resp = client.get(xlsx_link)
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    ws = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == header
    xl = next(r for r in rows[1:] if r[0] == regulated.codes["light"])
    assert xl[1] == "椒江小微企业1号" and xl[5] == pytest.approx(100.0)
    assert ws.cell(row=2, column=6).number_format == "#,##0.000"
    assert client.get("/regulator/drill.xlsx?figure=nonsense").status_code == 404


def test_pages_render_in_english_too(regulated, client):
    """Every label is a translatable string (no catalogue yet: the Chinese shows through),
    and the English switch renders every page."""
    log_in(client, "inspector")
    client.get("/lang/en")
    paths = ["/regulator/", "/regulator/?figure=declared", "/regulator/gaps?status=",
             "/regulator/verify", f"/regulator/batch/{regulated.codes['drum']}",
             "/regulator/manifests", f"/regulator/manifests/{manifest(1)}"]
    gap_page = text_of(client.get("/regulator/gaps?type=mass_discrepancy"))
    paths.append("/regulator/gaps/" + re.search(r'data-gap="([^"]+)"', gap_page)[1])
    for path in paths:
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert '<html lang="en">' in resp.get_data(as_text=True)


def test_dashboard_filters_and_bad_input(regulated, client):
    log_in(client, "inspector")
    page = text_of(client.get(f"/regulator/?generator={GENERATORS[1]}&from=&to="))
    assert figure_t(page, "declared") == "0.050"
    page = text_of(client.get("/regulator/?category=HW08"))
    assert figure_t(page, "declared") == "0.000"
    next_year = text_of(client.get("/regulator/?from=2999-01-01&to=2999-12-31"))
    assert figure_t(next_year, "declared") == "0.000"
    for query, message in [("from=31.01.2026", "日期格式应为"),
                           ("from=2026-06-01&to=2026-01-01", "period"),
                           (f"generator={GEN[:-1]}X", "统一社会信用代码"),
                           ("region=12345", "region")]:
        resp = client.get(f"/regulator/?{query}")
        assert resp.status_code == 422, query
        assert message in text_of(resp), query
    # Not a USCC: a name, looked up; none found is said and the dashboard stays.
    resp = client.get("/regulator/?generator=123&from=&to=")
    assert resp.status_code == 200
    assert "辖区内没有名称含“123”的单位" in text_of(resp)
    assert figure_t(text_of(resp), "declared") == "0.150"  # unfiltered
    assert client.get("/regulator/?figure=nonsense").status_code == 422


def test_exports_use_the_same_filters(regulated, client):
    log_in(client, "inspector")
    page = text_of(client.get(f"/regulator/?generator={GEN}&from=&to="))
    links = dict(re.findall(r'href="(/api/v1/reconciliation\?[^"]*format=(\w+))"', page))
    links = {fmt: url for url, fmt in links.items()}
    assert set(links) == {"csv", "xlsx", "bundle"}
    csv = client.get(links["csv"])
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    body = csv.get_data().decode("utf-8-sig")
    assert "100.000" in body and "50.000" not in body  # only this generator's batch
    assert client.get(links["xlsx"]).data[:2] == b"PK"
    bundle = json.loads(client.get(links["bundle"]).data)
    assert bundle["report"]["filters"]["generator"] == GEN
    gaps = text_of(client.get("/regulator/gaps?type=mass_discrepancy"))
    csv_link = re.search(r'href="(/api/v1/gaps\?[^"]*)"', gaps)[1]
    assert "type=mass_discrepancy" in csv_link and "format=csv" in csv_link
    csv = client.get(csv_link).get_data().decode("utf-8-sig")
    assert regulated.codes["light"] in csv and "重量差异" in csv
    gaps = text_of(client.get("/regulator/gaps?type=mass_discrepancy&status="))
    xlsx_link = re.search(r'href="(/regulator/gaps\.xlsx\?[^"]*)"', gaps)[1]
    assert "status=&" in xlsx_link + "&"  # "all statuses" is kept, not turned into "open"
    resp = client.get(xlsx_link)
    assert resp.status_code == 200 and resp.data[:2] == b"PK"
    sheet = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("编号", "类型", "严重程度") and len(rows) == 2
    assert rows[1][1] == "重量差异" and regulated.codes["light"] in rows[1][4]
    assert "椒江小微企业1号" in rows[1][-1]
    assert client.get("/regulator/gaps.xlsx?type=bogus").status_code == 422


# --- 2. gaps -------------------------------------------------------------------------------


def test_gaps_filter_paginate_and_link_to_their_detail(regulated, client):
    log_in(client, "inspector")
    page = text_of(client.get("/regulator/gaps?type=mass_discrepancy"))
    rows = re.findall(r'<tr data-type="([a-z_]+)" data-gap="([^"]+)"', page)
    assert rows and all(t == "mass_discrepancy" for t, _ in rows)
    gap_id = rows[0][1]
    assert regulated.codes["light"] in gap_id
    assert "椒江小微企业1号" in page  # the organisation by name
    other = text_of(client.get("/regulator/gaps?type=manifest_open"))
    assert gap_id not in other
    by_org = text_of(client.get(f"/regulator/gaps?organisation={GENERATORS[1]}"))
    assert gap_id not in by_org
    assert gap_id in text_of(client.get(f"/regulator/gaps?organisation={GEN}&severity="))
    resolved = text_of(client.get("/regulator/gaps?type=mass_discrepancy&status=resolved"))
    assert gap_id not in resolved
    detail = client.get(f"/regulator/gaps/{gap_id}")
    assert detail.status_code == 200
    body = text_of(detail)
    assert "重量差异" in body and f"/regulator/batch/{regulated.codes['light']}" in body
    assert "100 kg" in body and "80 kg" in body  # released and accepted
    assert GEN in body and "尚未解决" in body
    assert client.get("/regulator/gaps/mass_discrepancy:nothing").status_code == 404
    assert client.get("/regulator/gaps?page=999").status_code == 200  # clamped, no error
    for query in ("type=bogus", "severity=urgent", "page=x", "region=abc"):
        resp = client.get(f"/regulator/gaps?{query}")
        assert resp.status_code == 422 and 'class="error"' in resp.get_data(as_text=True)


# --- 3. a batch's timeline -------------------------------------------------------------------


def test_batch_timeline_shows_signers_masses_marks_and_inclusion_proofs(regulated, client):
    log_in(client, "inspector")
    code = regulated.codes["light"]
    page = text_of(client.get(f"/regulator/batch/{code}"))
    events = re.findall(r'<li class="event (\w+)" data-kind="([a-z._]+)" data-index="(\d+)"',
                        page)
    assert [k for _, k, _ in events] == ["batch.declared", "custody.released",
                                         "custody.accepted"]
    assert all(v == "verified" for v, _, _ in events)
    assert page.count("✔ 已验证") == 3
    assert "椒江小微企业1号" in page and "台州市绿源环保收集有限公司" in page  # who signed
    assert "dev-" in page  # the key's name
    assert "重量差异：移出 100 kg，接收 80 kg（20.0%）" in page
    # each entry's inclusion proof, against the current checkpoint, checks out
    size = int(re.search(r"当前检查点：(\d+) 条记录", page)[1])
    root = base64.b64decode(re.search(r"当前检查点：\d+ 条记录，根哈希 <code>([^<]+)</code>",
                                      page)[1])
    batch = client.get(f"/api/v1/batches/{code}").get_json()
    for entry, (_, _, index) in zip(batch["history"], events, strict=True):
        assert entry["index"] == int(index)
        block = page.split(f'data-index="{index}"')[1].split("</details>")[0]
        hashes = [base64.b64decode(h) for h in re.findall(r"<li><code>([^<]+)</code></li>",
                                                          block)]
        leaf = base64.b64decode(entry["leaf_hash"])
        assert verify_inclusion(int(index), size, leaf, hashes, root)
        assert f"/api/v1/proofs/inclusion?index={index}&size={size}" in block
        api = client.get(f"/api/v1/proofs/inclusion?index={index}&size={size}").get_json()
        assert [base64.b64decode(h) for h in api["hashes"]] == hashes


def test_batch_timeline_links_consolidation_lineage(regulated, client):
    log_in(client, "inspector")
    parent, drum = regulated.codes["parent"], regulated.codes["drum"]
    page = text_of(client.get(f"/regulator/batch/{parent}"))
    assert f'href="/regulator/batch/{drum}"' in page
    assert "按比例归属的利用/处置" in page
    drum_page = text_of(client.get(f"/regulator/batch/{drum}"))
    assert f'href="/regulator/batch/{parent}"' in drum_page
    assert "台州市德长环保处置有限公司" in drum_page
    assert client.get("/regulator/batch/not-a-code").status_code == 422


def test_manifests_list_search_and_one_with_its_legs_and_signatures(regulated, app, client):
    log_in(client, "inspector")
    page = text_of(client.get("/regulator/manifests"))
    listed = re.findall(r'<tr data-number="(\d+)">', page)
    assert set(listed) == {manifest(1), manifest(2), manifest(3)}
    page = text_of(client.get(f"/regulator/manifests?number={manifest(1)[:10]}"))
    assert manifest(1) in re.findall(r'<tr data-number="(\d+)">', page)
    by_company = text_of(client.get(f"/regulator/manifests?company={GEN}"))
    assert re.findall(r'<tr data-number="(\d+)">', by_company) == [manifest(1)]
    by_name = text_of(client.get("/regulator/manifests?company=椒江小微企业1号"))
    assert re.findall(r'<tr data-number="(\d+)">', by_name) == [manifest(1)]
    future = text_of(client.get("/regulator/manifests?from=2999-01-01"))
    assert re.findall(r'<tr data-number="(\d+)">', future) == []
    for bad in ("number=12ab", "from=2026-13-01", "company=没有这个单位"):
        resp = client.get(f"/regulator/manifests?{bad}")
        assert resp.status_code == 422 and 'id="manifest-errors"' in text_of(resp), bad
    resp = client.get(f"/regulator/manifests/{manifest(1)}")
    assert resp.status_code == 200
    page = text_of(resp)
    assert regulated.codes["light"] in page and "100 kg" in page and "80 kg" in page
    rows = re.findall(r'<tr data-index="(\d+)">(.*?)</tr>', page, re.S)
    assert len(rows) == 2 and all("✔ 在签名检查点中" in r for _i, r in rows)
    assert "椒江小微企业1号" in page  # the releasing unit's name, not only its USCC
    other = app.test_client()
    log_in(other, "hangzhou")
    assert other.get(f"/regulator/manifests/{manifest(1)}").status_code == 404
    assert re.findall(r'<tr data-number=', text_of(other.get("/regulator/manifests"))) == []
    assert client.get("/regulator/manifests/00000000000000").status_code == 404


# --- 5. verifying an export or a checkpoint -------------------------------------------------


def exported(cli, tmp_path: Path) -> Path:
    directory = tmp_path / "export"
    assert cli("export", str(directory)).exit_code == 0
    return directory


def zipped(directory: Path, inner: str = "export") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                z.write(path, f"{inner}/{path.relative_to(directory)}")
    return out.getvalue()


def tarred(directory: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as t:
        t.add(directory, arcname="export")
    return out.getvalue()


def post_export(client, token: str, *files: tuple[bytes, str]):
    return client.post("/regulator/verify", data={
        "csrf_token": token, "what": "export",
        "export": [(io.BytesIO(data), name) for data, name in files]},
        content_type="multipart/form-data")


def verdict(resp) -> str:
    match = re.search(r'<section class="card verdict (pass|fail)" id="verdict"', resp.get_data(
        as_text=True))
    return match[1] if match else "none"


def test_verify_a_real_export_as_zip_tar_or_files(regulated, client, cli, tmp_path):
    directory = exported(cli, tmp_path)
    token = log_in(client, "inspector")
    for upload in [(zipped(directory), "export.zip"), (tarred(directory), "export.tar.gz")]:
        resp = post_export(client, token, upload)
        assert resp.status_code == 200 and verdict(resp) == "pass", text_of(resp)
        page = text_of(resp)
        size = int(re.search(r"<dt>记录条数</dt><dd>(\d+)</dd>", page)[1])
        with (directory / "entries.bin").open("rb") as fh:
            assert size == len(list(bundle.read_records(fh)))
        assert "✔ 验证通过" in page and "与本平台日志" in page
    separate = [((directory / n).read_bytes(), n)
                for n in ("entries.bin", "checkpoint", "operator.vkey")]
    assert verdict(post_export(client, token, *separate)) == "pass"


def test_verify_a_tampered_export_fails_with_the_reason(regulated, client, cli, tmp_path):
    directory = exported(cli, tmp_path)
    token = log_in(client, "inspector")
    original = (directory / "entries.bin").read_bytes()
    entries = bytearray(original)
    at = entries.index("椒江小微企业1号".encode())  # inside org.registered of the generator
    entries[at] ^= 0x01
    (directory / "entries.bin").write_bytes(bytes(entries))
    resp = post_export(client, token, (zipped(directory), "export.zip"))
    assert resp.status_code == 200 and verdict(resp) == "fail"
    page = text_of(resp)
    assert "✘ 验证未通过" in page and re.search(r"验证失败：第 \d+ 条记录", page)
    # a forged export signed by another operator key is refused for the key
    (directory / "entries.bin").write_bytes(original)
    (directory / "operator.vkey").write_text("someone+12345678+" + "A" * 44 + "\n")
    resp = post_export(client, token, (zipped(directory), "export.zip"))
    assert verdict(resp) == "fail" and "运营方公钥不是本平台" in text_of(resp)


def test_an_archive_of_countless_empty_files_is_refused_early(regulated, client):
    """Many tiny members cost CPU to list even when they unpack to nothing: an export never
    has more than its files and old checkpoints, so more is refused before reading on."""
    import io
    import tarfile

    from api.pages.uploads import MAX_MEMBERS

    token = log_in(client, "inspector")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for n in range(MAX_MEMBERS + 1):
            tar.addfile(tarfile.TarInfo(f"e/checkpoints/{n}"), io.BytesIO(b""))
    resp = post_export(client, token, (buf.getvalue(), "export.tar.gz"))
    assert resp.status_code == 422 and "压缩包中的文件过多" in text_of(resp)


def test_verify_rejects_garbage_with_a_clear_message(regulated, client, tmp_path):
    token = log_in(client, "inspector")
    cases = [
        ((b"PK\x03\x04" + b"\x00" * 200, "export.zip"), "无法读取 zip"),
        ((b"\x1f\x8b\x08" + b"junk" * 50, "export.tar.gz"), "无法读取 tar.gz"),
        ((b"hello", "notes.txt"), "不认识的文件"),
        ((b"\x00\x00\x00\x05hello", "entries.bin"), "缺少 checkpoint"),
        ((zipfile_with({"readme.txt": b"x"}), "x.zip"), "没有 entries.bin"),
        ((zipfile_with({"../../etc/entries.bin": b"x"}), "x.zip"), "没有 entries.bin"),
    ]
    for upload, message in cases:
        resp = post_export(client, token, upload)
        assert resp.status_code == 422, message
        assert message in text_of(resp)
    resp = client.post("/regulator/verify", data={"csrf_token": token, "what": "export"},
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and "请选择要验证的文件" in text_of(resp)
    framing = zipfile_with({"e/entries.bin": b"\xff\xff\xff\xffabc", "e/checkpoint": b"x\n"})
    resp = post_export(client, token, (framing, "e.zip"))
    assert resp.status_code == 200 and verdict(resp) == "fail"
    assert client.post("/regulator/verify", data={"csrf_token": token}).status_code == 422


def test_verify_the_report_bundle_the_dashboard_offers(regulated, client):
    """The signed report bundle downloaded from the dashboard verifies on the verify page, in
    plain words first (the tree size and root under 详细信息); a changed byte, a doctored
    figure or another log's bundle fail with a reason, and nothing is appended."""
    token = log_in(client, "inspector")
    page = text_of(client.get("/regulator/"))
    link = re.search(r'href="(/api/v1/reconciliation\?[^"]*format=bundle)"', page)[1]
    bundle = client.get(link).data
    size_before = client.get("/api/v1/checkpoint").get_data().decode().split("\n")[1]
    resp = post_export(client, token, (bundle, "report.json"))
    assert resp.status_code == 200 and verdict(resp) == "pass", text_of(resp)
    page = text_of(resp)
    assert "内容没有被改动过" in page and "运营方签名的报表包" in page
    reason_at, details_at = page.index('class="reason"'), page.index("<summary>详细信息</summary>")
    assert reason_at < details_at < page.index("<dt>树大小</dt>")
    size = int(re.search(r"<dt>树大小</dt><dd>(\d+)</dd>", page)[1])
    assert size == json.loads(bundle)["report"]["log"]["size"]
    flipped = bytearray(bundle)
    flipped[len(bundle) // 2] ^= 0x01
    doctored = json.loads(bundle)
    doctored["report"]["totals"]["declared"] += 1_000
    import rfc8785
    for changed in (bytes(flipped), rfc8785.dumps(doctored)):
        resp = post_export(client, token, (changed, "report.json"))
        assert resp.status_code == 200 and verdict(resp) == "fail"
        assert "这份报表包不可信" in text_of(resp)
    assert client.get("/api/v1/checkpoint").get_data().decode().split("\n")[1] == size_before


def test_verify_a_labels_qr_url(regulated, app, client):
    """A label's QR URL (or its printed code) verifies every entry of the batch against the
    latest checkpoint; another region's batch, a bad code and an empty box are refused with
    a reason (the stored log is append-only, so a changed entry is not staged here)."""
    token = log_in(client, "inspector")
    code = regulated.codes["light"]

    def post(text: str, c=client, t=token):
        return c.post("/regulator/verify", data={"csrf_token": t, "what": "label",
                                                 "label_url": text})

    resp = post(f"https://ledger.example.cn/t/{code}")
    assert resp.status_code == 200 and verdict(resp) == "pass", text_of(resp)
    page = text_of(resp)
    assert "有 3 条记录，每条都有正确的签名" in page  # declared, released, accepted
    assert f'href="/regulator/batch/{code}"' in page
    spaced = f"{code[:18]} {code[18:26]} {code[26:34]} {code[34:]}"
    assert verdict(post(spaced.lower())) == "pass"
    for bad in ("", "https://ledger.example.cn/t/NOTACODE", "hello"):
        resp = post(bad)
        assert resp.status_code in (400, 422) and verdict(resp) == "none", bad
        assert 'id="verify-error"' in text_of(resp)
    other = app.test_client()
    other_token = log_in(other, "hangzhou")
    resp = post(f"/t/{code}", other, other_token)
    assert resp.status_code == 404 and verdict(resp) == "none" and "找不到该批次" in text_of(resp)


def zipfile_with(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


def test_verify_needs_csrf_and_refuses_uploads_beyond_the_limit(regulated, app, client):
    token = log_in(client, "inspector")
    resp = client.post("/regulator/verify", data={"what": "checkpoint", "checkpoint": "x"})
    assert resp.status_code == 403 and "页面已过期" in text_of(resp)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    resp = post_export(client, token, (b"\x00" * (128 * 1024), "entries.bin"))
    assert resp.status_code == 413
    assert "超过" in text_of(resp) and "waste-ledger verify" in text_of(resp)


def test_verify_a_checkpoint_of_this_log_and_a_flipped_byte(regulated, client, cli):
    token = log_in(client, "inspector")
    note = cli("checkpoint").output  # issued at the log's current size
    regulated[GEN].declare(code_for(GEN, 9), description(1_000))  # the log grows after it
    resp = client.post("/regulator/verify", data={
        "csrf_token": token, "what": "checkpoint", "checkpoint": note.replace("\n", "\r\n")})
    assert resp.status_code == 200 and verdict(resp) == "pass", text_of(resp)
    page = text_of(resp)
    size = int(note.split("\n")[1])
    assert f"<dt>树大小</dt><dd>{size}</dd>" in page and "一致性证明" in page
    assert f"/api/v1/proofs/consistency?old={size}&new={size + 1}" in page
    lines = note.split("\n")
    for i, line in [(2, lines[2]), (4, lines[4])]:  # the root, then the signature
        flipped = list(lines)
        pos = len(line) // 2
        flipped[i] = line[:pos] + ("A" if line[pos] != "A" else "B") + line[pos + 1:]
        resp = client.post("/regulator/verify", data={
            "csrf_token": token, "what": "checkpoint", "checkpoint": "\n".join(flipped)})
        assert resp.status_code == 200 and verdict(resp) == "fail"
        assert "检查点无效" in text_of(resp)
    upload = {"csrf_token": token, "what": "checkpoint",
              "checkpoint_file": (io.BytesIO(note.encode()), "checkpoint")}
    assert verdict(client.post("/regulator/verify", data=upload,
                               content_type="multipart/form-data")) == "pass"
    for garbage in ["hello", "\x00\x01", "a\n\n— x y\n"]:
        resp = client.post("/regulator/verify", data={
            "csrf_token": token, "what": "checkpoint", "checkpoint": garbage})
        assert resp.status_code == 200 and verdict(resp) == "fail"
    resp = client.post("/regulator/verify", data={"csrf_token": token, "what": "checkpoint"})
    assert resp.status_code == 422 and "请粘贴检查点文本" in text_of(resp)


def test_leaf_hash_helper_matches_the_log(regulated, client):
    """The timeline's leaf hashes are the log's (RFC 6962 leaf of the exact note bytes)."""
    log_in(client, "inspector")
    code = regulated.codes["light"]
    batch = client.get(f"/api/v1/batches/{code}").get_json()
    first = batch["history"][0]["index"]
    entry = client.get(f"/api/v1/entries?start={first}&limit=1").get_json()["entries"][0]
    page = text_of(client.get(f"/regulator/batch/{code}"))
    leaf = base64.b64encode(leaf_hash(entry["note"].encode())).decode()
    assert f"叶哈希：<code>{leaf}</code>" in page


def test_totals_in_tonnes_and_single_batches_in_kilograms():
    from api.pages.regulator import kg, tonnes

    assert [tonnes(g) for g in (0, 499, 500, 150_000, 1_234_567_891, -20_000)] == [
        "0.000", "0.000", "0.001", "0.150", "1,234.568", "-0.020"]
    assert [kg(g) for g in (1, 119_500, 1_200_000, 123_456_789_999)] == [
        "0.001", "119.5", "1,200", "123,456,789.999"]

"""The case pages: the regulator's list with its filters, one case with the step it may sign
next, opening a case from a gap, and 我的整改 for the responsible unit; evidence files only for
whoever may see the case. Both databases."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re

import openpyxl
import pytest

from ledger.audit.cases import case_stream
from tests.api.lifecycle import GENERATORS, REGULATOR
from tests.api.logins import declare, log_in_as, region_with_people

PASSWORD = "correct horse battery"
CASE = "331002-2026-0001"
OTHER = "331002-2026-0002"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"photo" * 100
TODAY = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def opened(org: str = GENERATORS[0], **over) -> dict:
    return {"region": "331002", "source": "inspection", "type": "storage",
            "severity": "medium", "title": "贮存场所无标识",
            "facts": "现场检查发现危废仓库未设置标识牌", "organisations": [org], **over}


def assigned(org: str = GENERATORS[0], days: int = 30) -> dict:
    return {"assignee": org, "person": "李四", "measures": "设置危险废物贮存设施标识",
            "deadline": (TODAY + dt.timedelta(days=days)).isoformat()}


@pytest.fixture
def people(app):
    return region_with_people(app, {"reg": REGULATOR, "gen1": GENERATORS[0],
                                     "gen2": GENERATORS[1]}, PASSWORD)


def html(client, path: str, status: int = 200) -> str:
    resp = client.get(path)
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    return resp.get_data(as_text=True)


def test_list_filters_case_page_and_the_step_offered(client, people):
    reg = people[REGULATOR]
    reg.act("case.opened", case_stream(CASE), opened())
    reg.act("case.assigned", case_stream(CASE), assigned(days=-1))
    reg.act("case.opened", case_stream(OTHER), opened(GENERATORS[1]))
    log_in_as(client, "reg", PASSWORD)
    page = html(client, "/regulator/cases")
    assert 'data-case="331002-2026-0001"' in page and 'data-case="331002-2026-0002"' in page
    assert "已超期" in page and 'id="bulk-assign"' in page
    only = html(client, f"/regulator/cases?organisation={GENERATORS[1]}")
    assert f'data-case="{OTHER}"' in only and f'data-case="{CASE}"' not in only
    assert f'data-case="{CASE}"' not in html(client, "/regulator/cases?state=opened")
    assert "统一社会信用代码应为 18 位" in html(client, "/regulator/cases?organisation=x", 422)
    one = html(client, f"/regulator/cases/{CASE}")
    assert 'id="assign-form"' in one and 'id="review-form"' not in one
    assert "整改情况验收通过后才能销号" in one  # closing is offered, and said to need it first
    assert "设置危险废物贮存设施标识" in one and "js/cases/regulator.js" in one
    html(client, "/regulator/cases/331002-2026-9999", 404)


def test_a_gap_page_offers_to_open_and_assign_a_case_once(app, client, people):
    code = declare(people, GENERATORS[0], 1)
    app.config["GAP_THRESHOLDS"] = {"331002": {"uncollected_days": 0}}
    log_in_as(client, "reg", PASSWORD)
    gap = f"uncollected_overdue:{code}"
    page = html(client, f"/regulator/gaps/{gap}")
    assert 'id="open-case"' in page and 'data-case-id="331002-' in page
    assert f"{TODAY.year}-0001" in page and code in page
    assert "立案交办" in html(client, "/regulator/gaps?type=uncollected_overdue")
    people[REGULATOR].act("case.opened", case_stream(f"331002-{TODAY.year}-0001"),
                          opened(source="gap", gap=gap, type="uncollected_overdue"))
    again = html(client, f"/regulator/gaps/{gap}")
    assert 'id="open-case"' not in again and 'id="existing-case"' in again


def test_my_rectification_items_and_who_sees_the_evidence(client, people):
    reg, gen1 = people[REGULATOR], people[GENERATORS[0]]
    reg.act("case.opened", case_stream(CASE), opened(organisations=GENERATORS[:2]))
    reg.act("case.assigned", case_stream(CASE), assigned())
    reg.act("case.opened", case_stream(OTHER), opened(GENERATORS[1]))
    reg.act("case.assigned", case_stream(OTHER), assigned(GENERATORS[1]))
    log_in_as(client, "gen1", PASSWORD)
    page = html(client, "/rectify/")
    assert f'data-case="{CASE}"' in page and f'data-case="{OTHER}"' not in page
    assert 'accept="image/*" capture="environment"' in page and "请整改并报送" in page
    token = log_in_as(client, "gen1", PASSWORD)
    sent = client.post(f"/api/v1/cases/{CASE}/evidence", headers={"X-CSRFToken": token},
                       data={"file": (io.BytesIO(JPEG), "p.jpg")},
                       content_type="multipart/form-data")
    assert sent.status_code == 201, sent.json
    sha = hashlib.sha256(JPEG).hexdigest()
    gen1.act("case.responded", case_stream(CASE), {
        "report": "已设置标识牌", "evidence": [{"sha256": sha, "name": "p.jpg"}]})
    assert "已报送，等待验收" in html(client, "/rectify/")
    with client.get(f"/api/v1/cases/{CASE}/evidence/{sha}") as got:  # the page session
        assert got.status_code == 200 and got.data == JPEG
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert got.headers["Content-Security-Policy"] == "sandbox"
    # gen2 is involved in CASE but not its assignee, and sees OTHER: neither serves the file
    log_in_as(client, "gen2", PASSWORD)
    assert f'data-case="{CASE}"' not in html(client, "/rectify/")
    with client.get(f"/api/v1/cases/{CASE}/evidence/{sha}") as hidden:
        assert hidden.status_code == 404
    with client.get(f"/api/v1/cases/{OTHER}/evidence/{sha}") as elsewhere:
        assert elsewhere.status_code == 404 and elsewhere.json["code"] == "evidence_unknown"
    html(client, "/regulator/cases", 403)
    # the regulator's case page shows the photo from the same guarded address
    log_in_as(client, "reg", PASSWORD)
    one = html(client, f"/regulator/cases/{CASE}")
    assert f"/api/v1/cases/{CASE}/evidence/{sha}" in one and 'id="review-form"' in one
    # reassigned: the former assignee no longer sees the case nor its files
    reg.act("case.reviewed", case_stream(CASE), {"result": "returned", "reasons": "照片不清"})
    reg.act("case.assigned", case_stream(CASE), assigned(GENERATORS[1]))
    log_in_as(client, "gen1", PASSWORD)
    with client.get(f"/api/v1/cases/{CASE}/evidence/{sha}") as gone:
        assert gone.status_code == 404


def walk(reg, gen, case: str, upto: str, days: int = 30) -> None:
    """Open a case about GENERATORS[0] and take it along the main path up to ``upto``."""
    steps = [("opened", reg, "case.opened", opened()),
             ("assigned", reg, "case.assigned", assigned(days=days)),
             ("responded", gen, "case.responded", {"report": "已整改"}),
             ("accepted", reg, "case.reviewed", {"result": "accepted"}),
             ("closed", reg, "case.closed", {}),
             ("reopened", reg, "case.reopened", {"reason": "反弹"})]
    for name, who, kind, data in steps:
        who.act(kind, case_stream(case), data)
        if name == upto:
            return


def test_dashboard_rates_and_the_workbook_summary(client, people):
    reg, gen = people[REGULATOR], people[GENERATORS[0]]
    walk(reg, gen, "331002-2026-0001", "assigned", days=-1)  # overdue
    walk(reg, gen, "331002-2026-0002", "closed")
    walk(reg, gen, "331002-2026-0003", "accepted")
    walk(reg, gen, "331002-2026-0004", "reopened")  # recurred
    log_in_as(client, "reg", PASSWORD)
    page = html(client, "/regulator/")
    figures = dict(re.findall(r'data-figure="(cases|rectify_rate|close_rate|overdue|recurred)"'
                              r'>([^<]*)<', page))
    assert figures == {"cases": "4", "rectify_rate": "50%", "close_rate": "25%",
                       "overdue": "1", "recurred": "1"}
    row = re.search(r'<tr data-region="331002">(.*?)</tr>', page, re.S).group(1)
    assert [c.strip() for c in re.findall(r'<td[^>]*>([^<]*)</td>', row)] == [
        "331002 椒江区", "4", "50%", "25%", "1", "1"]
    assert 'id="case-chart-data"' in page and 'data-case-chart="by_month"' in page
    # a period before any case: nothing counted
    empty = html(client, "/regulator/?from=2020-01-01&to=2020-12-31")
    assert 'data-figure="cases">0<' in empty and 'data-figure="rectify_rate">—<' in empty
    book = openpyxl.load_workbook(io.BytesIO(client.get("/api/v1/cases?format=xlsx").data))
    assert book.sheetnames == ["问题清单", "整改汇总"]
    rows = [[c.value for c in r] for r in book["整改汇总"].iter_rows()]
    assert rows == [
        ["区县", "问题数", "已整改", "整改率", "已销号", "销号率", "超期未销号", "反弹"],
        ["331002 椒江区", 4, 2, "50%", 1, "25%", 1, 1], ["合计", 4, 2, "50%", 1, "25%", 1, 1]]
    assert book["问题清单"]["A1"].value == "序号" and book["问题清单"].max_row == 5

"""Plans and declarations over HTTP on both databases: the draft from last year's ledger signed
as it is, the pre-filled declaration signed as it is, the lists and details with their signed
entries, what is owed, the roster, and who may read what."""

from __future__ import annotations

import datetime as dt

import pytest

from ledger.audit.plans import parse_period
from ledger.tlog.client import ApiError
from tests.api.lifecycle import (
    COLLECTOR,
    GENERATORS,
    OUTSIDER,
    REGULATOR,
    build_region,
    code_for,
    description,
)

GEN, OTHER = GENERATORS[0], GENERATORS[1]
TODAY = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def last_ended_quarter(day: dt.date) -> str:
    q = (day.month - 1) // 3  # the quarter before this one (0: last year's Q4)
    return f"{day.year}-Q{q}" if q else f"{day.year - 1}-Q4"


def this_quarter(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


@pytest.fixture
def region(app):
    r = build_region(app)
    code = code_for(GEN, 1)
    r[GEN].declare(code, description(120_000))
    r[GEN].release(code, COLLECTOR, 120_000, r[GEN].request(
        "POST", "/api/v1/pickups", {"collector": COLLECTOR, "batches": [code]})["manifest"],
        vehicle="浙J·D1234")
    return r


def test_a_plan_drafted_from_the_ledger_is_signed_and_read_back(region):
    r = region
    year = TODAY.year + 1
    draft = r[GEN].request("GET", f"/api/v1/plans/draft?year={year}")
    assert (draft["kind"], draft["stream"], draft["due"]) == (
        "plan.filed", f"plan:{GEN}:{year}", f"{year}-03-31")
    (line,) = draft["data"]["wastes"]
    assert (line["waste_code"], line["generation_g"]) == ("900-039-49", 120_000)
    data = draft["data"] | {"reduction": "优化工艺，减少废活性炭产生"}
    receipt = r[GEN].act(draft["kind"], draft["stream"], data)
    mine = r[GEN].request("GET", "/api/v1/plans")
    assert [(p["org"], p["year"], p["management_class"]) for p in mine["items"]] == [
        (GEN, year, "registered")]
    one = r[REGULATOR].request("GET", f"/api/v1/plans/{GEN}/{year}")
    assert one["data"] == data and one["entries"][0]["index"] == receipt["index"]
    assert one["entries"][0]["note"].startswith("waste-ledger")
    again = r[GEN].request("GET", f"/api/v1/plans/draft?year={year}")
    assert (again["kind"], again["data"]) == ("plan.amended", data)
    for who in (OTHER, OUTSIDER):
        with pytest.raises(ApiError) as err:
            r[who].request("GET", f"/api/v1/plans/{GEN}/{year}")
        assert err.value.status == 404
        assert r[who].request("GET", "/api/v1/plans")["total"] == 0
    with pytest.raises(ApiError) as err:
        r[REGULATOR].request("GET", f"/api/v1/plans/draft?year={year}")
    assert err.value.status == 403


def test_a_declaration_from_the_prefill(region):
    r = region
    current = r[GEN].request("GET", f"/api/v1/declarations/prefill?period={this_quarter(TODAY)}")
    (line,) = current["data"]["wastes"]
    assert (line["generated_g"], line["ledger"]["generated_g"], line["transferred"]) == (
        120_000, 120_000, [])  # released, not yet accepted: still on site
    assert current["kind"] == "report.declared"
    with pytest.raises(ApiError) as err:  # the quarter has not ended
        r[GEN].act(current["kind"], current["stream"], current["data"])
    assert err.value.body["code"] == "period_not_ended"
    period = last_ended_quarter(TODAY)
    past = r[GEN].request("GET", f"/api/v1/declarations/prefill?period={period}")
    assert past["data"] == {"period": period, "wastes": []}
    assert past["due"] == (parse_period(period).end + dt.timedelta(days=15)).isoformat()
    receipt = r[GEN].act(past["kind"], past["stream"], past["data"])
    listed = r[REGULATOR].request("GET", "/api/v1/declarations")
    assert [(d["org"], d["period"]) for d in listed["items"]] == [(GEN, period)]
    one = r[GEN].request("GET", f"/api/v1/declarations/{GEN}/{period}")
    assert (one["data"], one["entries"][0]["index"]) == (past["data"], receipt["index"])
    with pytest.raises(ApiError) as err:
        r[OTHER].request("GET", f"/api/v1/declarations/{GEN}/{period}")
    assert err.value.status == 404
    with pytest.raises(ApiError) as err:
        r[GEN].request("GET", "/api/v1/declarations/prefill?period=2026-Q5")
    assert err.value.status == 422


def test_what_is_owed_and_the_roster(region):
    r = region
    due = r[GEN].request("GET", "/api/v1/declarations/due")
    assert {(o["organisation"], o["kind"]) for o in due["items"]} == {(GEN, "plan")}
    everyone = r[REGULATOR].request("GET", "/api/v1/declarations/due")
    assert {o["organisation"] for o in everyone["items"]} == set(GENERATORS[:3])
    roster = r[REGULATOR].request("GET", "/api/v1/plans/roster")
    rows = {row["org"]: row for row in roster["items"]}
    assert set(rows) == set(GENERATORS[:3])  # OUTSIDER is in another region
    assert (rows[GEN]["batches"], rows[GEN]["recorded_g"]) == (1, 120_000)
    assert (rows[OTHER]["batches"], rows[OTHER]["plan_filed"]) == (0, False)
    for who in (GEN, COLLECTOR):
        with pytest.raises(ApiError) as err:
            r[who].request("GET", "/api/v1/plans/roster")
        assert err.value.status == 403
    with pytest.raises(ApiError) as err:
        r[REGULATOR].request("GET", "/api/v1/plans/roster?region=330100")
    assert err.value.body["code"] == "region_forbidden"

"""The plan and declaration pages and the dashboard's planned and declared columns, served on
both databases (the signing itself is driven in Chromium: tests/browser/test_plans.py)."""

from __future__ import annotations

import datetime as dt

from tests.api.lifecycle import GENERATORS, REGULATOR
from tests.api.logins import declare, log_in_as, region_with_people

GEN, OTHER = GENERATORS[0], GENERATORS[1]
YEAR = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year
PASSWORD = "pages-plans-2026"


def test_pages_show_plans_declarations_and_who_has_not_filed(app):
    r = region_with_people(app, {"gen": GEN, "reg": REGULATOR}, PASSWORD)
    declare(r, GEN, 1)
    r[GEN].act("plan.filed", f"plan:{GEN}:{YEAR}", {
        "year": YEAR, "reduction": "减量", "wastes": [
            {"waste_code": "900-039-49", "generation_g": 36_500_000, "transfers": []}]})
    gen = app.test_client()
    log_in_as(gen, "gen", PASSWORD)
    plan = gen.get(f"/generator/plan?year={YEAR + 1}").get_data(as_text=True)
    assert 'id="plan-form"' in plan and f'data-year="{YEAR + 1}"' in plan
    report = gen.get("/generator/report").get_data(as_text=True)
    assert 'id="report-form"' in report and "简化管理单位" in report  # 36.5 t planned
    assert gen.get("/regulator/roster").status_code == 403
    reg = app.test_client()
    log_in_as(reg, "reg", PASSWORD)
    roster = reg.get("/regulator/roster").get_data(as_text=True)
    assert f'data-org="{GEN}" data-plan="filed"' in roster
    assert f'data-org="{OTHER}" data-plan="missing"' in roster and "无批次" in roster
    dashboard = reg.get(f"/regulator/?from={YEAR}-01-01&to={YEAR}-12-31").get_data(
        as_text=True)
    assert 'data-figure="planned"' in dashboard and 'data-figure="reported"' in dashboard
    assert 'data-slot="planned">36.500<' in dashboard  # the year's plan, in tonnes

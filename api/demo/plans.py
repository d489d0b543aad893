"""Plans (管理计划) and declarations (申报登记) for the demo and the simulator, signed by each
enterprise through the API like its other entries: a plan drafted from what it generates, and
declarations pre-filled from the ledger (``GET /api/v1/declarations/prefill``), some with own
utilisation explained, some late, some wrong on purpose."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ledger.audit.plans import Period, differences, parse_period, plan_stream
from ledger.clock import BEIJING

REDUCTION = "优化生产工艺、延长活性炭更换周期、危废分类收集，源头减量"


def plan_data(year: int, lines: list[tuple[str, str, int]], receiver: str,
              permit: str) -> dict[str, Any]:
    """A plan for ``year``: per (code, name, grams a year) a line transferring it all to
    ``receiver`` under ``permit``."""
    return {"year": year, "reduction": REDUCTION, "wastes": [
        {"waste_code": code, "name": name, "generation_g": grams, "storage_g": grams // 4,
         "own_utilisation_g": 0, "own_disposal_g": 0,
         "transfers": [{"receiver": receiver, "permit": permit, "mass_g": grams}]}
        for code, name, grams in lines]}


def file_plan(client: Any, year: int, data: dict[str, Any]) -> dict[str, Any]:
    return client.act("plan.filed", plan_stream(client.org, year), data)


def declare(client: Any, period: Period, *, own_share: float = 0.0,
            inflate: float = 0.0) -> dict[str, Any]:
    """Declare ``period`` from the pre-filled figures: ``own_share`` of the generation used on
    site (explained), ``inflate`` a wrong generated figure (a report_mismatch)."""
    pre = client.request("GET", f"/api/v1/declarations/prefill?period={period.text}")
    data = pre["data"]
    for item in data["wastes"]:
        own = int(item["generated_g"] * own_share) // 100 * 100
        if own:
            item["own_utilisation_g"] = own
            item["closing_storage_g"] = max(item["closing_storage_g"] - own, 0)
            item["explanation"] = "部分废活性炭经再生后自行利用"
        if inflate:
            item["generated_g"] = int(item["generated_g"] * (1 + inflate))
        item["differences"] = differences(item)
    return client.act(pre["kind"], pre["stream"], data)


def last_ended_quarter(today: dt.date) -> Period:
    q = (today.month - 1) // 3
    return parse_period(f"{today.year}-Q{q}" if q else f"{today.year - 1}-Q4")


def on_day(day: dt.date, hour: int = 10) -> dt.datetime:
    """A moment of a Beijing day, in UTC (what the clients sign with); never later than now,
    since the log refuses times ahead of its clock (today before 10:00 gives now)."""
    moment = dt.datetime(day.year, day.month, day.day, hour, tzinfo=BEIJING).astimezone(dt.UTC)
    return min(moment, dt.datetime.now(dt.UTC).replace(microsecond=0))

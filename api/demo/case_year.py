"""The case loop over a simulated year (问题 → 交办 → 整改 → 销号 → 回头看), for `simulate`.

Six enterprises each leave a batch uncollected for months (an ``uncollected_overdue`` gap). The
district's regulator scans the gaps on the day they are due, opens a case from each and assigns
it with a 30-day deadline; then each case goes its own way, every step signed by its own party
at the time it happens:

- ``fixed``: the batch is collected, the report names the collection, accepted, closed;
- ``returned_then_fixed``: the first report is returned with reasons, the second accepted, closed;
- ``closed_not_fixed``: reported and closed, but the batch was never collected: the look-back
  (回头看) finds the gap still open and reopens the case (反弹, signed by the operator key);
- ``ignored``: never answered: overdue (``case_overdue``);
- ``fixed_late``: collected and closed after the deadline (the overdue gap resolved, late);
- ``returned``: returned and never answered again: overdue.

Plus a case from an inspection, closed. Evidence photos go through the API like a phone's.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from api.demo.seed import WASTES, description
from api.extensions import db
from api.lookback import run_lookback
from api.scoping import gap_settings
from ledger.audit.cases import Recurrence, case_stream, next_case_id
from ledger.audit.gaps import GapQuery, find_gaps
from ledger.clock import BEIJING

OUTCOMES = ("fixed", "returned_then_fixed", "closed_not_fixed", "ignored", "fixed_late",
            "returned")
#: A tiny JPEG (its first bytes are what the evidence check sniffs).
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"simulated site photo " * 20


@dataclass
class CaseYear:
    """What the case year did: outcome -> case id, and the look-back's reopenings."""

    cases: dict[str, str] = field(default_factory=dict)
    inspection: str = ""
    recurred: list[Recurrence] = field(default_factory=list)


def _day(when: dt.datetime) -> str:
    return when.astimezone(BEIJING).date().isoformat()


def case_year(sim: Any, region: str, regulator: str, end: dt.datetime) -> CaseYear:
    """Run the year ending at ``end``; ``sim`` is the Simulation (its demo and parties)."""
    d, p = sim.demo, sim.parties
    app = d.app
    gens = p["generators"][:len(OUTCOMES)]
    out = CaseYear()
    t0 = end - dt.timedelta(days=330)
    codes = {}
    waste = WASTES[0]
    for org in gens:
        code = f"{org}{waste[0].replace('-', '')}{t0.astimezone(BEIJING):%Y%m%d}800"
        d.at(org, t0).declare(code, description(waste, 40_000, t0.astimezone(BEIJING).date()))
        d.batches += 1
        codes[org] = code
    t1 = t0 + dt.timedelta(days=100)  # the gaps opened on day 90; the regulator acts on 100
    with app.app_context():
        found = find_gaps(db.session, GapQuery(now_ms=int(t1.timestamp() * 1000),
                                               region=region,
                                               types=frozenset({"uncollected_overdue"})),
                          gap_settings(current_app))
    gap_of = {g.batches[0]: g for g in found if g.batches and g.batches[0] in codes.values()}
    deadline = _day(t1 + dt.timedelta(days=30))
    reg = lambda when: d.at(regulator, when)  # noqa: E731 - the regulator at a moment
    for n, (org, outcome) in enumerate(zip(gens, OUTCOMES, strict=True)):
        gap = gap_of[codes[org]]
        with app.app_context():
            case_id = next_case_id(db.session, region, t1.astimezone(BEIJING).year)
        stream = case_stream(case_id)
        at = t1 + dt.timedelta(hours=n)
        reg(at).act("case.opened", stream, {
            "region": region, "source": "gap", "gap": gap.id, "type": gap.type,
            "severity": gap.severity, "title": f"模拟企业超期未转移危险废物（{outcome}）",
            "facts": f"批次 {codes[org]} 申报后超过 90 天未收集转移", "organisations": [org],
            "batches": [codes[org]]})
        reg(at + dt.timedelta(minutes=5)).act("case.assigned", stream, {
            "assignee": org, "person": "企业负责人", "measures": "委托有资质单位收集转移，报送联单",
            "deadline": deadline})
        out.cases[outcome] = case_id
        _rectify(sim, outcome, org, codes[org], stream, case_id, reg, at)
    # an inspection's finding, closed within the month
    at = t1 + dt.timedelta(days=2)
    with app.app_context():
        case_id = next_case_id(db.session, region, at.astimezone(BEIJING).year)
    stream, org = case_stream(case_id), gens[0]
    reg(at).act("case.opened", stream, {
        "region": region, "source": "inspection", "type": "labelling", "severity": "low",
        "title": "危废贮存场所标识不全", "facts": "现场检查发现贮存场所缺少警示标志",
        "organisations": [org]})
    reg(at + dt.timedelta(minutes=5)).act("case.assigned", stream, {
        "assignee": org, "person": "企业负责人", "measures": "按 HJ 1276 设置标志",
        "deadline": _day(at + dt.timedelta(days=15))})
    d.at(org, at + dt.timedelta(days=5)).act("case.responded", stream, {
        "report": "已设置标志", "evidence": [_photo(sim, org, case_id, b"sign")]})
    reg(at + dt.timedelta(days=6)).act("case.reviewed", stream, {"result": "accepted"})
    reg(at + dt.timedelta(days=6, hours=1)).act("case.closed", stream, {})
    out.inspection = case_id
    out.recurred = run_lookback(app)  # 回头看, now: signed by the operator key
    return out


def _photo(sim: Any, org: str, case_id: str, salt: bytes) -> dict[str, str]:
    """Upload a photo as the phone does (multipart, the unit's own token); its hash to sign."""
    client = sim.demo.clients[org]
    data = PHOTO + salt
    resp = sim.demo.app.test_client().post(
        f"/api/v1/cases/{case_id}/evidence", headers={"Authorization": f"Bearer {client.token}"},
        data={"file": (io.BytesIO(data), "现场照片.jpg")}, content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    return {"sha256": resp.get_json()["sha256"], "name": "现场照片.jpg"}


def _collect(sim: Any, org: str, code: str, when: dt.datetime) -> int:
    """The collector fetches the batch; returns the index of its signed acceptance."""
    d, p = sim.demo, sim.parties
    number = d.manifest(when.year)
    d.at(org, when).release(code, p["collector"], 40_000, number, vehicle="浙J·S0001")
    receipt = d.at(p["collector"], when + dt.timedelta(hours=2)).accept(code, org, 40_000,
                                                                      number)
    return int(receipt["index"])


def _rectify(sim: Any, outcome: str, org: str, code: str, stream: str, case_id: str,
             reg: Any, t1: dt.datetime) -> None:
    d = sim.demo
    day = lambda n: t1 + dt.timedelta(days=n)  # noqa: E731
    gen = lambda when: d.at(org, when)  # noqa: E731
    if outcome == "ignored":
        return
    if outcome in ("fixed", "returned_then_fixed", "fixed_late"):
        late = outcome == "fixed_late"
        index = _collect(sim, org, code, day(40 if late else 5))
        report = {"report": "已委托收集单位转移，联单已闭环", "entries": [index],
                  "evidence": [_photo(sim, org, case_id, outcome.encode())]}
    else:
        report = {"report": "已联系收集单位，近期转移"}
    start = 41 if outcome == "fixed_late" else 10
    gen(day(start)).act("case.responded", stream, report)
    if outcome in ("returned_then_fixed", "returned"):
        reg(day(start + 2)).act("case.reviewed", stream, {
            "result": "returned", "reasons": "未附转移联单，请补充"})
        if outcome == "returned":
            return
        gen(day(start + 5)).act("case.responded", stream, {**report, "report": "补充转移联单"})
        start += 5
    reg(day(start + 2)).act("case.reviewed", stream, {"result": "accepted"})
    reg(day(start + 3)).act("case.closed", stream, {"note": "现场核查，予以销号"})

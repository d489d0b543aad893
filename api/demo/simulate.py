"""`waste-ledger simulate`: a region over months, clean or with known faults of every gap type.

Every entry is signed by its own party through the client, with the time it happened. The
faults injected are written down (type, batches, organisations) so that the gap scan can be
checked against them: each injected fault must be found as the right type, and a clean run
must report none.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import select, text

from api.demo import plans
from api.demo.case_year import OUTCOMES, CaseYear, case_year
from api.demo.seed import WASTES, Demo, description, join
from api.extensions import db
from api.runtime import log_config
from ledger.audit.plans import periods_of
from ledger.clock import BEIJING
from ledger.custody.projections import Batch
from ledger.custody.uscc import make_uscc
from ledger.tlog.client import ApiError
from ledger.tlog.log import issue_checkpoint

DISTRICT = "331002"


@dataclass
class Fault:
    """One injected fault and the gap types that must report it."""

    kind: str
    expect: tuple[str, ...]
    batches: tuple[str, ...] = ()
    organisations: tuple[str, ...] = ()
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "expect": list(self.expect), "batches": list(self.batches),
                "organisations": list(self.organisations), "note": self.note}


@dataclass
class Simulation:
    demo: Demo
    end: dt.datetime
    faults: list[Fault] = field(default_factory=list)
    parties: dict[str, Any] = field(default_factory=dict)
    cases: CaseYear | None = None


def simulate(app: Flask, *, enterprises: int = 20, months: int = 7, faults: bool = True,
             seed: int = 7, cases: bool = False,
             progress: Callable[[str], None] = lambda _: None) -> Simulation:
    """Run the simulation; ``end`` is the moment the gap scan should be made at. With
    ``cases``, a year of the case loop too (``api.demo.case_year``), before the faults."""
    months = max(months, 7 if faults else 1)  # an anomaly needs a history to stand out
    enterprises = max(enterprises, 8 if faults else 1)  # one per fault, and a quiet one
    if cases:
        enterprises = max(enterprises, len(OUTCOMES) + (1 if faults else 0))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    # Whole calendar months (Beijing), ending with the last complete one before today.
    firsts = _month_starts(now, months)
    sim = Simulation(Demo(app, random.Random(seed)), end=now)
    _enrol(sim, enterprises)
    progress(f"enrolled {len(sim.demo.clients)} organisations")
    gens = sim.parties["generators"]
    quiet = gens[-1] if faults else None  # the enterprise that stops declaring
    for m, month0 in enumerate(firsts):
        last = m == months - 1
        declaring = [g for g in gens if not (last and g == quiet)]
        declared = _declare(sim, declaring, month0)
        _collect_and_dispose(sim, declared, month0)
        progress(f"month {m + 1}/{months}: {sim.demo.batches} batches")
    if cases:
        regulator = make_uscc(DISTRICT, 6009)
        sim.demo.clients[regulator] = join(app, regulator, "模拟区生态环境分局", DISTRICT,
                                           ["regulator"])
        sim.parties["regulator"] = regulator
        sim.cases = case_year(sim, DISTRICT, regulator, now)
        progress(f"case year: {len(sim.cases.cases) + 1} cases, "
                 f"{len(sim.cases.recurred)} reopened at 回头看")
    _plans_and_reports(sim, firsts, faults)
    progress("plans filed, quarters declared")
    if faults:
        _inject(sim, quiet)
        progress(f"injected {len(sim.faults)} faults")
    return sim


def _plans_and_reports(sim: Simulation, firsts: list[dt.datetime], faults: bool) -> None:
    """Every enterprise files a plan for each simulated year (12 t: 简化管理, quarterly) and
    declares each quarter that ended within the simulated months from the pre-filled figures,
    on time. With faults: a plan far too small (plan_exceeded), one for another code
    (code_not_in_plan), one naming only the disposer (receiver_not_in_plan), a declaration
    inflating the generation (report_mismatch), one filed late (marked late, no alert: the
    simulated enterprises were registered today)."""
    d, p = sim.demo, sim.parties
    gens = p["generators"]
    permit = f"浙危废经第{p['collector'][-4:]}号"
    first = firsts[0].astimezone(BEIJING).date()
    end = sim.end.astimezone(BEIJING).date()
    years = sorted({f.astimezone(BEIJING).year for f in firsts})
    lines = {org: [WASTES[i % len(WASTES)][:2]] for i, org in enumerate(gens)}
    for i, org in enumerate(gens):
        code, name = lines[org][0]
        grams, receiver = 12_000_000, (p["collector"], permit)
        if faults and i == 1:
            grams = 1_000  # far below what it generates
        if faults and i == 2:
            other = next(w for w in WASTES if w[0] != code)
            code, name = other[:2]
        if faults and i == 3:
            receiver = (p["disposer"], f"浙危废经第{p['disposer'][-4:]}号")
        for year in years:
            plans.file_plan(d.at(org, plans.on_day(dt.date(year, 1, 5))), year,
                            plans.plan_data(year, [(code, name, grams)], *receiver))
    quarters = [q for year in years for q in periods_of(year, "quarterly")
                if q.end >= first and q.end < end]
    for i, org in enumerate(gens):
        for q in quarters:
            late = faults and i == 5
            when = plans.on_day(end if late else min(q.end + dt.timedelta(days=5), end))
            plans.declare(d.at(org, when), q, inflate=0.5 if faults and i == 4 else 0.0)
    if not faults:
        return
    with d.app.app_context():
        batches = {org: tuple(db.session.scalars(select(Batch.code).where(
            Batch.generator == org).order_by(Batch.code))) for org in gens[1:4]}
    sim.faults += [
        Fault("plan_too_small", ("plan_exceeded",), batches[gens[1]], (gens[1],)),
        Fault("waste_outside_plan", ("code_not_in_plan",), batches[gens[2]], (gens[2],)),
        Fault("receiver_outside_plan", ("receiver_not_in_plan",), batches[gens[3]],
              (gens[3], p["collector"])),
        Fault("declared_wrong", ("report_mismatch",), (), (gens[4],)),
        Fault("declared_late", (), (), (gens[5],), note="declarations.late")]


def _month_starts(now: dt.datetime, months: int) -> list[dt.datetime]:
    """The first moments (Beijing midnight, in UTC) of the ``months`` months before now's."""
    bj = now.astimezone(BEIJING)
    y, m = bj.year, bj.month
    out = []
    for _ in range(months):
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        out.append(dt.datetime(y, m, 1, tzinfo=BEIJING).astimezone(dt.UTC))
    return list(reversed(out))


def _enrol(sim: Simulation, enterprises: int) -> None:
    app, d = sim.demo.app, sim.demo
    gens = []
    for i in range(enterprises):
        org = make_uscc(DISTRICT, 5000 + i)
        d.clients[org] = join(app, org, f"模拟企业{i + 1}号", DISTRICT, ["generator"])
        gens.append(org)
    collector = make_uscc(DISTRICT, 6001)
    d.clients[collector] = join(app, collector, "模拟收集公司", DISTRICT, ["collector"],
                                ["collect", "store"], vehicles=("浙J·S0001",))
    transporter = make_uscc(DISTRICT, 6002)
    d.clients[transporter] = join(app, transporter, "模拟运输公司", DISTRICT, ["transporter"],
                                  vehicles=("浙J·S0002",))
    disposer = make_uscc("331003", 6003)
    d.clients[disposer] = join(app, disposer, "模拟处置公司", "331003", ["disposer"],
                               ["store", "utilise", "dispose"])
    unlicensed = make_uscc("331081", 6004)
    d.clients[unlicensed] = join(app, unlicensed, "无证回收点", "331081", ["disposer"])
    sim.parties.update(generators=gens, collector=collector, transporter=transporter,
                       disposer=disposer, unlicensed=unlicensed)


def _declare(sim: Simulation, gens: list[str],
             month0: dt.datetime) -> list[tuple[str, str, int, dt.datetime]]:
    d, out = sim.demo, []
    for i, org in enumerate(gens):
        waste = WASTES[i % len(WASTES)]
        day = month0 + dt.timedelta(days=d.rng.randint(0, 9), hours=10)
        mass = int(waste[4] * d.rng.uniform(0.8, 1.2)) // 100 * 100
        code = f"{org}{waste[0].replace('-', '')}{day:%Y%m%d}001"
        d.at(org, day).declare(code, description(waste, mass, day.date()))
        d.batches += 1
        out.append((org, code, mass, day))
    return out


def _collect_and_dispose(sim: Simulation, declared: list[tuple[str, str, int, dt.datetime]],
                         month0: dt.datetime) -> None:
    """A clean month: collected on day 12, delivered and disposed of by day 16."""
    d, p = sim.demo, sim.parties
    pickup = month0 + dt.timedelta(days=12)
    numbers = {code: d.manifest(pickup.year) for _, code, _, _ in declared}  # one per origin
    for org, code, mass, _ in declared:
        d.at(org, pickup).release(code, p["collector"], mass, numbers[code],
                                  vehicle="浙J·S0001")
    for org, code, mass, _ in declared:
        d.at(p["collector"], pickup + dt.timedelta(hours=3)).accept(code, org, mass,
                                                                   numbers[code])
    trip = d.manifest(pickup.year)
    when = pickup + dt.timedelta(days=2)
    for _, code, mass, _ in declared:
        d.at(p["collector"], when).release(code, p["disposer"], mass, trip)
    for _, code, mass, _ in declared:
        d.at(p["disposer"], when + dt.timedelta(hours=4)).accept(code, p["collector"], mass,
                                                                trip)
    for _, code, mass, _ in declared:
        d.at(p["disposer"], when + dt.timedelta(days=2)).dispose(
            code, "disposal", "D10", f"浙危废经第{p['disposer'][-4:]}号", mass)


def _new_batch(sim: Simulation, org: str, when: dt.datetime, serial: int) -> tuple[str, int]:
    waste = WASTES[0]
    code = f"{org}{waste[0].replace('-', '')}{when:%Y%m%d}{serial:03d}"
    mass = 50_000
    sim.demo.at(org, when).declare(code, description(waste, mass, when.date()))
    sim.demo.batches += 1
    return code, mass


def _inject(sim: Simulation, quiet: str | None) -> None:
    """One fault of every kind, each on batches of its own (serials 900+)."""
    d, p = sim.demo, sim.parties
    g = p["generators"]
    t = sim.end - dt.timedelta(days=120)

    code, _ = _new_batch(sim, g[0], t, 901)  # declared, never collected
    sim.faults.append(Fault("never_collected", ("uncollected_overdue",), (code,), (g[0],)))

    code, mass = _new_batch(sim, g[1], t, 902)  # released, never arrives
    number = d.manifest(t.year)
    d.at(g[1], t + dt.timedelta(days=1)).release(code, p["collector"], mass, number,
                                                 vehicle="浙J·S0001")
    sim.faults.append(Fault("disappeared_in_transit", ("handover_unconfirmed", "manifest_open"),
                            (code,), (g[1], p["collector"])))

    code, mass = _new_batch(sim, g[2], t, 903)  # weighed far lighter at pickup
    number = d.manifest(t.year)
    d.at(g[2], t + dt.timedelta(days=1)).release(code, p["collector"], mass, number)
    d.at(p["collector"], t + dt.timedelta(days=1, hours=1)).accept(code, g[2], mass * 7 // 10,
                                                                  number)
    sim.faults.append(Fault("tampered_mass", ("mass_discrepancy",), (code,), (g[2],)))
    held = code

    code, mass = _new_batch(sim, g[3], t, 904)  # handed to a receiver without a permit
    number = d.manifest(t.year)
    try:
        d.at(g[3], t + dt.timedelta(days=1)).release(code, p["unlicensed"], mass, number)
        d.at(p["unlicensed"], t + dt.timedelta(days=1, hours=2)).accept(code, g[3], mass,
                                                                       number)
        sim.faults.append(Fault("unlicensed_receiver", ("permit_violation",), (code,),
                                (p["unlicensed"],)))
    except ApiError as exc:  # the region refuses instead of flagging: prevented at the source
        sim.faults.append(Fault("unlicensed_receiver", ("prevented",), (code,),
                                (p["unlicensed"],), note=exc.code))

    code, mass = _new_batch(sim, g[4], t, 905)  # refused, then left with the carrier
    number = d.manifest(t.year)
    d.at(g[4], t + dt.timedelta(days=1)).release(code, p["collector"], mass, number)
    d.at(p["collector"], t + dt.timedelta(days=1, hours=1)).accept(code, g[4], mass, number)
    trip = d.manifest(t.year)
    d.at(p["collector"], t + dt.timedelta(days=2)).release(code, p["disposer"], mass, trip)
    d.at(p["disposer"], t + dt.timedelta(days=2, hours=3)).refuse(code, p["collector"], trip,
                                                                 "包装破损，拒收")
    sim.faults.append(Fault("refusal_left_unresolved", ("refusal_unresolved",), (code,),
                            (p["collector"], p["disposer"])))

    code, mass = _new_batch(sim, g[4], t, 908)  # partly refused, the part never taken back
    number = d.manifest(t.year)
    d.at(g[4], t + dt.timedelta(days=1)).release(code, p["disposer"], mass, number)
    d.at(p["disposer"], t + dt.timedelta(days=1, hours=2)).refuse(
        code, g[4], number, "两袋破损，拒收这部分", refused_mass_g=mass // 4)
    d.at(p["disposer"], t + dt.timedelta(days=1, hours=3)).dispose(
        code, "disposal", "D10", f"浙危废经第{p['disposer'][-4:]}号", mass - mass // 4)
    sim.faults.append(Fault("refused_part_left", ("refused_part_unresolved",), (code,),
                            (g[4], p["disposer"])))

    code, mass = _new_batch(sim, g[5], t, 906)  # received by the disposer, never disposed
    number = d.manifest(t.year)
    d.at(g[5], t + dt.timedelta(days=1)).release(code, p["disposer"], mass, number)
    d.at(p["disposer"], t + dt.timedelta(days=1, hours=5)).accept(code, g[5], mass, number)
    sim.faults.append(Fault("never_disposed", ("undisposed_overdue",), (code,),
                            (p["disposer"],)))

    code, mass = _new_batch(sim, g[6], t, 907)  # a transporter that keeps it for weeks
    number = d.manifest(t.year)
    d.at(g[6], t + dt.timedelta(days=1)).release(code, p["transporter"], mass, number,
                                                 vehicle="浙J·S0002")
    d.at(p["transporter"], t + dt.timedelta(days=1, hours=1)).accept(code, g[6], mass, number)
    sim.faults.append(Fault("stuck_in_transit", ("in_transit_overdue",), (code,),
                            (p["transporter"],)))

    child = f"{p['collector']}{WASTES[0][0].replace('-', '')}{t:%Y%m%d}999"
    d.at(p["collector"], t + dt.timedelta(days=3)).hand_off(held, child, 10_000)
    sim.faults.append(Fault("hand_off_into_nothing", ("lineage_imbalance",), (held, child),
                            (p["collector"],)))

    if quiet is not None:
        sim.faults.append(Fault("stopped_declaring", ("generation_anomaly",), (), (quiet,)))
    _tamper_tree(sim)


def _tamper_tree(sim: Simulation) -> None:
    """Corrupt one stored tree node after a checkpoint was published (an integrity fault)."""
    with sim.demo.app.app_context():
        issue_checkpoint(db.session, log_config())
        db.session.execute(text(
            "UPDATE merkle_nodes SET hash = :h WHERE level = 1 AND idx = 0"),
            {"h": b"\x00" * 32})
        db.session.commit()
    sim.faults.append(Fault("tampered_tree", ("integrity",), note="merkle node (1, 0)"))

"""Reconciliation (对账) and the gap scan at 10k, 100k and 1M batches, on SQLite and PostgreSQL.

Prints progress on stderr and one JSON document on stdout. Not a test: nothing passes or fails.

    .venv/bin/python bench/reconcile.py --quick                  # 2,000 batches, both databases
    .venv/bin/python bench/reconcile.py                          # 10k and 100k, both databases
    .venv/bin/python bench/reconcile.py --sizes 1m --db postgresql
    .venv/bin/python bench/reconcile.py --sizes 10k --check      # + rebuild --check, verify

The region
----------
``n`` original batches declared over 2026 (Beijing time) by ``n / 100`` small enterprises in
three counties of 台州 (331002, 331003, 331004), a transfer station, a transporter and three
disposers, each registered with its own key (and permits) by the operator. About 80 % of the
batches are collected by the transfer station (a quarter of them through the transporter) and
consolidated there into drums of 20 batches of one waste code; 90 % of the drums are shipped to a
disposer, accepted and disposed of. About 12 % go straight to a disposer. Batches declared in
the last weeks of the year are still at the enterprise, at the station or at a disposer. One
batch in 997 carries an injected fault: a mass discrepancy, a whole refusal left unresolved, a
batch never collected, a batch stuck with the transporter, a release never answered. About
5 entries per batch (declared, released, accepted, … consolidated_out, the drum's share of its
own four entries).

The bulk path
-------------
Entries are signed in worker processes (each unit — one drum with its 20 parents, or one batch —
is signed stream by stream, the drum last because it names its parents' hand-off leaf hashes),
laid out unit by unit in the log, and written with the operator's checkpoint over the recomputed
Merkle root. The projections are produced alongside, by mirroring what the custody handlers do
for exactly these entry kinds, and loaded with COPY (PostgreSQL) or executemany (SQLite); the
reconciliation summary and its monthly totals are then computed set-based
(``ledger.audit.reconcile.rebuild_balances``), and the custody-interval summary the gap scan
reads (``ledger.audit.intervals.rebuild_intervals``); a cache loaded by an older version gets
its schema upgraded and the missing summaries filled before it is measured.
``--check`` proves the bulk path right at the sizes it runs: ``ledger.tlog.rebuild`` replays every
entry through the real rules and handlers and must find no difference in any projection
(including ``batch_balances``), and ``waste-ledger verify`` must accept an export of the log.

Measured (in a fresh process per database and size, after a warm-up run)
------------------------------------------------------------------------
- ``reconcile_year_s``: ``reconcile(region=331000, 2026-01-01..2026-12-31)``, every breakdown;
  median of ``--rounds``. Baseline ``raw_aggregate_s``: ``SELECT waste_code, sum(declared_mass_g)
  FROM batches WHERE <the same population> GROUP BY waste_code``; ``reconcile_vs_raw`` =
  reconcile / raw (how many raw aggregates a full report costs).
- ``reference_cte_s``: the same year's totals from the recursive CTE over the projections (what
  a report cost before the summary), once.
- ``gap_scan_cold_s``: ``find_gaps`` for every type with the integrity watermark at 0, so the
  scan re-verifies the whole log once (what the first scan after a restore costs).
  ``gap_scan_s``: the same scan with the watermark current (every later scan); median of rounds;
  ``gap_scan_vs_raw`` = gap scan / raw aggregate. ``gap_scan_by_type_s``: each type alone.
  ``--no-cold`` skips the cold scan (the watermark is left as it is).
  ``gap_scan_previous_s``: the scan as ``tests/ledger/gap_reference.py`` computes it (the
  time-based types from the projections, the plan and declaration types one generator at a
  time), which must find the same gaps; ``gap_scan_previous_vs_raw`` its ratio to the raw
  aggregate; ``gap_scan_by_type_previous_s``: ``plan_missing`` and ``report_missing`` alone,
  the previous way. ``loadavg_gap_scan`` / ``loadavg_after_scans``: the load average after the
  timed scans and after the per-type runs (the machine is shared).
- ``peak_python_mb``: tracemalloc peak during one report and one scan (separate, untimed runs);
  ``maxrss_mb``: the measuring process's peak resident set (no build in it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import multiprocessing as mp
import os
import pickle
import platform
import random
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# bench/ itself must not be on the path: bench/http.py would shadow the standard library's http
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from sqlalchemy import BigInteger, create_engine, func, literal_column, select, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from ledger import migrations  # noqa: E402
from ledger.audit import reconcile as reconcile_module  # noqa: E402
from ledger.audit.gaps import GAP_TYPES, GapQuery, GapSettings, find_gaps  # noqa: E402
from ledger.audit.intervals import rebuild_intervals, refresh_intervals  # noqa: E402
from ledger.audit.models import BalanceMonth, CustodyInterval  # noqa: E402
from ledger.audit.reconcile import (  # noqa: E402
    SUMMED,
    ReportFilters,
    rebuild_balances,
    rebuild_months,
    reconcile,
    reference_figures,
    refresh_balances,
    region_bounds,
)
from ledger.bootstrap import ledger_kinds  # noqa: E402
from ledger.clock import beijing_day_start_ms  # noqa: E402
from ledger.custody.kinds import CustodySettings, parent_link  # noqa: E402
from ledger.custody.projections import Batch, BatchBalance  # noqa: E402
from ledger.custody.uscc import make_uscc  # noqa: E402
from ledger.tlog import export as bundle  # noqa: E402
from ledger.tlog import merkle  # noqa: E402
from ledger.tlog.checkpoints import sign_checkpoint  # noqa: E402
from ledger.tlog.db import configure_engine  # noqa: E402
from ledger.tlog.entries import entry_text, format_time, prev_field  # noqa: E402
from ledger.tlog.log import LogConfig, export_log  # noqa: E402
from ledger.tlog.merkle import append_to_frontier, root_of_frontier  # noqa: E402
from ledger.tlog.models import Base  # noqa: E402
from ledger.tlog.notes import Signer, sign_note  # noqa: E402
from ledger.tlog.rules import ORG_STREAM_PREFIX, org_stream  # noqa: E402
from tests.ledger.gap_reference import _plans_missing as previous_plans_missing  # noqa: E402
from tests.ledger.gap_reference import _reports_missing as previous_reports_missing  # noqa: E402
from tests.ledger.gap_reference import reference_gaps  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
PG_URL = os.environ.get("WASTE_LEDGER_BENCH_PG",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SIZES = {"2k": 2_000, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}
FORMAT = 3  # bump when the generated data set changes, so stale caches are rebuilt

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
YEAR = 2026
YEAR_START = beijing_day_start_ms(dt.date(YEAR, 1, 1))
YEAR_END = beijing_day_start_ms(dt.date(YEAR + 1, 1, 1))
SCAN_NOW = YEAR_END + DAY_MS  # the gap scan's clock: 2027-01-02 Beijing
DECLARE_SPAN = 350 * DAY_MS
REGISTRY_T = YEAR_START - DAY_MS
RECEIVED_LAG_MS = 2_000

OPERATOR_ORG = make_uscc("330000", 1)
STATION = make_uscc("331002", 90_001)  # 中转站 (a collector)
TRANSPORTER = make_uscc("331002", 90_002)
DISPOSERS = [make_uscc("331003", 90_003 + i) for i in range(3)]
COUNTIES = ("331002", "331003", "331004")
WASTES = ("900-039-49", "900-249-08", "900-252-12")
NAMES = {"900-039-49": "废活性炭", "900-249-08": "废矿物油", "900-252-12": "废漆渣"}
DRUM = 20
FAULT_EVERY = 997
FAULTS = ("discrepancy", "refused", "never_collected", "stuck_in_transit", "unanswered")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def signer_for(org: str) -> Signer:
    """Every party's key, derived from its USCC so that worker processes need no key transfer."""
    name = "waste-ledger.bench/log" if org == OPERATOR_ORG else f"bench-{org}"
    return Signer.from_seed(name, hashlib.sha256(b"waste-ledger bench " + org.encode()).digest())


def permit_number(org: str) -> str:
    return f"浙危废经第{org[-6:]}号"


def manifest_number(k: int) -> str:
    """14 digits: year, province 33, a city 01-11, serial (11 million distinct numbers)."""
    return f"{YEAR}33{k // 1_000_000 + 1:02d}{k % 1_000_000:06d}"


def beijing_day(t_ms: int) -> dt.date:
    return (dt.datetime.fromtimestamp((t_ms + 8 * HOUR_MS) // 1000, tz=dt.UTC)).date()


def description(waste: str, mass_g: int, day: dt.date) -> dict[str, Any]:
    return {"waste_code": waste, "name": NAMES[waste], "form": "solid", "hazards": ["T"],
            "container": {"type": "吨袋", "count": 1}, "mass_g": mass_g,
            "generated_on": day.isoformat(), "location": "危废仓库"}


# --- the plan: which entries, in which order ---------------------------------------------------


@dataclass
class Event:
    """One entry to sign: ``data`` may hold a placeholder for parent links (drums)."""

    stream: str
    kind: str
    org: str
    t_ms: int
    data: dict[str, Any]


@dataclass
class Unit:
    """Entries signed together in one worker: a batch, or a drum with its parents."""

    events: list[Event] = field(default_factory=list)
    drum_parents: list[tuple[str, int]] = field(default_factory=list)  # (code, mass) of links
    first_t: int = 0


class Planner:
    """Decides every batch's fate and lays out the entries, unit by unit."""

    def __init__(self, n: int, seed: int = 5) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.generators = [make_uscc(COUNTIES[i % 3], 1000 + i) for i in range(max(10, n // 100))]
        self.serials: dict[tuple[str, dt.date], int] = {}
        self.manifests = 0
        self.faults: dict[str, int] = {}

    def code(self, org: str, waste: str, t_ms: int) -> tuple[str, dt.date]:
        day = beijing_day(t_ms)
        serial = self.serials.get((org, day), 0) + 1
        if serial > 999:
            raise RuntimeError(f"more than 999 batches of {org} on {day}")
        self.serials[(org, day)] = serial
        return f"{org}{waste.replace('-', '')}{day:%Y%m%d}{serial:03d}", day

    def manifest(self) -> str:
        self.manifests += 1
        return manifest_number(self.manifests)

    def hand_over(self, ev: list[Event], code: str, frm: str, to: str, mass: int, t: int,
                  accepted: int | None = None) -> int:
        number = self.manifest()
        ev.append(Event(code, "custody.released", frm, t,
                        {"to": to, "mass_g": mass, "manifest": number}))
        got = mass if accepted is None else accepted
        ev.append(Event(code, "custody.accepted", to, t + HOUR_MS,
                        {"from": frm, "mass_g": got, "manifest": number}))
        return got

    def units(self) -> Iterator[Unit]:
        """Every unit in log order: a unit is emitted once its last entry is decided."""
        rng = self.rng
        waiting: dict[str, list[tuple[list[Event], str, int, int]]] = {w: [] for w in WASTES}
        for i in range(self.n):
            t0 = YEAR_START + DECLARE_SPAN * i // self.n + rng.randrange(0, 12 * HOUR_MS)
            t0 -= t0 % 1000
            gen = self.generators[rng.randrange(len(self.generators))]
            if gen == self.generators[0] and t0 >= YEAR_END - 40 * DAY_MS:
                gen = self.generators[1]  # an enterprise that stops declaring in December
            waste = WASTES[rng.randrange(len(WASTES))]
            mass = rng.randrange(5_000, 500_000)
            code, day = self.code(gen, waste, t0)
            ev = [Event(code, "batch.declared", gen, t0, description(waste, mass, day))]
            late = t0 >= YEAR_START + DECLARE_SPAN - 10 * DAY_MS
            r = rng.random()
            if i % FAULT_EVERY == FAULT_EVERY - 1:
                yield self.fault(ev, code, gen, mass, t0, FAULTS[(i // FAULT_EVERY) % 5])
                continue
            if late and r < 0.3:  # still with the enterprise
                yield Unit(ev, first_t=t0)
                continue
            t1 = t0 + rng.randrange(1, 3) * DAY_MS
            if r < 0.12:  # straight to a disposer
                disposer = DISPOSERS[rng.randrange(3)]
                held = self.hand_over(ev, code, gen, disposer, mass, t1)
                if not late:
                    ev.append(self.disposal(code, disposer, held, t1 + 10 * DAY_MS))
                yield Unit(ev, first_t=t0)
                continue
            if rng.random() < 0.25:  # through the transporter
                held = self.hand_over(ev, code, gen, TRANSPORTER, mass, t1)
                held = self.hand_over(ev, code, TRANSPORTER, STATION, held, t1 + 4 * HOUR_MS)
            else:
                held = self.hand_over(ev, code, gen, STATION, mass, t1)
            if late and r < 0.6:  # at the station, not yet consolidated
                yield Unit(ev, first_t=t0)
                continue
            queue = waiting[waste]
            queue.append((ev, code, held, t0))
            if len(queue) == DRUM:
                yield self.drum(queue, waste)
                queue.clear()
        for waste, queue in waiting.items():
            if queue:
                yield self.drum(queue, waste)

    def fault(self, ev: list[Event], code: str, gen: str, mass: int, t0: int,
              kind: str) -> Unit:
        self.faults[kind] = self.faults.get(kind, 0) + 1
        t1 = t0 + DAY_MS
        if kind == "discrepancy":
            self.hand_over(ev, code, gen, STATION, mass, t1, accepted=mass * 8 // 10)
        elif kind == "refused":
            number = self.manifest()
            ev.append(Event(code, "custody.released", gen, t1,
                            {"to": STATION, "mass_g": mass, "manifest": number}))
            ev.append(Event(code, "custody.refused", STATION, t1 + HOUR_MS,
                            {"from": gen, "manifest": number, "reason": "标签与实物不符"}))
        elif kind == "stuck_in_transit":
            self.hand_over(ev, code, gen, TRANSPORTER, mass, t1)
        elif kind == "unanswered":
            ev.append(Event(code, "custody.released", gen, t1,
                            {"to": STATION, "mass_g": mass, "manifest": self.manifest()}))
        return Unit(ev, first_t=t0)  # never_collected: declared only

    def disposal(self, code: str, disposer: str, mass: int, t: int) -> Event:
        utilise = self.rng.random() < 0.4
        return Event(code, "custody.disposed", disposer, t, {
            "method": "utilisation" if utilise else "disposal",
            "method_code": "R4" if utilise else "D10", "permit": permit_number(disposer),
            "mass_g": mass})

    def drum(self, queue: list[tuple[list[Event], str, int, int]], waste: str) -> Unit:
        tc = max(e[-1].t_ms for e, _, _, _ in queue) + HOUR_MS
        drum_code, day = self.code(STATION, waste, tc)
        unit = Unit(first_t=queue[0][3])
        total = 0
        for ev, code, held, _ in queue:
            ev.append(Event(code, "custody.consolidated_out", STATION, tc,
                            {"into": drum_code, "mass_g": held}))
            unit.events += ev
            unit.drum_parents.append((code, held))
            total += held
        unit.events.append(Event(drum_code, "batch.consolidated", STATION, tc + 60_000,
                                 {**description(waste, total, day), "parents": None}))
        ship = tc + 3 * DAY_MS
        if self.rng.random() < 0.9 and ship + 11 * DAY_MS < YEAR_END:
            disposer = DISPOSERS[self.rng.randrange(3)]
            held = self.hand_over(unit.events, drum_code, STATION, disposer, total, ship)
            unit.events.append(self.disposal(drum_code, disposer, held, ship + 10 * DAY_MS))
        return unit


def registry_events() -> list[Event]:
    """The operator's genesis, then every party registered, keyed and permitted."""
    return [Event(org_stream(OPERATOR_ORG), "org.registered", OPERATOR_ORG, REGISTRY_T,
                  {"name": "平台运营方", "region": "330000", "roles": ["operator"]})]


def party_events(generators: Sequence[str]) -> list[Event]:
    parties = [(g, f"小微企业{g[-6:]}", COUNTIES[i % 3], ["generator"])
               for i, g in enumerate(generators)]
    parties += [(STATION, "台州中转站", "331002", ["collector"]),
                (TRANSPORTER, "危货运输公司", "331002", ["transporter"])]
    parties += [(d, f"处置中心{i + 1}", "331003", ["disposer"]) for i, d in enumerate(DISPOSERS)]
    out: list[Event] = []
    for org, name, region, roles in parties:
        stream = org_stream(org)
        out.append(Event(stream, "org.registered", OPERATOR_ORG, REGISTRY_T,
                         {"name": name, "region": region, "roles": roles}))
        out.append(Event(stream, "key.registered", OPERATOR_ORG, REGISTRY_T,
                         {"vkey": signer_for(org).verifier.vkey, "label": f"key-{org[-6:]}"}))
        acts = ["collect", "store"] if org == STATION else (
            ["store", "utilise", "dispose"] if org in DISPOSERS else None)
        if acts:
            out.append(Event(stream, "permit.granted", OPERATOR_ORG, REGISTRY_T, {
                "number": permit_number(org), "valid_from": f"{YEAR}-01-01",
                "valid_to": f"{YEAR + 2}-12-31", "codes": ["HW49", "HW08", "HW12"],
                "activities": acts, "capacity_t": 10_000_000}))
    return out


# --- signing (worker processes) ------------------------------------------------------------------

_SIGNERS: dict[str, Signer] = {}


def _signer(org: str) -> Signer:
    if org not in _SIGNERS:
        _SIGNERS[org] = signer_for(org)
    return _SIGNERS[org]


def sign_unit(events: Sequence[Event],
              drum_parents: Sequence[tuple[str, int]]) -> list[tuple[bytes, bytes, int]]:
    """(note, leaf hash, seq) of each event in order; chains each stream, links the drum."""
    heads: dict[str, tuple[int, bytes]] = {}
    handoffs: dict[str, bytes] = {}
    out = []
    for e in events:
        data = e.data
        if e.kind == "batch.consolidated":
            data = {**data, "parents": [parent_link(code, mass, handoffs[code])
                                        for code, mass in drum_parents]}
        signer = _signer(e.org)
        last = heads.get(e.stream)
        payload: dict[str, Any] = {"stream": e.stream, "seq": 0 if last is None else last[0] + 1,
                                   "org": e.org, "key": signer.verifier.fingerprint,
                                   "t": format_time(e.t_ms), "kind": e.kind, "data": data}
        if last is not None:
            payload["prev"] = prev_field(last[1])
        note = sign_note(entry_text(payload), signer)
        leaf = merkle.leaf_hash(note)
        heads[e.stream] = (payload["seq"], leaf)
        if e.kind == "custody.consolidated_out":
            handoffs[e.stream] = leaf
        out.append((note, leaf, payload["seq"]))
    return out


def _sign_task(unit: Unit) -> list[tuple[bytes, bytes, int]]:
    return sign_unit(unit.events, unit.drum_parents)


# --- projections, mirroring the custody handlers for these kinds ---------------------------


class Projections:
    """The rows the custody handlers would write for exactly the kinds the planner emits."""

    TOLERANCE_PERMILLE = 50

    def __init__(self) -> None:
        self.orgs: dict[str, dict[str, Any]] = {}
        self.keys: list[dict[str, Any]] = []
        self.permits: list[dict[str, Any]] = []
        self.batches: dict[str, dict[str, Any]] = {}
        self.handovers: list[dict[str, Any]] = []
        self.open_ho: dict[str, dict[str, Any]] = {}
        self.manifests: dict[str, dict[str, Any]] = {}
        self.lineage: dict[tuple[str, str], dict[str, Any]] = {}
        self.disposals: dict[str, dict[str, Any]] = {}
        self.operator_org: str | None = None

    def state_at(self, batch: dict[str, Any], receiver: str) -> str:
        roles = self.orgs[receiver]["roles"].split()
        if receiver == batch["generator"] and not batch["consolidated"]:
            return "declared"
        if "disposer" in roles or "receiver" in roles:
            return "received"
        if "collector" in roles:
            return "stored"
        return "in_transit"

    def apply(self, idx: int, e: Event, data: dict[str, Any]) -> None:
        k, d, t = e.kind, data, e.t_ms
        subject = e.stream[len(ORG_STREAM_PREFIX):]
        if k == "org.registered":
            uscc = subject
            self.orgs[uscc] = {"uscc": uscc, "name": d["name"], "region": d["region"],
                               "roles": " ".join(d["roles"]), "contact": None, "phone": None,
                               "registered_at": idx}
            if "operator" in d["roles"] and self.operator_org is None:
                self.operator_org = uscc
        elif k == "key.registered":
            v = _signer(subject).verifier
            self.keys.append({"fingerprint": v.fingerprint, "org": subject,
                              "name": v.name, "key_id": v.key_id, "public_key": v.public_key,
                              "label": d["label"], "registered_at": idx, "revoked_at": None})
        elif k == "permit.granted":
            self.permits.append({"id": len(self.permits) + 1, "org": subject,
                                 "number": d["number"], "valid_from": d["valid_from"],
                                 "valid_to": d["valid_to"], "codes": " ".join(d["codes"]),
                                 "activities": " ".join(d["activities"]),
                                 "capacity_t": d["capacity_t"], "granted_at": idx})
        elif k in ("batch.declared", "batch.consolidated"):
            holder = self.orgs[e.org]
            b = {"code": e.stream, "generator": e.org, "region": holder["region"],
                 "waste_code": d["waste_code"], "category": "HW" + d["waste_code"][-2:],
                 "hazardous": True, "name": d["name"], "declared_mass_g": d["mass_g"],
                 "mass_g": d["mass_g"], "holder": e.org, "state": "declared",
                 "generated_on": d["generated_on"], "declared_t_ms": t, "declared_at": idx,
                 "updated_at": idx, "consolidated": k == "batch.consolidated"}
            if b["consolidated"]:
                b["state"] = self.state_at(b, e.org)
                for link in d["parents"]:
                    self.lineage[(link["code"], e.stream)]["child_entry"] = idx
            self.batches[e.stream] = b
        elif k == "custody.released":
            b = self.batches[e.stream]
            ho = {"id": len(self.handovers) + 1, "batch": e.stream, "from_org": e.org,
                  "to_org": d["to"], "manifest": d["manifest"], "status": "awaiting_answer",
                  "released_mass_g": d["mass_g"], "accepted_mass_g": None,
                  "refused_mass_g": None, "refusal_reason": None, "discrepancy": False,
                  "permit_flagged": False, "released_at": idx, "answered_at": None,
                  "released_t_ms": t, "answered_t_ms": None}
            self.handovers.append(ho)
            self.open_ho[e.stream] = ho
            self.manifests[d["manifest"]] = {
                "number": d["manifest"], "origin": e.org, "destination": d["to"],
                "vehicle": None, "carrier": None, "opened_at": idx, "opened_t_ms": t,
                "closed_at": None}
            b["state"], b["updated_at"] = "pending", idx
        elif k in ("custody.accepted", "custody.refused"):
            b = self.batches[e.stream]
            ho = self.open_ho.pop(e.stream)
            ho["answered_at"], ho["answered_t_ms"] = idx, t
            if k == "custody.accepted":
                ho["accepted_mass_g"] = d["mass_g"]
                ho["status"] = "confirmed"
                released = ho["released_mass_g"]
                ho["discrepancy"] = (abs(d["mass_g"] - released) * 1000
                                     > released * self.TOLERANCE_PERMILLE)
                b["holder"], b["mass_g"] = ho["to_org"], d["mass_g"]
                b["state"] = self.state_at(b, ho["to_org"])
            else:
                ho["refusal_reason"] = d["reason"]
                ho["status"] = "refused"
                b["state"] = "refused"
            self.manifests[ho["manifest"]]["closed_at"] = idx
            b["updated_at"] = idx
        elif k == "custody.consolidated_out":
            b = self.batches[e.stream]
            self.lineage[(e.stream, d["into"])] = {
                "parent": e.stream, "child": d["into"], "mass_g": d["mass_g"],
                "parent_entry": idx, "child_entry": None}
            b["mass_g"] -= d["mass_g"]
            if b["mass_g"] == 0:
                b["state"] = "consolidated"
            b["updated_at"] = idx
        elif k == "custody.disposed":
            b = self.batches[e.stream]
            self.disposals[e.stream] = {
                "batch": e.stream, "disposer": e.org, "method": d["method"],
                "method_code": d["method_code"], "permit": d["permit"], "mass_g": d["mass_g"],
                "entry": idx, "t_ms": t}
            b["state"], b["updated_at"] = "disposed", idx
        else:
            raise ValueError(k)

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        return {"organisations": list(self.orgs.values()), "signing_keys": self.keys,
                "permits": self.permits, "batches": list(self.batches.values()),
                "handovers": self.handovers, "manifests": list(self.manifests.values()),
                "lineage": list(self.lineage.values()),
                "disposals": list(self.disposals.values())}


# --- building the cache --------------------------------------------------------------------------


def cache_dir(n: int) -> Path:
    return CACHE / f"n{n}-v{FORMAT}"


def generate(n: int, jobs: int) -> dict[str, Any]:
    """Sign the log and produce every row; write them under bench/.cache/n<N>-v<F>/."""
    out = cache_dir(n)
    if (out / "done.json").exists():
        return dict(json.loads((out / "done.json").read_text()))
    shutil.rmtree(out, ignore_errors=True)
    (out / "export" / bundle.OLD_CHECKPOINTS).mkdir(parents=True)
    started = time.monotonic()
    planner = Planner(n)
    proj = Projections()
    operator = signer_for(OPERATOR_ORG)
    leaves: list[bytes] = []
    frontier: list[bytes] = []
    nodes: list[tuple[int, int, bytes]] = []
    meta: list[tuple[Any, ...]] = []
    entries_fh = (out / "export" / bundle.ENTRIES).open("wb")
    meta_fh = (out / "entries.pkl").open("wb")

    def emit(unit_events: Sequence[Event], signed: Sequence[tuple[bytes, bytes, int]],
             links: Sequence[tuple[str, int]]) -> None:
        nonlocal frontier
        handoffs: dict[str, bytes] = {}
        for e, (note, leaf, seq) in zip(unit_events, signed, strict=True):
            idx = len(leaves)
            data = e.data
            if e.kind == "custody.consolidated_out":
                handoffs[e.stream] = leaf
            if e.kind == "batch.consolidated":
                data = {**data, "parents": [parent_link(c, m, handoffs[c]) for c, m in links]}
            proj.apply(idx, e, data)
            bundle.write_record(entries_fh, note)
            key = _signer(e.org).verifier.fingerprint
            meta.append((idx, leaf, e.stream, seq, e.kind, e.org, key, e.t_ms,
                         e.t_ms + RECEIVED_LAG_MS))
            leaves.append(leaf)
            frontier, completed = append_to_frontier(frontier, idx, leaf)
            nodes.extend(completed)
            if len(meta) >= 100_000:
                pickle.dump(meta, meta_fh, protocol=5)
                meta.clear()

    # the registry: one unit per party (the operator's own streams, signed here)
    genesis = registry_events()
    emit(genesis, sign_unit(genesis, []), [])
    parties = party_events(planner.generators)
    by_stream: dict[str, list[Event]] = {}
    for e in parties:
        by_stream.setdefault(e.stream, []).append(e)
    for events in by_stream.values():
        emit(events, sign_unit(events, []), [])
    log(f"n={n}: registry of {len(by_stream)} parties signed")
    units = planner.units()
    done_batches = 0
    last_report = time.monotonic()
    with mp.get_context("fork").Pool(jobs) as pool:
        # slices keep the planned units in memory bounded; the next slice is signed while
        # this process lays out the previous one
        current = list(itertools.islice(units, 4000))
        work = pool.map_async(_sign_task, current, chunksize=50)
        while current:
            signed_units = work.get()
            following = list(itertools.islice(units, 4000))
            if following:
                work = pool.map_async(_sign_task, following, chunksize=50)
            for unit, signed in zip(current, signed_units, strict=True):
                emit(unit.events, signed, unit.drum_parents)
                done_batches += sum(1 for e in unit.events if e.kind == "batch.declared")
            current = following
            if time.monotonic() - last_report > 15 or not current:
                last_report = time.monotonic()
                rate = len(leaves) / (last_report - started)
                log(f"n={n}: {done_batches}/{n} batches, {len(leaves)} entries signed "
                    f"({rate:,.0f} entries/s)")
    entries_fh.close()
    if meta:
        pickle.dump(meta, meta_fh, protocol=5)
    meta_fh.close()
    size = len(leaves)
    root = root_of_frontier(frontier)
    checkpoint_ms = YEAR_END + HOUR_MS
    checkpoint = sign_checkpoint(operator, size, root)
    (out / "export" / bundle.CHECKPOINT).write_bytes(checkpoint)
    (out / "export" / bundle.OPERATOR_VKEY).write_text(operator.verifier.vkey + "\n")
    rows = proj.tables()
    rows["merkle_nodes"] = [{"level": lv, "idx": i, "hash": h} for lv, i, h in nodes]
    rows["checkpoints"] = [{"size": size, "root": root, "note": checkpoint,
                            "issued_ms": checkpoint_ms}]
    rows["log_head"] = [{"id": 1, "size": size, "root": root, "frontier": b"".join(frontier),
                         "operator_vkey": operator.verifier.vkey,
                         "operator_org": proj.operator_org, "checkpoint_size": size,
                         "checkpoint_ms": checkpoint_ms}]
    with (out / "rows.pkl").open("wb") as fh:
        pickle.dump(rows, fh, protocol=5)
    info = {"batches": n, "originals": sum(1 for b in proj.batches.values()
                                           if not b["consolidated"]),
            "drums": sum(1 for b in proj.batches.values() if b["consolidated"]),
            "entries": size, "entries_per_batch": round(size / n, 2),
            "handovers": len(proj.handovers), "faults": planner.faults,
            "generators": len(planner.generators), "sign_s": round(time.monotonic() - started, 1)}
    (out / "done.json").write_text(json.dumps(info))
    log(f"n={n}: {size} entries signed and laid out in {info['sign_s']} s")
    return info


# --- loading a database ------------------------------------------------------------------------


LOAD_ORDER = ("log_entries", "organisations", "signing_keys", "permits", "batches", "handovers",
              "manifests", "lineage", "disposals", "merkle_nodes", "checkpoints", "log_head")


def pg_schema(n: int) -> str:
    """The data set's PostgreSQL schema, named for the checkout whose cache it belongs with:
    two checkouts measuring at once on one server must not load into each other's schema."""
    checkout = re.sub(r"[^a-z0-9]+", "_", ROOT.name.lower())
    return f"bench_reconcile_n{n}_v{FORMAT}_{checkout}"


def engine_for(kind: str, n: int) -> Engine:
    if kind == "sqlite":
        engine = create_engine(f"sqlite:///{cache_dir(n) / 'ledger.sqlite'}")
    else:
        engine = create_engine(PG_URL, connect_args={
            "options": f"-csearch_path={pg_schema(n)}"})
    configure_engine(engine)
    return engine


def loaded(kind: str, n: int) -> bool:
    marker = cache_dir(n) / f"loaded-{kind}"
    return marker.exists()


def entry_rows(n: int) -> Iterator[tuple[Any, ...]]:
    """log_entries rows: the kept metadata joined with the notes from the export."""
    with (cache_dir(n) / "entries.pkl").open("rb") as meta_fh, \
            (cache_dir(n) / "export" / bundle.ENTRIES).open("rb") as notes_fh:
        notes = bundle.read_records(notes_fh)
        while True:
            try:
                chunk = pickle.load(meta_fh)
            except EOFError:
                return
            for m in chunk:
                yield (*m, next(notes))


def load(kind: str, n: int) -> float:
    """Create the schema and load every row; then the summary, set-based. Seconds taken."""
    started = time.monotonic()
    if kind == "postgresql":
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {pg_schema(n)} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {pg_schema(n)}"))
        admin.dispose()
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(str(cache_dir(n) / "ledger.sqlite") + suffix).unlink(missing_ok=True)
    engine = engine_for(kind, n)
    migrations.upgrade(engine)
    load_rows(engine, n)
    with engine.connect() as conn:
        if kind == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    engine.dispose()
    seconds = time.monotonic() - started
    (cache_dir(n) / f"loaded-{kind}").write_text(json.dumps({"load_s": round(seconds, 1)}))
    return seconds


def load_rows(engine: Engine, n: int) -> None:
    """Load the generated rows of size ``n`` into the (empty) tables of ``engine``, then
    compute the reconciliation summary set-based (also what tests/bench runs at small n)."""
    kind = engine.dialect.name
    started = time.monotonic()
    with (cache_dir(n) / "rows.pkl").open("rb") as fh:
        rows = pickle.load(fh)
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        assert dbapi is not None
        if kind == "sqlite":
            assert isinstance(dbapi, sqlite3.Connection)
            dbapi.execute("PRAGMA synchronous=OFF")  # a benchmark cache, rebuilt if lost
            dbapi.execute("BEGIN")
        for name in LOAD_ORDER:
            table = Base.metadata.tables[name]
            cols = [c.name for c in table.columns]
            if name == "log_entries":
                source: Iterator[tuple[Any, ...]] = entry_rows(n)
            else:
                # a column added to the model since the rows were made is NULL (nullable ones
                # only: a NOT NULL column left out fails the load loudly)
                source = (tuple(r.get(c) for c in cols) for r in rows[name])
            count = _copy(kind, dbapi, name, cols, source)
            log(f"{kind} n={n}: {name} {count} rows ({time.monotonic() - started:.0f} s)")
        if kind == "postgresql":
            for name in ("handovers", "permits"):
                dbapi.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                              f"(SELECT max(id) FROM {name}))")
        dbapi.commit()
    finally:
        raw.close()
    with Session(engine) as session:
        log(f"{kind} n={n}: computing the reconciliation summary (set-based)")
        count = rebuild_balances(session)
        session.commit()
        log(f"{kind} n={n}: {count} summary rows ({time.monotonic() - started:.0f} s)")
    fill_intervals(engine, n)


def fill_intervals(engine: Engine, n: int) -> float:
    """The custody-interval summary the gap scan reads, set-based (as the app fills it on a
    database that predates it): for a cache loaded before it existed, too. Seconds taken."""
    kind = engine.dialect.name
    started = time.monotonic()
    with Session(engine) as session:
        log(f"{kind} n={n}: computing the custody-interval summary (set-based)")
        count = rebuild_intervals(session)
        session.commit()
    with engine.connect() as conn:
        if kind == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE custody_intervals, balance_months")
        else:
            conn.exec_driver_sql("ANALYZE custody_intervals")
            conn.exec_driver_sql("ANALYZE balance_months")
            conn.commit()
    seconds = time.monotonic() - started
    log(f"{kind} n={n}: {count} custody-interval rows ({seconds:.0f} s)")
    return seconds


def _copy(kind: str, dbapi: Any, name: str, cols: Sequence[str],
          source: Iterator[tuple[Any, ...]]) -> int:
    count = 0
    if kind == "postgresql":
        with dbapi.cursor() as cur, cur.copy(
                f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in source:
                copy.write_row(row)
                count += 1
        return count
    sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    chunk: list[tuple[Any, ...]] = []
    for row in source:
        chunk.append(row)
        if len(chunk) == 20_000:
            dbapi.executemany(sql, chunk)
            count += len(chunk)
            chunk.clear()
    dbapi.executemany(sql, chunk)
    return count + len(chunk)


# --- checks: the bulk path against the real rules ----------------------------------------------


def _rebuild_progress(done: int, total: int) -> None:
    if done % 50_000 == 0 or done == total:
        log(f"rebuild --check {done}/{total}")


def check(kind: str, n: int, replay: bool) -> dict[str, Any]:
    """``waste-ledger verify`` on an export taken from the database, and (``replay``)
    rebuild --check: every entry replayed through the rules and handlers."""
    from ledger.tlog.rebuild import rebuild

    engine = engine_for(kind, n)
    config = LogConfig(operator=signer_for(OPERATOR_ORG),
                       kinds=ledger_kinds(CustodySettings()), clock=lambda: SCAN_NOW)
    out: dict[str, Any] = {}
    with Session(engine) as session:
        if replay:
            started = time.monotonic()
            report = rebuild(session, config, commit=False, progress=_rebuild_progress)
            out["rebuild_check_identical"] = report.identical
            out["rebuild_check_entries"] = report.entries
            out["rebuild_check_s"] = round(time.monotonic() - started, 1)
            if not report.identical:
                out["rebuild_differences"] = {
                    table: {side: [repr(r) for r in rows[:3]] for side, rows in diff.items()}
                    for table, diff in report.differences.items()}
        export = cache_dir(n) / f"export-from-{kind}"
        shutil.rmtree(export, ignore_errors=True)
        started = time.monotonic()
        result = export_log(session, config, str(export))
        out["export_entries"] = result.entries
    verify = subprocess.run([str(ROOT / ".venv" / "bin" / "waste-ledger"), "verify",
                             str(export)], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "WASTE_LEDGER_DATABASE_URL":
                                 f"sqlite:///{cache_dir(n) / 'verify-cli.sqlite'}"})
    out["waste_ledger_verify_exit"] = verify.returncode
    out["waste_ledger_verify_output"] = (verify.stdout.strip().splitlines() or [""])[-1][:200]
    out["export_and_verify_s"] = round(time.monotonic() - started, 1)
    engine.dispose()
    return out


# --- measuring -----------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, float, Any]:
    """(median, best) seconds over ``rounds`` runs, and the last result."""
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times), result


def peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    finally:
        tracemalloc.stop()


def _previous_source(f: ReportFilters, principal: Any) -> Any:
    """The report's rows as before balance_months: one per original from batch_balances."""
    bb = BatchBalance
    return select(*(getattr(bb, k) for k in ("generator", "region", "waste_code", "category",
                                              "month")),
                  *(getattr(bb, name) for name in SUMMED),
                  literal_column("1", BigInteger).label("batches")).where(
        *reconcile_module._balance_population(f, principal)).subquery("source")


def refresh_costs(session: Session, sample: int = 200) -> dict[str, float]:
    """What the append transaction pays for the summaries, in ms per batch entry: each
    refresh run alone for ``sample`` originals and ``sample // 10`` drums (rolled back)."""
    out: dict[str, float] = {}
    for label, consolidated, count in (("original", False, sample),
                                       ("drum", True, sample // 10)):
        codes = list(session.scalars(select(Batch.code).where(
            Batch.consolidated.is_(consolidated)).order_by(Batch.code).limit(count)))
        for name, refresh in (("balances", refresh_balances), ("intervals", refresh_intervals)):
            started = time.perf_counter()
            for code in codes:
                refresh(session, [code])
            out[f"{name}_{label}"] = round((time.perf_counter() - started) * 1000
                                           / max(len(codes), 1), 2)
            session.rollback()
    return out


def measure(kind: str, n: int, rounds: int, cte: bool, cold: bool = True) -> dict[str, Any]:
    engine = engine_for(kind, n)
    out: dict[str, Any] = {"db": kind, "batches": n}
    migrations.upgrade(engine)  # a cache loaded by an older version: its schema brought up
    with Session(engine) as s:
        empty = s.scalar(select(CustodyInterval.kind).limit(1)) is None
        if s.scalar(select(BalanceMonth.month).limit(1)) is None:
            started = time.monotonic()
            log(f"{kind} n={n}: computing the monthly totals (set-based)")
            rows = rebuild_months(s)
            s.commit()
            out["balance_months_fill_s"] = round(time.monotonic() - started, 1)
            log(f"{kind} n={n}: {rows} monthly rows ({out['balance_months_fill_s']} s)")
    if empty:
        out["interval_summary_fill_s"] = round(fill_intervals(engine, n), 1)
    session = sessionmaker(engine)()
    year = {"region": "331000", "period_from": dt.date(YEAR, 1, 1),
            "period_to": dt.date(YEAR, 12, 31)}
    lo, hi = region_bounds("331000")
    raw_sql = (select(Batch.waste_code, func.sum(Batch.declared_mass_g))
               .where(Batch.consolidated.is_(False), Batch.region >= lo, Batch.region <= hi,
                      Batch.declared_t_ms >= YEAR_START, Batch.declared_t_ms < YEAR_END)
               .group_by(Batch.waste_code))

    def report() -> Any:
        rep = reconcile(session, **year)  # type: ignore[arg-type]
        session.rollback()
        return rep

    def raw() -> Any:
        rows = session.execute(raw_sql).all()
        session.rollback()
        return rows

    steps: dict[str, float] = {}

    def step(name: str) -> None:
        steps[name] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    step("start")
    report()  # warm-up: caches, plans, the catalogue
    raw()
    out["reconcile_year_s"], out["reconcile_year_best_s"], rep = timed(report, rounds)
    out["raw_aggregate_s"], out["raw_aggregate_best_s"], raw_rows = timed(raw, rounds)
    out["reconcile_vs_raw"] = round(out["reconcile_year_s"] / out["raw_aggregate_s"], 2)
    # the previous computation, same data and process: every original read from
    # batch_balances (before balance_months)
    monthly = reconcile_module._report_source
    reconcile_module._report_source = _previous_source
    try:
        out["reconcile_year_previous_s"], _, previous = timed(report, rounds)
    finally:
        reconcile_module._report_source = monthly
    assert previous.totals == rep.totals and previous.by_generator == rep.by_generator
    step("reports")
    out["report_batches"] = rep.totals.batches
    out["report_declared_g"] = rep.totals.declared
    assert rep.totals.declared == sum(int(r[1]) for r in raw_rows)
    out["report_rows"] = {name: len(rep.breakdown(name)) for name in
                          ("by_generator", "by_waste_code", "by_category", "by_month")}
    if cte:
        started = time.perf_counter()
        ref = reference_figures(session, ReportFilters.checked(**year))  # type: ignore[arg-type]
        out["reference_cte_s"] = round(time.perf_counter() - started, 3)
        out["reference_matches_summary"] = ref == rep.totals
        session.rollback()
        step("reference_cte")
    settings = GapSettings()
    query = GapQuery(now_ms=SCAN_NOW)

    def scan() -> list[Any]:
        found = find_gaps(session, query, settings)
        session.rollback()
        return found

    if cold:
        session.execute(text("UPDATE integrity_watermark SET verified_size = 0, frontier = :f"),
                        {"f": b""})
        session.commit()
    started = time.perf_counter()
    found = scan()  # with the watermark current (not cold), only a warm-up
    out["gap_scan_cold_s" if cold else "gap_scan_first_s"] = round(
        time.perf_counter() - started, 3)
    step("gap_scan_cold")
    out["gap_scan_s"], out["gap_scan_best_s"], found = timed(scan, rounds)
    out["gap_scan_vs_raw"] = round(out["gap_scan_s"] / out["raw_aggregate_s"], 2)
    out["loadavg_gap_scan"] = os.getloadavg()

    def previous_scan() -> list[Any]:
        found = reference_gaps(session, query, settings)
        session.rollback()
        return found

    # the previous computation (the time-based types over the whole projections), kept as the
    # tests' reference: same data, same process, same findings
    out["gap_scan_previous_s"], _, before = timed(previous_scan, rounds)
    out["gap_scan_previous_vs_raw"] = round(out["gap_scan_previous_s"] / out["raw_aggregate_s"],
                                            2)
    assert before == found, "the summary's scan and the previous one disagree"
    counts: dict[str, int] = {}
    for g in found:
        counts[g.type] = counts.get(g.type, 0) + 1
    out["gaps_found"] = dict(sorted(counts.items()))
    by_type = {}
    for gap_type in GAP_TYPES:
        q = GapQuery(now_ms=SCAN_NOW, types=frozenset({gap_type}))
        started = time.perf_counter()
        find_gaps(session, q, settings)
        session.rollback()
        by_type[gap_type] = round(time.perf_counter() - started, 3)
    out["gap_scan_by_type_s"] = by_type
    # the plan and declaration types as they were before they became set-based (one round of
    # queries per generator), each alone: same data, same process, same findings
    by_type_previous = {}
    for gap_type, finder in (("plan_missing", previous_plans_missing),
                             ("report_missing", previous_reports_missing)):
        q = GapQuery(now_ms=SCAN_NOW, types=frozenset({gap_type}))
        started = time.perf_counter()
        previous_found = list(finder(session, q, settings))
        session.rollback()
        by_type_previous[gap_type] = round(time.perf_counter() - started, 3)
        assert sorted(g.id for g in previous_found) == sorted(
            g.id for g in found if g.type == gap_type)
    out["gap_scan_by_type_previous_s"] = by_type_previous
    out["loadavg_after_scans"] = os.getloadavg()
    step("gap_scans")
    out["refresh_ms"] = refresh_costs(session)
    out["peak_python_mb_reconcile"] = peak_mb(report)
    out["peak_python_mb_gap_scan"] = peak_mb(scan)
    step("tracemalloc_runs")
    out["maxrss_mb_after_step"] = steps
    out["maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    for key in ("reconcile_year_s", "reconcile_year_best_s", "raw_aggregate_s",
                "raw_aggregate_best_s", "gap_scan_s", "gap_scan_best_s",
                "reconcile_year_previous_s", "gap_scan_previous_s"):
        out[key] = round(out[key], 3)
    session.close()
    engine.dispose()
    return out


# --- driver ----------------------------------------------------------------------------------


def child(args: list[str]) -> dict[str, Any]:
    """Run one phase in a fresh interpreter (so its peak memory is its own)."""
    proc = subprocess.run([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"phase {args} failed ({proc.returncode})")
    return dict(json.loads(proc.stdout))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10k,100k",
                        help=f"comma-separated among {', '.join(SIZES)} or plain numbers")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="2,000 batches, one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--check", action="store_true",
                        help="rebuild --check and waste-ledger verify after loading")
    parser.add_argument("--verify", action="store_true",
                        help="waste-ledger verify on an export after loading")
    parser.add_argument("--no-cte", action="store_true",
                        help="skip the reference CTE timing (slow at 1M)")
    parser.add_argument("--no-cold", action="store_true",
                        help="skip the first scan with the integrity watermark at 0")
    parser.add_argument("--phase", choices=["load", "measure", "check", "verify"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [2_000] if args.quick else [SIZES.get(s.lower()) or int(s)
                                        for s in args.sizes.split(",")]
    kinds = [k.strip() for k in args.db.split(",")]
    rounds = 1 if args.quick else args.rounds
    if args.phase:
        (n,), (kind,) = sizes, kinds
        if args.phase == "load":
            result: dict[str, Any] = {"load_s": round(load(kind, n), 1)}
        elif args.phase in ("check", "verify"):
            result = check(kind, n, replay=args.phase == "check")
        else:
            result = measure(kind, n, rounds, cte=not args.no_cte, cold=not args.no_cold)
        print(json.dumps(result))
        return 0
    results: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "loadavg_start": os.getloadavg()},
        "date": dt.date.today().isoformat(), "runs": []}
    for n in sizes:
        info = generate(n, args.jobs)
        for kind in kinds:
            run: dict[str, Any] = {"data": info}
            if not loaded(kind, n):
                log(f"loading {kind} n={n}")
                run.update(child(["--sizes", str(n), "--db", kind, "--phase", "load"]))
            else:
                run["load_s"] = json.loads((cache_dir(n) / f"loaded-{kind}").read_text())[
                    "load_s"]
            if args.check or args.quick or args.verify:
                which = "check" if args.check or args.quick else "verify"
                log(f"checking {kind} n={n}: {which}")
                run["check"] = child(["--sizes", str(n), "--db", kind, "--phase", which])
            log(f"measuring {kind} n={n}")
            phase = ["--sizes", str(n), "--db", kind, "--phase", "measure",
                     "--rounds", str(rounds)]
            run.update(child(phase + (["--no-cte"] if args.no_cte else [])
                             + (["--no-cold"] if args.no_cold else [])))
            run["loadavg_after"] = os.getloadavg()
            log(json.dumps(run, ensure_ascii=False))
            results["runs"].append(run)
    results["machine"]["loadavg_end"] = os.getloadavg()
    print(json.dumps(results, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

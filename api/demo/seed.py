"""Demo data: a district's small enterprises, collectors, a transfer station, disposers and a
regulator, with a few months of history. Every entry is signed by its own party's key through
the Python client, exactly as devices do (in-process, no sockets).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import select

from api.demo import plans
from api.extensions import db
from api.runtime import log_config
from ledger.clock import BEIJING
from ledger.custody import access
from ledger.custody.catalogue import load_catalogue
from ledger.custody.pickups import request_pickup
from ledger.custody.projections import Batch, StorageStay
from ledger.custody.uscc import make_uscc
from ledger.tlog import registry
from ledger.tlog.client import Client, Transport
from ledger.tlog.entries import format_time
from ledger.tlog.notes import Signer
from ledger.tlog.rules import org_stream

DISTRICT = "331002"  # 台州市椒江区
REGULATOR_SERIAL = 9001
WASTES = [  # code, name, form, container, typical monthly grams (small enterprises)
    ("900-039-49", "废活性炭", "solid", "吨袋", 60_000),
    ("321-026-48", "铝灰渣", "solid", "铁桶", 150_000),
    ("900-249-08", "废矿物油", "liquid", "200L 铁桶", 40_000),
    ("900-041-49", "沾染危险废物的包装物", "solid", "编织袋", 20_000),
    ("900-252-12", "喷漆废物（漆渣）", "semi_solid", "铁桶", 30_000),
]
PLACES = ["葭沚", "洪家", "三甲", "下陈", "前所", "章安", "海门", "白云", "东山", "枫南"]
TRADES = ["五金厂", "机械配件厂", "汽摩配厂", "塑料制品厂", "家具厂", "阀门厂", "模具厂",
          "电镀加工厂", "喷涂厂", "铝制品厂"]


def in_process(app: Flask) -> Transport:
    """A transport that calls the app directly, as the HTTP path would, without a socket."""
    test_client = app.test_client()

    def send(method: str, path: str, body: bytes | None,
             headers: dict[str, str]) -> tuple[int, bytes]:
        resp = test_client.open(path, method=method, data=body, headers=headers)
        return resp.status_code, resp.get_data()

    return send


def join(app: Flask, org: str, name: str, region: str, roles: list[str],
         permit_activities: list[str] | None = None, contact: str | None = None,
         phone: str | None = None, vehicles: tuple[str, ...] = ()) -> Client:
    """Register an organisation, one device key, a permit if given, and an API token, as the
    operator does on enrolment; return a client acting for it."""
    with app.app_context():
        cfg = log_config()
        registry.register_org(db.session, cfg, org, name, region, roles, contact, phone)
        key = Signer.generate(f"dev-{org[-6:]}")
        registry.register_key(db.session, cfg, org, key.verifier, "手机")
        if permit_activities:
            registry.grant_permit(db.session, cfg, org, f"浙危废经第{org[-4:]}号",
                                  "2024-01-01", "2030-12-31",
                                  ["HW49", "HW08", "HW12", "HW48"], permit_activities, 5000)
        for plate in vehicles:
            registry.register_vehicle(db.session, cfg, org, plate, f"浙交运管许可台字{org[-6:]}号")
        token = access.issue_token(db.session, org, "demo")
    return Client(in_process(app), org, key, token)


def description(waste: tuple[str, str, str, str, int], mass_g: int,
                day: dt.date) -> dict[str, Any]:
    code, name, form, container, _ = waste
    return {
        "waste_code": code, "name": name, "form": form,
        "hazards": list(load_catalogue().get(code).hazards),
        "container": {"type": container, "count": 1}, "mass_g": mass_g,
        "generated_on": day.isoformat(), "location": "危废暂存间",
    }


@dataclass
class Demo:
    app: Flask
    rng: random.Random
    clients: dict[str, Client] = field(default_factory=dict)
    manifests: int = 0
    batches: int = 0
    #: organisations that keep a 台账 (HJ 1259): their storage facility and the person who
    #: signs their entries (经办人, data.handled_by)
    storage: dict[str, tuple[str, str]] = field(default_factory=dict)

    def manifest(self, year: int) -> str:
        self.manifests += 1
        return f"{year}3310{self.manifests:06d}"

    def at(self, org: str, when: dt.datetime) -> Client:
        client = self.clients[org]
        client.clock = format_time(int(when.timestamp()) * 1000)
        return client

    def signed(self, org: str, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with the 经办人 of ``org`` when it keeps a 台账 in the demo."""
        kept = self.storage.get(org)
        return {**data, "handled_by": kept[1]} if kept else data

    def store(self, org: str, code: str, mass_g: int, when: dt.datetime,
              out: bool = False) -> None:
        """入库 (or 出库) of ``code`` in the organisation's storage facility, if it has one."""
        if org in self.storage:
            self.at(org, when).act("storage.out" if out else "storage.in", code, self.signed(
                org, {"facility": self.storage[org][0], "mass_g": mass_g}))

    def keeps_ledger(self, org: str, facility: str, name: str, capacity_kg: int,
                     person: str) -> None:
        """``org`` registers its storage facility (贮存设施), signed by ``person``. Signed
        now, after its enrolment on the same stream (the back-dated history only needs the
        facility to be registered before its first 入库 in the log)."""
        self.storage[org] = (facility, person)
        client = self.clients[org]
        client.clock = None
        client.act("facility.registered", org_stream(org), self.signed(org, {
            "code": facility, "name": name, "type": "贮存库", "capacity_kg": capacity_kg}))


def seed_demo(app: Flask, *, enterprises: int = 30, months: int = 4, seed: int = 2026,
              progress: Callable[[str], None] = lambda _: None) -> dict[str, int]:
    """Create the demo region; returns counts."""
    demo = Demo(app, random.Random(seed))
    gens, collectors, station, disposers = _enrol(demo, enterprises)
    progress(f"enrolled {len(demo.clients)} organisations")
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - dt.timedelta(days=30 * months)
    # The demo enterprise (log-in `generator`) and the transfer station keep their 台账 in
    # full: a registered storage facility, 入库/出库 of what they hold, a named 经办人.
    demo.keeps_ledger(gens[0], GENERATOR_FACILITY, "危废暂存间", 5_000, GENERATOR_PERSON)
    demo.keeps_ledger(station, STATION_FACILITY, "中转站危废仓库", 200_000, STATION_PERSON)
    stored: dict[str, list[tuple[str, int]]] = {}
    for m in range(months):
        month0 = start + dt.timedelta(days=30 * m)
        declared = _declare_month(demo, gens, month0)
        _collect_round(demo, declared, collectors, month0 + dt.timedelta(days=20), stored,
                       last=(m == months - 1))
        if m < months - 1:
            _station_round(demo, stored, collectors, station, disposers,
                           month0 + dt.timedelta(days=25))
        progress(f"month {m + 1}/{months}: {demo.batches} batches")
    _special_wastes(demo, gens, today - dt.timedelta(days=3))
    _drums_declared_together(demo, gens[0], today - dt.timedelta(days=2))
    _plans_and_declarations(demo, gens, collectors[0], start)
    progress("plans filed, declarations made")
    _carried_trip(demo, gens[0], disposers[0], today - dt.timedelta(days=2))
    _ready_for_pickup(demo, gens[0], today - dt.timedelta(days=1))
    _demo_people(app, gens[0], collectors[0], station, disposers[0], regulator_of(demo))
    progress(f"demo log-ins: {', '.join(u for u, _, _ in DEMO_USERS)} (password {DEMO_PASSWORD})")
    return {"organisations": len(demo.clients), "batches": demo.batches,
            "manifests": demo.manifests}


GENERATOR_FACILITY, GENERATOR_PERSON = "TS001", "王建华"
STATION_FACILITY, STATION_PERSON = "ZZ-01", "陈晓东"


def _ready_for_pickup(demo: Demo, org: str, day: dt.datetime) -> None:
    """What the demo enterprise still holds in storage is taken out (出库) and put at the door
    of the storage room for the collector the demo pickup asks (see ``_demo_pickup``)."""
    with demo.app.app_context():
        stays = db.session.scalars(select(StorageStay).where(
            StorageStay.org == org, StorageStay.out_at.is_(None))).all()
        waiting = [(s.batch, s.in_mass_g) for s in stays]
    for n, (code, mass) in enumerate(waiting):
        demo.store(org, code, mass, day + dt.timedelta(minutes=n), out=True)


def N_(text: str) -> str:
    """Marks a string for translation where it is defined; translated where it is shown."""
    return text


# Log-ins for trying the pages: username, what it is (shown on the log-in page), role slot.
DEMO_PASSWORD = "demo-2026"
DEMO_USERS = [
    ("generator", N_("产废单位（小微企业）"), "generator"),
    ("driver", N_("收集单位司机"), "collector"),
    ("carrier", N_("危险货物运输公司（只承运）"), "carrier"),
    ("station", N_("集中收集中转站"), "station"),
    ("disposer", N_("利用处置单位"), "disposer"),
    ("regulator", N_("生态环境主管部门"), "regulator"),
    ("operator", N_("平台运营方（管理员）"), "operator"),
]


def regulator_of(demo: Demo) -> str:
    return make_uscc(DISTRICT, REGULATOR_SERIAL)


def _demo_people(app: Flask, generator: str, collector: str, station: str, disposer: str,
                 regulator: str) -> None:
    orgs = {"generator": generator, "collector": collector, "station": station,
            "disposer": disposer, "regulator": regulator, "operator": app.config["OPERATOR_ORG"],
            "carrier": make_uscc(DISTRICT, CARRIER_SERIAL)}  # the carried trip's (below)
    with app.app_context():
        for username, what, slot in DEMO_USERS:
            # each demo person is the only person of their unit, so its admin (单位管理员)
            access.add_user(db.session, username, DEMO_PASSWORD, orgs[slot], what, is_admin=True)
        _demo_pickup(generator, collector)


def _demo_pickup(generator: str, collector: str) -> None:
    """The demo generator has asked the demo collector to fetch what it still holds, so the
    driver's round has work on it."""


    waiting = list(db.session.scalars(select(Batch.code).where(
        Batch.holder == generator, Batch.state == "declared")))
    if waiting:
        request_pickup(db.session, access.principal_for(db.session, generator, "generator"),
                       collector, waiting, note="放在危废暂存间门口",
                       address="台州市椒江区海门街道东海大道 1 号（演示地址）")


def demo_logins(app: Flask) -> list[tuple[str, str]]:
    """The demo log-ins present in this database (none outside a demo)."""

    names = [u for u, _, _ in DEMO_USERS]
    rows = db.session.execute(select(access.User.username, access.User.display_name)
                              .where(access.User.username.in_(names))).all()
    order = {u: i for i, u in enumerate(names)}
    return sorted(rows, key=lambda r: order[r[0]])


def _enrol(demo: Demo, enterprises: int) -> tuple[list[str], list[str], str, list[str]]:
    app, rng = demo.app, demo.rng
    gens = []
    for i in range(enterprises):
        org = make_uscc(DISTRICT, 1000 + i)
        name = f"台州市椒江{rng.choice(PLACES)}{rng.choice(TRADES)}"
        demo.clients[org] = join(app, org, f"{name}（{i + 1}号）", DISTRICT, ["generator"],
                                 contact=rng.choice(["王", "李", "陈", "林", "张"]) + "师傅",
                                 phone=f"1385760{i:04d}")
        gens.append(org)
    collectors = [make_uscc(DISTRICT, 2001), make_uscc(DISTRICT, 2002)]
    demo.clients[collectors[0]] = join(app, collectors[0], "台州市绿源危废收集有限公司",
                                       DISTRICT, ["collector"], ["collect", "store"],
                                       vehicles=("浙J·D0001", "浙J·D0002"))
    demo.clients[collectors[1]] = join(app, collectors[1], "椒江区清源环保科技有限公司",
                                       DISTRICT, ["collector"], ["collect", "store"],
                                       vehicles=("浙J·D1001",))
    station = make_uscc(DISTRICT, 2003)
    demo.clients[station] = join(app, station, "椒江区小微危废集中收集中转站", DISTRICT,
                                 ["collector"], ["collect", "store"])
    disposers = [make_uscc("331003", 3001), make_uscc("331004", 3002)]
    demo.clients[disposers[0]] = join(app, disposers[0], "台州市德长环保有限公司", "331003",
                                      ["disposer"], ["store", "utilise", "dispose"])
    demo.clients[disposers[1]] = join(app, disposers[1], "台州市路桥区再生资源利用有限公司",
                                      "331004", ["disposer"], ["store", "utilise", "dispose"])
    regulator = make_uscc(DISTRICT, REGULATOR_SERIAL)
    demo.clients[regulator] = join(app, regulator, "台州市生态环境局椒江分局", DISTRICT,
                                   ["regulator"])
    return gens, collectors, station, disposers


#: 清单 (2021) item 22: 铝灰渣 utilised by recovering aluminium is not managed as hazardous waste.
DROSS_EXEMPTION = {"edition": "2021", "item": 22, "row": 1, "stage": "利用",
                   "condition": "回收金属铝。"}


def _special_wastes(demo: Demo, gens: list[str], day: dt.datetime) -> None:
    """Two of the region's special cases: aluminium dross taken by a smelter that recovers the
    metal under the exemption list (it holds no hazardous waste permit), and a waste found
    hazardous by identification with no listed code (900-000-49, with its report)."""
    smelter = make_uscc("331003", 3003)
    demo.clients[smelter] = join(demo.app, smelter, "台州市黄岩再生铝业有限公司", "331003",
                                 ["receiver"])
    dross_maker, identified_maker = gens[1 % len(gens)], gens[2 % len(gens)]
    dross = f"{dross_maker}32102648{day:%Y%m%d}901"
    demo.at(dross_maker, day).declare(dross, description(WASTES[1], 480_000, day.date()))
    number = demo.manifest(day.year)
    demo.at(dross_maker, day + dt.timedelta(hours=1)).act("custody.released", dross, {
        "to": smelter, "mass_g": 480_000, "manifest": number, "exemption": DROSS_EXEMPTION})
    demo.at(smelter, day + dt.timedelta(hours=4)).accept(dross, dross_maker, 478_000, number)
    demo.at(smelter, day + dt.timedelta(days=1)).act("custody.disposed", dross, {
        "method": "utilisation", "method_code": "R4", "mass_g": 478_000,
        "exemption": DROSS_EXEMPTION})
    identified = f"{identified_maker}90000049{day:%Y%m%d}901"
    demo.at(identified_maker, day).declare(identified, {
        "waste_code": "900-000-49", "name": "鉴别认定的废滤渣", "form": "solid",
        "hazards": ["T"], "container": {"type": "吨袋", "count": 1}, "mass_g": 65_000,
        "generated_on": day.date().isoformat(), "location": "危废暂存间",
        "identification": {"report": "台环鉴字〔2026〕第 7 号", "no_listed_code": True}})
    demo.batches += 2


def _drums_declared_together(demo: Demo, org: str, day: dt.datetime, count: int = 3) -> None:
    """One item, one code (一物一码): three 200 L drums of waste oil declared at once are three
    batches, each with its own code and label, sharing a lot reference (the first code)."""
    waste = WASTES[2]
    codes = [f"{org}{waste[0].replace('-', '')}{day:%Y%m%d}{900 + n:03d}"
             for n in range(1, count + 1)]
    for n, code in enumerate(codes, 1):
        data = description(waste, 150_000 + 2_000 * n, day.date())
        data["container"]["volume_l"] = 200
        data["lot"] = {"ref": codes[0], "no": n, "of": count}
        demo.at(org, day + dt.timedelta(minutes=n)).declare(code, demo.signed(org, data))
    demo.batches += count


def _plans_and_declarations(demo: Demo, gens: list[str], collector: str,
                            start: dt.datetime) -> None:
    """Every enterprise files this year's plan (管理计划); every third plans more than 10 t
    (简化管理, quarterly) and declares the last quarter that ended from the pre-filled figures,
    on time, one with own utilisation explained, one late, one wrong (申报与台账不符). The
    demo's own log-in (the first) has its declaration still to make. docs/plans.md."""
    today = dt.datetime.now(BEIJING).date()
    permit = f"浙危废经第{collector[-4:]}号"
    quarter = plans.last_ended_quarter(today)
    on_time = plans.on_day(min(quarter.end + dt.timedelta(days=8), today))
    quarterly = 0
    for i, org in enumerate(gens):
        code, name = WASTES[i % len(WASTES)][:2]
        grams = WASTES[i % len(WASTES)][4] * 12 if i % 3 else 12_000_000
        plans.file_plan(demo.at(org, max(start, plans.on_day(dt.date(today.year, 1, 5)))),
                        today.year, plans.plan_data(today.year, [(code, name, grams)],
                                                    collector, permit))
        if i % 3 or i == 0:
            continue
        quarterly += 1
        late = quarterly == 2
        when = plans.on_day(today) if late else on_time
        plans.declare(demo.at(org, when), quarter, own_share=0.1 if quarterly == 1 else 0.0,
                      inflate=0.3 if quarterly == 3 else 0.0)
CARRIER_SERIAL = 2004
CARRIER_PLATE = "浙J·Y6001"


def _carried_trip(demo: Demo, enterprise: str, disposer: str, day: dt.datetime) -> None:
    """One manifest, two codes, three parties: the enterprise sends two batches straight to the
    disposer, a transport company that only carries signs its leg (departure with vehicle and
    driver, arrival); the disposer accepts one and refuses 15 kg of the other, which the
    enterprise takes back as a batch of its own (batch.refused_part), to be collected again."""
    carrier = make_uscc(DISTRICT, CARRIER_SERIAL)
    demo.clients[carrier] = join(demo.app, carrier, "台州市安运危险货物运输有限公司", DISTRICT,
                                 ["transporter"], contact="赵师傅", phone="13857609999",
                                 vehicles=(CARRIER_PLATE,))
    carbon, packaging = WASTES[0], WASTES[3]
    codes = [(f"{enterprise}{carbon[0].replace('-', '')}{day:%Y%m%d}902", carbon, 180_000),
             (f"{enterprise}{packaging[0].replace('-', '')}{day:%Y%m%d}903", packaging, 40_000)]
    number = demo.manifest(day.year)
    for code, waste, mass in codes:
        demo.at(enterprise, day).declare(code, demo.signed(
            enterprise, description(waste, mass, day.date())))
        demo.at(enterprise, day + dt.timedelta(hours=1)).act("custody.released", code,
                                                             demo.signed(enterprise, {
            "to": disposer, "mass_g": mass, "manifest": number, "carrier": carrier,
            "vehicle": CARRIER_PLATE}))
        demo.at(carrier, day + dt.timedelta(hours=1, minutes=20)).act(
            "custody.carried", code, {"manifest": number, "event": "departed",
                                      "vehicle": CARRIER_PLATE, "driver": "赵建国"})
    for code, _, _ in codes:
        demo.at(carrier, day + dt.timedelta(hours=3)).act(
            "custody.carried", code, {"manifest": number, "event": "arrived"})
    (carbon_code, _, carbon_mass), (pack_code, _, pack_mass) = codes
    refusal = demo.at(disposer, day + dt.timedelta(hours=4)).refuse(
        carbon_code, enterprise, number, "一袋破损，活性炭散落", refused_mass_g=15_000)
    demo.at(disposer, day + dt.timedelta(hours=4)).accept(pack_code, enterprise, pack_mass,
                                                           number)
    part = f"{enterprise}{carbon[0].replace('-', '')}{day:%Y%m%d}904"
    demo.at(enterprise, day + dt.timedelta(hours=7)).act("batch.refused_part", part,
                                                         demo.signed(enterprise, {
        "parent": carbon_code, "refusal": refusal["leaf_hash"], "mass_g": 15_000}))
    demo.batches += 3


def _declare_month(demo: Demo, gens: list[str],
                   month0: dt.datetime) -> list[tuple[str, str, int, dt.datetime]]:
    out = []
    for i, org in enumerate(gens):
        waste = WASTES[i % len(WASTES)]
        day = month0 + dt.timedelta(days=demo.rng.randint(0, 14), hours=9)
        mass = int(waste[4] * demo.rng.uniform(0.6, 1.4)) // 100 * 100
        serial = demo.rng.randint(1, 5)
        code = f"{org}{waste[0].replace('-', '')}{day:%Y%m%d}{serial:03d}"
        demo.at(org, day).declare(code, demo.signed(org, description(waste, mass, day.date())))
        demo.store(org, code, mass, day + dt.timedelta(minutes=30))
        demo.batches += 1
        out.append((org, code, mass, day))
    return out


def _collect_round(demo: Demo, declared: list[tuple[str, str, int, dt.datetime]],
                   collectors: list[str], day: dt.datetime,
                   stored: dict[str, list[tuple[str, int]]], last: bool) -> None:
    """A pickup round: each enterprise releases, the collector weighs and accepts."""
    for n, (org, code, mass, _) in enumerate(declared):
        if last and n % 3 == 0:
            continue  # not yet collected this month
        collector = collectors[n % 2]
        number = demo.manifest(day.year)
        truck = "浙J·D0001" if collector == collectors[0] else "浙J·D1001"
        demo.store(org, code, mass, day - dt.timedelta(minutes=30), out=True)
        demo.at(org, day).act("custody.released", code, demo.signed(org, {
            "to": collector, "mass_g": mass, "manifest": number, "vehicle": truck}))
        if last and n % 7 == 1:
            continue  # the driver's acceptance is still queued on a phone: pending handover
        weighed = mass - demo.rng.randint(0, mass // 50)  # scales differ a little
        if n % 11 == 5:
            weighed = int(mass * 0.85)  # a discrepancy for the regulator to see
        demo.at(collector, day + dt.timedelta(hours=2)).accept(code, org, weighed, number)
        stored.setdefault(collector, []).append((code, weighed))


def _station_round(demo: Demo, stored: dict[str, list[tuple[str, int]]], collectors: list[str],
                   station: str, disposers: list[str], day: dt.datetime) -> None:
    """Collectors deliver to the station; it fills one drum per waste code for a disposer."""
    at_station: list[tuple[str, int]] = []
    for collector in collectors:
        items = stored.pop(collector, [])
        if not items:
            continue
        number = demo.manifest(day.year)
        for code, mass in items:
            demo.at(collector, day).release(code, station, mass, number)
        for code, mass in items:
            demo.at(station, day + dt.timedelta(hours=3)).act("custody.accepted", code,
                                                              demo.signed(station, {
                "from": collector, "mass_g": mass, "manifest": number}))
            demo.store(station, code, mass, day + dt.timedelta(hours=3, minutes=30))
        at_station += items
    by_code: dict[str, list[tuple[str, int]]] = {}
    for code, mass in at_station:
        by_code.setdefault(code[18:26], []).append((code, mass))
    for k, (waste8, parents) in enumerate(sorted(by_code.items())):
        waste = next(w for w in WASTES if w[0].replace("-", "") == waste8)
        when = day + dt.timedelta(days=1, hours=k)
        drum = f"{station}{waste8}{when:%Y%m%d}{k + 1:03d}"
        total = sum(m for _, m in parents)
        for n, (code, mass) in enumerate(parents):  # 出库 of each, then poured into the drum
            demo.store(station, code, mass, when - dt.timedelta(minutes=30 - n % 30), out=True)
        demo.at(station, when).consolidate(drum, parents, demo.signed(
            station, description(waste, total, when.date())))
        demo.store(station, drum, total, when + dt.timedelta(minutes=10))
        demo.batches += 1
        disposer = disposers[k % 2]
        number = demo.manifest(when.year)
        demo.store(station, drum, total, when + dt.timedelta(minutes=50), out=True)
        demo.at(station, when + dt.timedelta(hours=1)).act("custody.released", drum,
                                                           demo.signed(station, {
            "to": disposer, "mass_g": total, "manifest": number}))
        demo.at(disposer, when + dt.timedelta(hours=5)).accept(drum, station, total, number)
        method = ("utilisation", "R4") if waste8.endswith("48") else ("disposal", "D10")
        demo.at(disposer, when + dt.timedelta(days=2)).dispose(
            drum, method[0], method[1], f"浙危废经第{disposer[-4:]}号", total)

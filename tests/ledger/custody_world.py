"""A small region for custody tests: generators, a collector, a station, a disposer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ledger.bootstrap import ledger_kinds
from ledger.custody.kinds import CustodySettings, parent_link
from ledger.custody.uscc import make_uscc
from ledger.tlog.log import Receipt
from ledger.tlog.notes import Signer
from ledger.tlog.rules import org_stream
from tests.ledger.factories import OPERATOR_ORG, World, make_world

DAY = "20260921"  # the day of the test clock
GENERATORS = [make_uscc("331002", n) for n in range(1, 21)]
COLLECTOR = make_uscc("331002", 101)
STATION = make_uscc("331002", 102)
DISPOSER = make_uscc("331003", 201)
UNLICENSED = make_uscc("331003", 202)
MANIFEST = "20263310000001"


def batch_code(org: str, serial: int = 1, waste: str = "90003949") -> str:
    return f"{org}{waste}{DAY}{serial:03d}"


@dataclass
class Region:
    world: World
    keys: dict[str, Signer] = field(default_factory=dict)

    def act(self, org: str, stream: str, kind: str, data: dict[str, Any]) -> Receipt:
        return self.world.act(self.keys[org], org, stream, kind, data)

    def declare(self, org: str, serial: int = 1, mass_g: int = 120_000,
                waste: str = "900-039-49") -> str:
        code = batch_code(org, serial, waste.replace("-", ""))
        self.act(org, code, "batch.declared", description(waste, mass_g))
        return code

    def release(self, code: str, frm: str, to: str, mass_g: int,
                manifest: str = MANIFEST) -> Receipt:
        return self.act(frm, code, "custody.released",
                        {"to": to, "mass_g": mass_g, "manifest": manifest,
                         **({"vehicle": "浙J·D1234"} if COLLECTOR in (frm, to) else {})})

    def accept(self, code: str, frm: str, to: str, mass_g: int,
               manifest: str = MANIFEST) -> Receipt:
        return self.act(to, code, "custody.accepted",
                        {"from": frm, "mass_g": mass_g, "manifest": manifest})

    def offer(self, code: str, frm: str, to: str, manifest: str = MANIFEST) -> None:
        """A pickup request of ``frm`` to ``to`` listing ``code`` under ``manifest``: what lets
        the receiver sign before the holder releases."""
        from ledger.custody.pickups import PickupItem, PickupRequest

        session = self.world.session
        request = session.scalars(select(PickupRequest).where(
            PickupRequest.manifest == manifest)).first()
        if request is None:
            request = PickupRequest(generator=frm, collector=to, manifest=manifest,
                                    status="open", created_ms=0)
            session.add(request)
            session.flush()
        session.add(PickupItem(request_id=request.id, batch=code))
        session.commit()

    def refuse(self, code: str, frm: str, to: str, reason: str = "标签与实物不符",
               refused_mass_g: int | None = None, manifest: str = MANIFEST) -> Receipt:
        data: dict[str, Any] = {"from": frm, "manifest": manifest, "reason": reason}
        if refused_mass_g is not None:
            data["refused_mass_g"] = refused_mass_g
        return self.act(to, code, "custody.refused", data)

    def hand_over(self, code: str, frm: str, to: str, mass_g: int, accepted: int | None = None,
                  manifest: str = MANIFEST) -> None:
        self.release(code, frm, to, mass_g, manifest)
        self.accept(code, frm, to, accepted if accepted is not None else mass_g, manifest)

    def consolidate(self, org: str, parents: list[tuple[str, int]], serial: int,
                    mass_g: int | None = None) -> str:
        child = batch_code(org, serial)
        links = []
        for code, mass in parents:
            r = self.act(org, code, "custody.consolidated_out", {"into": child, "mass_g": mass})
            links.append(parent_link(code, mass, r.leaf_hash))
        total = mass_g if mass_g is not None else sum(m for _, m in parents)
        self.act(org, child, "batch.consolidated",
                 {**description("900-039-49", total), "parents": links})
        return child


def description(waste: str, mass_g: int) -> dict[str, Any]:
    return {
        "waste_code": waste, "name": "废活性炭", "form": "solid", "hazards": ["T"],
        "container": {"type": "吨袋", "count": 1}, "mass_g": mass_g,
        "generated_on": f"{DAY[:4]}-{DAY[4:6]}-{DAY[6:]}", "location": "危废仓库 A",
    }


def make_region(engine, settings: CustodySettings | None = None, *,
                migrate: bool = True) -> Region:
    world = make_world(engine, migrate=migrate, kinds=ledger_kinds(settings))
    region = Region(world)
    parties = [(g, "generator", "331002") for g in GENERATORS[:3]] + [
        (COLLECTOR, "collector", "331002"), (STATION, "collector", "331002"),
        (DISPOSER, "disposer", "331003"), (UNLICENSED, "disposer", "331003")]
    for org, role, reg in parties:
        world.register_org(org, f"单位{org[-4:]}", reg, (role,))
        region.keys[org] = world.register_key(org, f"key-{org[-6:]}")
    for org, acts in ((COLLECTOR, ["collect", "store"]), (STATION, ["collect", "store"]),
                      (DISPOSER, ["store", "utilise", "dispose"])):
        world.act(world.operator, OPERATOR_ORG, org_stream(org), "permit.granted", {
            "number": f"浙危废经第{org[-4:]}号", "valid_from": "2026-01-01",
            "valid_to": "2028-12-31", "codes": ["HW49", "HW08", "HW12", "321-026-48"],
            "activities": acts, "capacity_t": 5000})
    world.act(world.operator, OPERATOR_ORG, org_stream(COLLECTOR), "vehicle.registered",
              {"plate": "浙J·D1234", "transport_permit": "浙交运管许可台字331002号"})
    return region


def add_generators(region: Region, orgs: list[str]) -> None:
    for org in orgs:
        if org not in region.keys:
            region.world.register_org(org, f"小微企业{org[-4:]}", "331002", ("generator",))
            region.keys[org] = region.world.register_key(org, f"key-{org[-6:]}")


CARRIER = make_uscc("331002", 301)  # a transport company that only carries (危险货物运输)
CARRIER_PLATE = "浙J·Y5678"


def add_carrier(region: Region) -> str:
    """A transporter-only company with a registered vehicle (道路运输经营许可)."""
    world = region.world
    if CARRIER not in region.keys:
        world.register_org(CARRIER, "台州危运物流有限公司", "331002", ("transporter",))
        region.keys[CARRIER] = world.register_key(CARRIER, f"key-{CARRIER[-6:]}")
        world.act(world.operator, OPERATOR_ORG, org_stream(CARRIER), "vehicle.registered",
                  {"plate": CARRIER_PLATE, "transport_permit": "浙交运管许可台字331002301号"})
    return CARRIER


def carried(region: Region, code: str, event: str, manifest: str = MANIFEST,
            carrier: str = CARRIER, **extra: Any) -> Receipt:
    """The carrier signs its leg of the manifest for one batch (custody.carried)."""
    data: dict[str, Any] = {"manifest": manifest, "event": event, **extra}
    if event == "departed":
        data = {"vehicle": CARRIER_PLATE, "driver": "王师傅", **data}
    return region.act(carrier, code, "custody.carried", data)

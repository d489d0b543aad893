"""A small region driven through the HTTP API with the Python client, one key per party."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.demo.seed import join
from ledger.clock import beijing_today
from ledger.custody.uscc import make_uscc
from ledger.tlog.client import Client

GENERATORS = [make_uscc("331002", n) for n in range(1, 21)]
COLLECTOR = make_uscc("331002", 101)
STATION = make_uscc("331002", 102)
DISPOSER = make_uscc("331003", 201)
REGULATOR = make_uscc("331002", 900)
OUTSIDER = make_uscc("330100", 77)  # a generator in another city
DISPOSER_PERMIT = f"浙危废经第{DISPOSER[-4:]}号"  # the permit number join() records
TODAY = beijing_today()  # the date a user in the region calls today


def description(mass_g: int, waste: str = "900-039-49", name: str = "废活性炭") -> dict[str, Any]:
    return {"waste_code": waste, "name": name, "form": "solid", "hazards": ["T"],
            "container": {"type": "吨袋", "count": 1}, "mass_g": mass_g,
            "generated_on": TODAY.isoformat(), "location": "危废仓库"}


def code_for(org: str, serial: int, waste: str = "90003949") -> str:
    return f"{org}{waste}{TODAY:%Y%m%d}{serial:03d}"


def manifest(n: int) -> str:
    return f"{TODAY.year}3310{n:06d}"


@dataclass
class HttpRegion:
    app: Any
    clients: dict[str, Client] = field(default_factory=dict)

    def __getitem__(self, org: str) -> Client:
        return self.clients[org]

    def join(self, org: str, name: str, region: str, roles: list[str],
             permit: list[str] | None = None, vehicles: tuple[str, ...] = ()) -> Client:
        client = join(self.app, org, name, region, roles, permit, vehicles=vehicles)
        self.clients[org] = client
        return client


def build_region(app: Any, generators: int = 3) -> HttpRegion:
    r = HttpRegion(app)
    for i, g in enumerate(GENERATORS[:generators]):
        r.join(g, f"椒江小微企业{i + 1}号", "331002", ["generator"])
    r.join(COLLECTOR, "台州市绿源环保收集有限公司", "331002", ["collector"], ["collect", "store"],
           vehicles=("浙J·D1234",))
    r.join(STATION, "椒江危废中转站", "331002", ["collector"], ["collect", "store"])
    r.join(DISPOSER, "台州市德长环保处置有限公司", "331003", ["disposer"],
           ["store", "utilise", "dispose"])
    r.join(REGULATOR, "台州市生态环境局椒江分局", "331002", ["regulator"])
    r.join(OUTSIDER, "杭州某厂", "330100", ["generator"])
    return r

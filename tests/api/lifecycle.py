"""A small region driven through the HTTP API with the Python client, one key per party."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from api.extensions import db
from api.runtime import log_config
from ledger import access, registry
from ledger.client import Client
from ledger.notes import Signer
from ledger.uscc import make_uscc

GENERATORS = [make_uscc("331002", n) for n in range(1, 21)]
COLLECTOR = make_uscc("331002", 101)
STATION = make_uscc("331002", 102)
DISPOSER = make_uscc("331003", 201)
REGULATOR = make_uscc("331002", 900)
OUTSIDER = make_uscc("330100", 77)  # a generator in another city
TODAY = dt.datetime.now(dt.UTC).date()


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
             permit: list[str] | None = None) -> Client:
        """Register an organisation, a device key and a token (as the operator would)."""
        with self.app.app_context():
            cfg = log_config()
            registry.register_org(db.session, cfg, org, name, region, roles)
            key = Signer.generate(f"dev-{org[-6:]}")
            registry.register_key(db.session, cfg, org, key.verifier, "手机")
            if permit:
                registry.grant_permit(db.session, cfg, org, f"浙危废经第{org[-4:]}号",
                                      "2024-01-01", "2030-12-31",
                                      ["HW49", "HW08", "HW12", "HW48"], permit, 5000)
            token = access.issue_token(db.session, org, "test")
        client = Client(in_process(self.app), org, key, token)
        self.clients[org] = client
        return client


def in_process(app: Any):  # type: ignore[no-untyped-def]
    """A transport that calls the app directly (no sockets), as the real HTTP path would."""
    test_client = app.test_client()

    def send(method: str, path: str, body: bytes | None, headers: dict[str, str]):
        resp = test_client.open(path, method=method, data=body, headers=headers)
        return resp.status_code, resp.get_data()

    return send


def build_region(app: Any, generators: int = 3) -> HttpRegion:
    r = HttpRegion(app)
    for i, g in enumerate(GENERATORS[:generators]):
        r.join(g, f"椒江小微企业{i + 1}号", "331002", ["generator"])
    r.join(COLLECTOR, "台州市绿源环保收集有限公司", "331002", ["collector"], ["collect", "store"])
    r.join(STATION, "椒江危废中转站", "331002", ["collector"], ["collect", "store"])
    r.join(DISPOSER, "台州市德长环保处置有限公司", "331003", ["disposer"],
           ["store", "utilise", "dispose"])
    r.join(REGULATOR, "台州市生态环境局椒江分局", "331002", ["regulator"])
    r.join(OUTSIDER, "杭州某厂", "330100", ["generator"])
    return r

"""Every cell of docs/access.md, walked over HTTP on both databases.

The table in docs/access.md is the specification: for each resource and action (one HTTP
request) and each role, the status the server answers, and for reads whether the caller sees
the world's batch B1 / manifest M1 ("sees") or not ("none"). This test builds one small world
per role, sends each request as that role (a bearer token, or nothing for anonymous) and
compares every cell with the document.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from api.demo.seed import in_process
from api.extensions import db
from api.runtime import log_config
from ledger.audit.cases import case_stream
from ledger.custody import access
from ledger.custody.uscc import make_uscc
from ledger.tlog.client import Client
from ledger.tlog.notes import Signer, sign_note
from ledger.tlog.rules import org_stream
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    REGULATOR,
    STATION,
    TODAY,
    build_region,
    code_for,
    description,
)

GEN = GENERATORS[0]
YEAR = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year  # the Beijing year
FAR_REGULATOR = make_uscc("330100", 900)
C1 = "331002-2026-0001"
DOC = Path(__file__).resolve().parents[3] / "docs" / "access.md"
ROLES = ["anonymous", "generator", "collector", "station", "disposer", "regulator",
         "far_regulator", "operator"]


@dataclass
class World:
    app: Any
    clients: dict[str, Client]
    b1: str  # GEN's batch, now held by the collector (a requested pickup)
    b2: str  # GEN's batch still with GEN
    m1: str  # the manifest of B1's trip
    p1: int  # the pickup request of B1
    size: int
    c1: str = C1  # a case the regulator opened about GEN and assigned to it
    h1: int = 0  # the collector's webhook

    def client(self, role: str) -> Client | None:
        return self.clients.get(role)


def build_world(app) -> World:
    r = build_region(app, generators=2)
    r.join(FAR_REGULATOR, "杭州市生态环境局", "330100", ["regulator"])
    b1, b2 = code_for(GEN, 1), code_for(GEN, 2)
    r[GEN].declare(b1, description(50_000))
    r[GEN].declare(b2, description(20_000))
    pickup = r[GEN].request("POST", "/api/v1/pickups", {"collector": COLLECTOR, "batches": [b1]})
    r[GEN].release(b1, COLLECTOR, 50_000, pickup["manifest"], vehicle="浙J·D1234")
    r[COLLECTOR].accept(b1, GEN, 50_000, pickup["manifest"])
    r[REGULATOR].act("case.opened", case_stream(C1), {
        "region": "331002", "source": "inspection", "type": "storage", "severity": "low",
        "title": "贮存场所无标识", "facts": "现场检查", "organisations": [GEN]})
    r[REGULATOR].act("case.assigned", case_stream(C1), {
        "assignee": GEN, "person": "李四", "measures": "设置标识", "deadline": "2099-12-31"})
    r[GEN].act("plan.filed", f"plan:{GEN}:{YEAR}", {
        "year": YEAR, "reduction": "减量化措施", "wastes": [
            {"waste_code": "900-039-49", "generation_g": 1_000_000, "transfers": []}]})
    with app.app_context():
        operator = log_config().operator
        op_org = app.config["OPERATOR_ORG"]
        token = access.issue_token(db.session, op_org, "matrix")
        db.session.remove()
    clients = {"generator": r[GEN], "collector": r[COLLECTOR], "station": r[STATION],
               "disposer": r[DISPOSER], "regulator": r[REGULATOR],
               "far_regulator": r[FAR_REGULATOR],
               "operator": Client(in_process(app), op_org, operator, token)}
    size = app.test_client().get("/api/v1/entries?limit=1",
                                 headers={"Authorization": f"Bearer {token}"}).json["size"]
    app.config["NOTIFY_ALLOW_LOOPBACK"] = True  # webhooks and push endpoints on 127.0.0.1
    hook = r[COLLECTOR].request("POST", "/api/v1/webhooks",
                                {"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    return World(app, clients, b1, b2, pickup["manifest"], pickup["id"], size, h1=hook["id"])


# --- the requests, one per row of the table ---------------------------------------------------

Request = Callable[[World, str], tuple[str, str, Any]]  # -> method, path, JSON body


def _own(w: World, role: str) -> tuple[str, str]:
    c = w.client(role)
    return (c.org, c.key.verifier.fingerprint) if c else (GEN, "0" * 64)


def _signed(kind: str, stream: Callable[[World, str], str],
            data: Callable[[World, str], dict[str, Any]]):
    """A registry entry signed by the role's own key (drafted by the server, as clients do)."""
    def make(w: World, role: str) -> tuple[str, str, Any]:
        c = w.client(role)
        if c is None:
            return "POST", "/api/v1/entries", {"note": "not a signed note"}
        note = sign_note(c.draft(kind, stream(w, role), data(w, role)), c.key)
        return "POST", "/api/v1/entries", {"note": note.decode()}
    return make


def _permit(w: World, role: str) -> dict[str, Any]:
    return {"number": f"台危废经第{ROLES.index(role)}号", "valid_from": "2026-01-01",
            "valid_to": "2030-12-31", "codes": ["HW49"], "activities": ["collect"],
            "capacity_t": 100}


def _vehicle_stream(w: World, role: str) -> str:
    return org_stream(COLLECTOR if role == "operator" else _own(w, role)[0])


REQUESTS: dict[str, Request] = {
    "entries.read": lambda w, r: ("GET", "/api/v1/entries?start=0&limit=1000", None),
    "entries.append": lambda w, r: ("POST", "/api/v1/entries", {"note": "not a signed note"}),
    "batches.list": lambda w, r: ("GET", "/api/v1/batches?limit=100", None),
    "batches.read": lambda w, r: ("GET", f"/api/v1/batches/{w.b1}", None),
    "batches.next-code": lambda w, r: (
        "GET", f"/api/v1/batches/next-code?waste_code=900-039-49&generated_on={TODAY}", None),
    "drafts.create": lambda w, r: ("POST", "/api/v1/drafts/custody.released", {
        "stream": w.b1, "org": _own(w, r)[0], "key": _own(w, r)[1],
        "data": {"to": DISPOSER, "mass_g": 50_000, "manifest": w.m1}}),
    "labels.read": lambda w, r: ("GET", f"/api/v1/batches/{w.b1}/label.svg", None),
    "labels.sheet": lambda w, r: ("POST", "/api/v1/labels/sheet",
                                  {"codes": [w.b1], "sheet": "a4"}),
    "manifests.list": lambda w, r: ("GET", "/api/v1/manifests", None),
    "manifests.read": lambda w, r: ("GET", f"/api/v1/manifests/{w.m1}", None),
    "pickups.list": lambda w, r: ("GET", "/api/v1/pickups?status=all", None),
    "pickups.read": lambda w, r: ("GET", f"/api/v1/pickups/{w.p1}", None),
    "pickups.create": lambda w, r: ("POST", "/api/v1/pickups",
                                    {"collector": COLLECTOR, "batches": [w.b2]}),
    "pickups.cancel": lambda w, r: ("POST", f"/api/v1/pickups/{w.p1}/cancel", None),
    "keys.list": lambda w, r: ("GET", "/api/v1/keys?limit=500", None),
    "keys.register": lambda w, r: ("POST", "/api/v1/keys", {
        "vkey": Signer.generate(f"matrix-{r}").verifier.vkey, "label": "matrix"}),
    "permits.list": lambda w, r: ("GET", "/api/v1/permits?limit=500", None),
    "permits.grant": _signed("permit.granted", lambda w, r: org_stream(COLLECTOR), _permit),
    "organisations.list": lambda w, r: ("GET", "/api/v1/organisations?limit=500", None),
    "organisations.read": lambda w, r: ("GET", f"/api/v1/organisations/{GEN}", None),
    "vehicles.register": _signed("vehicle.registered", _vehicle_stream, lambda w, r: {
        "plate": f"浙J·M{ROLES.index(r)}001", "transport_permit": "浙交运管许可台字1号"}),
    "gaps.list": lambda w, r: ("GET", "/api/v1/gaps", None),
    "reconciliation.read": lambda w, r: ("GET", "/api/v1/reconciliation", None),
    "plans.list": lambda w, r: ("GET", "/api/v1/plans", None),
    "plans.read": lambda w, r: ("GET", f"/api/v1/plans/{GEN}/{YEAR}", None),
    "plans.draft": lambda w, r: ("GET", f"/api/v1/plans/draft?year={YEAR}", None),
    "plans.roster": lambda w, r: ("GET", "/api/v1/plans/roster", None),
    "declarations.list": lambda w, r: ("GET", "/api/v1/declarations", None),
    "declarations.prefill": lambda w, r: ("GET", f"/api/v1/declarations/prefill?period={YEAR}",
                                          None),
    "declarations.due": lambda w, r: ("GET", "/api/v1/declarations/due", None),
    "checkpoints.read": lambda w, r: ("GET", "/api/v1/checkpoint", None),
    "proofs.inclusion": lambda w, r: ("GET", f"/api/v1/proofs/inclusion?index=1&size={w.size}",
                                      None),
    "tiles.hashes": lambda w, r: ("GET", f"/log/tile/0/000.p/{w.size}", None),
    "tiles.entries": lambda w, r: ("GET", f"/log/tile/entries/000.p/{w.size}", None),
    "pages.trace": lambda w, r: ("GET", f"/t/{w.b1}", None),
    "pages.generator": lambda w, r: ("GET", "/generator/", None),
    "pages.collector": lambda w, r: ("GET", "/collector/", None),
    "pages.regulator": lambda w, r: ("GET", "/regulator/", None),
    "cases.list": lambda w, r: ("GET", "/api/v1/cases", None),
    "cases.read": lambda w, r: ("GET", f"/api/v1/cases/{w.c1}", None),
    "pages.cases": lambda w, r: ("GET", "/regulator/cases", None),
    "pages.case": lambda w, r: ("GET", f"/regulator/cases/{w.c1}", None),
    "pages.rectify": lambda w, r: ("GET", "/rectify/", None),
    "pages.admin": lambda w, r: ("GET", "/admin/", None),
    "pages.admin-org": lambda w, r: ("GET", f"/admin/org/{GEN}", None),
    "notifications.list": lambda w, r: ("GET", "/api/v1/notifications", None),
    "notifications.read": lambda w, r: ("POST", "/api/v1/notifications/read", {}),
    "push.key": lambda w, r: ("GET", "/api/v1/push/key", None),
    "push.subscribe": lambda w, r: ("POST", "/api/v1/push/subscriptions", _push(r)),
    "push.unsubscribe": lambda w, r: ("POST", "/api/v1/push/unsubscribe",
                                      {"endpoint": _push(r)["endpoint"]}),
    "webhooks.list": lambda w, r: ("GET", "/api/v1/webhooks", None),
    "webhooks.create": lambda w, r: ("POST", "/api/v1/webhooks", {
        "url": f"http://127.0.0.1:9/{r}", "events": ["case.assigned"]}),
    "webhooks.deliveries": lambda w, r: ("GET", f"/api/v1/webhooks/{w.h1}/deliveries", None),
    "webhooks.delete": lambda w, r: ("DELETE", f"/api/v1/webhooks/{w.h1}", None),
    "pages.notifications": lambda w, r: ("GET", "/notifications/", None),
}

# What "sees" looks for in a 200 answer of that row (rows without a marker: status only).
MARKERS: dict[str, Callable[[World], str]] = {
    "entries.read": lambda w: w.b1, "batches.list": lambda w: w.b1,
    "manifests.list": lambda w: w.m1, "pickups.list": lambda w: w.m1,
    "reconciliation.read": lambda w: '"declared":70000',  # B1 and B2 of GEN counted
    "cases.list": lambda w: w.c1, "pages.cases": lambda w: f'data-case="{w.c1}"',
    "pages.rectify": lambda w: f'data-case="{w.c1}"',
    "plans.list": lambda w: f"plan:{GEN}:{YEAR}", "plans.roster": lambda w: f'"org":"{GEN}"',
    "notifications.list": lambda w: w.m1,  # the collector was asked to fetch B1 on M1
    "webhooks.list": lambda w: "127.0.0.1:9/hook",
}


def _push(role: str) -> dict[str, Any]:
    """A browser's push subscription (a real P-256 key and auth secret), one per role."""
    key = ec.derive_private_key(ROLES.index(role) + 1, ec.SECP256R1()).public_key()
    point = key.public_bytes(serialization.Encoding.X962,
                             serialization.PublicFormat.UncompressedPoint)
    return {"endpoint": f"http://127.0.0.1:9/push/{role}",
            "keys": {"p256dh": base64.urlsafe_b64encode(point).rstrip(b"=").decode(),
                     "auth": base64.urlsafe_b64encode(bytes(16)).rstrip(b"=").decode()}}


def call(w: World, row: str, role: str) -> tuple[int, str]:
    method, path, body = REQUESTS[row](w, role)
    c = w.client(role)
    headers = {"Authorization": f"Bearer {c.token}"} if c else {}
    resp = w.app.test_client().open(path, method=method, json=body, headers=headers)
    return resp.status_code, resp.get_data().decode("utf-8", "replace")


# --- the document --------------------------------------------------------------------------

CELL = re.compile(r"(\d{3})(?:\s+(sees|none))?")


def documented() -> dict[str, dict[str, tuple[int, str | None]]]:
    """row -> role -> (status, sees|none|None), from the matrix table of docs/access.md."""
    table: dict[str, dict[str, tuple[int, str | None]]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 + len(ROLES) or not re.fullmatch(r"`[a-z.-]+`", cells[0]):
            continue
        row = cells[0].strip("`")
        parsed = {}
        for role, cell in zip(ROLES, cells[2:], strict=True):
            m = CELL.match(cell)
            assert m, f"{row}/{role}: cannot read {cell!r}"
            parsed[role] = (int(m.group(1)), m.group(2))
        table[row] = parsed
    return table


def test_the_document_has_a_decided_cell_for_every_row_and_role():
    table = documented()
    assert set(table) == set(REQUESTS)
    for row, cells in table.items():
        assert set(cells) == set(ROLES), row
        for role, (status, sees) in cells.items():
            if row in MARKERS and status == 200:
                assert sees in ("sees", "none"), f"{row}/{role}: say sees or none"


@pytest.mark.parametrize("role", ROLES)
def test_every_cell_of_the_access_matrix(app, role):
    world = build_world(app)
    expected = documented()
    wrong = []
    for row in REQUESTS:
        status, body = call(world, row, role)
        want, sees = expected[row][role]
        got = f"{status}"
        if row in MARKERS and status == 200:
            got += " sees" if MARKERS[row](world) in body else " none"
        want_text = f"{want}" + (f" {sees}" if sees else "")
        if got != want_text:
            wrong.append(f"{row}: {got} (docs/access.md says {want_text}) {body[:160]!r}")
    assert not wrong, "\n".join(wrong)

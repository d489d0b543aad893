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
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
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
from ledger.tlog import log
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
from tests.api.logins import csrf_of, log_in_as

GEN = GENERATORS[0]
YEAR = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year  # the Beijing year
FAR_REGULATOR = make_uscc("330100", 900)
C1 = "331002-2026-0001"
DOC = Path(__file__).resolve().parents[3] / "docs" / "access.md"
ROLES = ["anonymous", "generator", "collector", "station", "disposer", "regulator",
         "far_regulator", "operator"]
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"photo" * 100
BEIJING_TODAY = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
# The world's cases (docs/cases.md), all in the regulator's region 331002, each waiting for the
# step its row tries: C1 assigned to the generator (with an evidence file), C2 opened, C3
# responded, C4 accepted, C5 closed.
CASES = {n: f"331002-2026-000{n}" for n in range(1, 6)}
PASSWORD = "matrix-Passw0rd-long-enough"  # every role's person logs in to the pages with it


@dataclass
class World:
    app: Any
    clients: dict[str, Client]
    b1: str  # GEN's batch, now held by the collector (a requested pickup)
    b2: str  # GEN's batch still with GEN
    b3: str  # GEN's batch still with GEN, for the pickup page to ask for
    p2: int  # an open pickup request of GEN's B4, for the pickup page to cancel
    m1: str  # the manifest of B1's trip
    p1: int  # the pickup request of B1
    size: int
    gap: str  # the mass discrepancy of B1's handover (released 50 kg, accepted 45 kg)
    evidence: str  # the SHA-256 of the file the generator uploaded to case C1
    c1: str = C1  # a case the regulator opened about GEN and assigned to it
    h1: int = 0  # the collector's webhook
    pages: dict[str, tuple[Any, str]] = field(default_factory=dict)  # role -> (client, CSRF)

    def client(self, role: str) -> Client | None:
        return self.clients.get(role)


def build_world(app) -> World:
    r = build_region(app, generators=2)
    r.join(FAR_REGULATOR, "杭州市生态环境局", "330100", ["regulator"])
    b1, b2 = code_for(GEN, 1), code_for(GEN, 2)
    r[GEN].declare(b1, description(50_000))
    r[GEN].declare(b2, description(20_000))
    b3, b4 = code_for(GEN, 3), code_for(GEN, 4)
    r[GEN].declare(b3, description(20_000))
    r[GEN].declare(b4, description(20_000))
    p2 = r[GEN].request("POST", "/api/v1/pickups", {"collector": COLLECTOR, "batches": [b4]})
    pickup = r[GEN].request("POST", "/api/v1/pickups", {"collector": COLLECTOR, "batches": [b1]})
    r[GEN].release(b1, COLLECTOR, 50_000, pickup["manifest"], vehicle="浙J·D1234")
    r[COLLECTOR].accept(b1, GEN, 45_000, pickup["manifest"])  # 10 %: a mass_discrepancy gap
    regulator, gen = r[REGULATOR], r[GEN]
    for n, steps in {1: 1, 2: 0, 3: 2, 4: 3, 5: 4}.items():
        stream = case_stream(CASES[n])
        regulator.act("case.opened", stream, _case_opened(b1))
        if steps >= 1:
            regulator.act("case.assigned", stream, _case_assigned())
        if steps >= 2:
            gen.act("case.responded", stream, {"report": "已设置标识牌"})
        if steps >= 3:
            regulator.act("case.reviewed", stream, {"result": "accepted"})
        if steps >= 4:
            regulator.act("case.closed", stream, {"note": "予以销号"})
    sent = app.test_client().post(f"/api/v1/cases/{CASES[1]}/evidence",
                                  headers={"Authorization": f"Bearer {gen.token}"},
                                  **_multipart(JPEG))
    assert sent.status_code == 201, sent.json
    r[GEN].act("plan.filed", f"plan:{GEN}:{YEAR}", {
        "year": YEAR, "reduction": "减量化措施", "wastes": [
            {"waste_code": "900-039-49", "generation_g": 1_000_000, "transfers": []}]})
    with app.app_context():
        operator = log_config().operator
        op_org = app.config["OPERATOR_ORG"]
        token = access.issue_token(db.session, op_org, "matrix")
        for role, org in {"generator": GEN, "collector": COLLECTOR, "station": STATION,
                          "disposer": DISPOSER, "regulator": REGULATOR,
                          "far_regulator": FAR_REGULATOR, "operator": op_org}.items():
            access.add_user(db.session, role, PASSWORD, org, role)
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
    gaps = app.test_client().get("/api/v1/gaps?type=mass_discrepancy",
                                 headers={"Authorization": f"Bearer {token}"}).json["items"]
    assert [g["batches"] for g in gaps] == [[b1]], gaps
    return World(app, clients, b1, b2, b3, p2["id"], pickup["manifest"], pickup["id"], size,
                 gaps[0]["id"],
                 hashlib.sha256(JPEG).hexdigest(), h1=hook["id"])


def _case_opened(batch: str) -> dict[str, Any]:
    return {"region": "331002", "source": "inspection", "type": "storage",
            "severity": "medium", "title": "贮存场所无标识",
            "facts": "现场检查发现危废仓库未设置标识牌", "organisations": [GEN],
            "batches": [batch]}


def _case_assigned() -> dict[str, Any]:
    return {"assignee": GEN, "person": "李四", "measures": "设置危险废物贮存设施标识",
            "deadline": (BEIJING_TODAY + dt.timedelta(days=30)).isoformat()}


def _multipart(data: bytes) -> dict[str, Any]:
    """A file upload as a browser sends it (field ``file``)."""
    boundary = "----matrix"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() \
        + data + f"\r\n--{boundary}--\r\n".encode()
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


# --- the requests, one per row of the table ---------------------------------------------------

Request = Callable[[World, str], tuple[str, str, Any]]  # -> method, path, body


@dataclass(frozen=True)
class Form:
    """A body sent as a form (``application/x-www-form-urlencoded``), as a page posts it."""

    fields: dict[str, Any]


@dataclass(frozen=True)
class Upload:
    """A body sent as ``multipart/form-data`` with the file in field ``file``."""

    data: bytes


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


def _signed_as_server_drafts(kind: str, case: int | None,
                             data: Callable[[World, str], dict[str, Any]]):
    """A case step signed by the role's own key on the note the server would draft for it.

    Drafted in-process, not over HTTP: a draft for a case the role may not see is refused
    (404, the drafts.case row), but the append rules must refuse the step whoever built the
    note. ``case`` None: a new case of the role's own (case.opened)."""
    def make(w: World, role: str) -> tuple[str, str, Any]:
        c = w.client(role)
        if c is None:
            return "POST", "/api/v1/entries", {"note": "not a signed note"}
        case_id = CASES[case] if case else f"331002-2026-01{ROLES.index(role):02d}"
        with w.app.app_context():
            draft = log.draft_entry(db.session, log_config(), stream=case_stream(case_id),
                                    org=c.org, key=c.key.verifier.fingerprint, kind=kind,
                                    data=data(w, role))
            db.session.remove()
        note = sign_note(draft.text.decode("utf-8"), c.key)
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
    "entries.plans": lambda w, r: ("GET", "/api/v1/entries?start=0&limit=1000", None),
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
    "manifests.pdf": lambda w, r: ("GET", f"/api/v1/manifests/{w.m1}.pdf", None),
    "alerts.list": lambda w, r: ("GET", "/api/v1/alerts", None),
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
    "declarations.read": lambda w, r: ("GET", f"/api/v1/declarations/{GEN}/{YEAR - 1}", None),
    "checkpoints.read": lambda w, r: ("GET", "/api/v1/checkpoint", None),
    "proofs.inclusion": lambda w, r: ("GET", f"/api/v1/proofs/inclusion?index=1&size={w.size}",
                                      None),
    "tiles.hashes": lambda w, r: ("GET", f"/log/tile/0/000.p/{w.size}", None),
    "tiles.entries": lambda w, r: ("GET", f"/log/tile/entries/000.p/{w.size}", None),
    "gaps.read": lambda w, r: ("GET", f"/api/v1/gaps/{w.gap}", None),
    "ledger-book.read": lambda w, r: (
        "GET", f"/api/v1/organisations/{GEN}/ledger?from={BEIJING_TODAY}&to={BEIJING_TODAY}"
               "&format=csv", None),
    "entries.batch": lambda w, r: ("POST", "/api/v1/entries/batch", {"notes": ["not a note"]}),
    "receipts.read": lambda w, r: ("GET", "/api/v1/entries/0/receipt", None),
    "proofs.consistency": lambda w, r: (
        "GET", f"/api/v1/proofs/consistency?old=1&new={w.size}", None),
    "auth.token": lambda w, r: ("POST", "/api/v1/auth/token",
                                {"username": r, "password": "not the password"}),
    "catalogue.list": lambda w, r: ("GET", "/api/v1/catalogue?q=HW49", None),
    "catalogue.read": lambda w, r: ("GET", "/api/v1/catalogue/900-039-49", None),
    "catalogue.editions": lambda w, r: ("GET", "/api/v1/catalogue/editions", None),
    "catalogue.suggest": lambda w, r: ("GET", "/api/v1/catalogue/suggest?q=活性炭", None),
    "openapi.read": lambda w, r: ("GET", "/api/v1/openapi.json", None),
    "openapi.docs": lambda w, r: ("GET", "/api/v1/docs", None),
    "reconciliation.drilldown": lambda w, r: (
        "GET", "/api/v1/reconciliation/drilldown?figure=declared", None),
    "collector.round": lambda w, r: ("GET", "/api/v1/collector/round", None),
    "collector.yard": lambda w, r: ("GET", "/api/v1/collector/yard", None),
    "collector.child-code": lambda w, r: (
        "GET", "/api/v1/collector/child-code?waste_code=900-039-49", None),
    "operator.vkey": lambda w, r: ("GET", "/api/v1/operator.vkey", None),
    "cases.list": lambda w, r: ("GET", "/api/v1/cases", None),
    "cases.read": lambda w, r: ("GET", f"/api/v1/cases/{CASES[1]}", None),
    "cases.export": lambda w, r: ("GET", f"/api/v1/cases/{CASES[1]}/export.zip", None),
    "cases.xlsx": lambda w, r: ("GET", "/api/v1/cases?format=xlsx", None),
    "drafts.case": lambda w, r: ("POST", "/api/v1/drafts/case.responded", {
        "stream": case_stream(CASES[1]), "org": _own(w, r)[0], "key": _own(w, r)[1],
        "data": {"report": "已设置标识牌"}}),
    "cases.open": _signed_as_server_drafts("case.opened", None,
                                           lambda w, r: _case_opened(w.b1)),
    "cases.assign": _signed_as_server_drafts("case.assigned", 2, lambda w, r: _case_assigned()),
    "cases.respond": _signed_as_server_drafts("case.responded", 1,
                                              lambda w, r: {"report": "已设置标识牌"}),
    "cases.review": _signed_as_server_drafts("case.reviewed", 3,
                                             lambda w, r: {"result": "accepted"}),
    "cases.close": _signed_as_server_drafts("case.closed", 4, lambda w, r: {"note": "予以销号"}),
    "cases.reopen": _signed_as_server_drafts("case.reopened", 5,
                                             lambda w, r: {"reason": "回头看发现问题反弹"}),
    "cases.evidence.upload": lambda w, r: ("POST", f"/api/v1/cases/{CASES[1]}/evidence",
                                           Upload(JPEG + r.encode())),
    "cases.evidence.read": lambda w, r: (
        "GET", f"/api/v1/cases/{CASES[1]}/evidence/{w.evidence}", None),
    "pages.home": lambda w, r: ("GET", "/", None),
    "pages.login": lambda w, r: ("GET", "/login", None),
    "pages.static": lambda w, r: ("GET", "/static/css/app.css", None),
    "pages.pictogram": lambda w, r: ("GET", "/hazard/T.svg", None),
    "pages.trace-lookup": lambda w, r: ("GET", f"/trace?code={w.b1}", None),
    "pages.trace": lambda w, r: ("GET", f"/t/{w.b1}", None),
    "pages.log-checkpoint": lambda w, r: ("GET", "/log/checkpoint", None),
    "pages.generator": lambda w, r: ("GET", "/generator/", None),
    "pages.generator.declare": lambda w, r: ("GET", "/generator/declare", None),
    "pages.generator.labels": lambda w, r: ("POST", "/generator/labels",
                                            Form({"codes": [w.b1], "sheet": "a4"})),
    "pages.generator.pickups": lambda w, r: ("GET", "/generator/pickups", None),
    "pages.generator.pickup": lambda w, r: ("POST", "/generator/pickups",
                                            Form({"collector": COLLECTOR, "batches": [w.b3]})),
    "pages.generator.cancel": lambda w, r: ("POST", f"/generator/pickups/{w.p2}/cancel",
                                            Form({})),
    "pages.collector": lambda w, r: ("GET", "/collector/", None),
    "pages.collector.scan": lambda w, r: ("GET", "/collector/scan", None),
    "pages.collector.station": lambda w, r: ("GET", "/collector/station", None),
    "pages.collector.disposer": lambda w, r: ("GET", "/collector/disposer", None),
    "pages.collector.sw": lambda w, r: ("GET", "/collector/sw.js", None),
    "pages.regulator": lambda w, r: ("GET", "/regulator/?figure=declared", None),
    "pages.plans": lambda w, r: ("GET", "/generator/plan", None),
    "pages.report": lambda w, r: ("GET", "/generator/report", None),
    "pages.roster": lambda w, r: ("GET", "/regulator/roster", None),
    "pages.regulator.drill": lambda w, r: ("GET", "/regulator/drill.csv?figure=declared", None),
    "pages.regulator.search": lambda w, r: ("GET", f"/regulator/search?q={w.m1}", None),
    "pages.regulator.gaps": lambda w, r: ("GET", "/regulator/gaps", None),
    "pages.regulator.gaps-xlsx": lambda w, r: ("GET", "/regulator/gaps.xlsx", None),
    "pages.regulator.gap": lambda w, r: ("GET", f"/regulator/gaps/{w.gap}", None),
    "pages.regulator.batch": lambda w, r: ("GET", f"/regulator/batch/{w.b1}", None),
    "pages.regulator.manifests": lambda w, r: ("GET", "/regulator/manifests", None),
    "pages.regulator.manifest": lambda w, r: ("GET", f"/regulator/manifests/{w.m1}", None),
    "pages.regulator.manifest-pdf": lambda w, r: ("GET", f"/regulator/manifests/{w.m1}.pdf",
                                                  None),
    "pages.regulator.verify": lambda w, r: ("GET", "/regulator/verify", None),
    "pages.regulator.verify-label": lambda w, r: ("POST", "/regulator/verify", Form(
        {"what": "label", "label_url": f"https://waste-ledger.example/t/{w.b1}"})),
    "pages.login-post": lambda w, r: ("POST", "/login",
                                      Form({"username": r, "password": "not the password"})),
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
    "pages.notifications-read": lambda w, r: ("POST", "/notifications/read", Form({})),
    # last: they change the browser's session (English pages; logged out)
    "pages.language": lambda w, r: ("GET", "/lang/en", None),
    "pages.logout": lambda w, r: ("POST", "/logout", Form({})),
}

# What "sees" looks for in a 200 answer of that row (rows without a marker: status only).
MARKERS: dict[str, Callable[[World], str]] = {
    "entries.read": lambda w: w.b1, "batches.list": lambda w: w.b1,
    "entries.plans": lambda w: f"plan:{GEN}:{YEAR}",
    "manifests.list": lambda w: w.m1, "pickups.list": lambda w: w.m1,
    "reconciliation.read": lambda w: '"declared":110000',  # B1 to B4 of GEN counted
    "reconciliation.drilldown": lambda w: w.b1,
    "gaps.read": lambda w: w.b1,
    "ledger-book.read": lambda w: w.b1,
    "collector.round": lambda w: w.b1,  # the collector holds B1
    "cases.list": lambda w: w.c1, "pages.cases": lambda w: f'data-case="{w.c1}"',
    "pages.rectify": lambda w: f'data-case="{w.c1}"',
    "plans.list": lambda w: f"plan:{GEN}:{YEAR}", "plans.roster": lambda w: f'"org":"{GEN}"',
    "pages.regulator": lambda w: w.b1,  # among the batches behind the declared figure
    "pages.regulator.drill": lambda w: w.b1,
    "pages.regulator.search": lambda w: f'data-key="{w.m1}"',  # a hit, not the query
    "pages.regulator.gaps": lambda w: w.b1,
    "pages.regulator.manifests": lambda w: w.m1,
    # the collector was asked to fetch B1 on M1 (the generator's own notices, e.g. of case C1,
    # may name M1 too: the marker is the pickup notice itself)
    "notifications.list": lambda w: "pickup.requested",
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


def page_session(w: World, role: str) -> tuple[Any, str]:
    """A browser of the role's person: logged in through the form (anonymous: not), with the
    CSRF token its pages carry."""
    if role not in w.pages:
        browser = w.app.test_client()
        if role == "anonymous":
            token = csrf_of(browser.get("/login").get_data(as_text=True))
        else:
            token = log_in_as(browser, role, PASSWORD)
        w.pages[role] = (browser, token)
    return w.pages[role]


def call(w: World, row: str, role: str) -> tuple[int, str]:
    """Send the row's request as the role: the API with its bearer token, a page (``pages.*``)
    from its logged-in browser, forms with the page's CSRF token."""
    method, path, body = REQUESTS[row](w, role)
    c = w.client(role)
    headers = {"Authorization": f"Bearer {c.token}"} if c else {}
    sender = w.app.test_client()
    if row.startswith("pages."):
        sender, csrf = page_session(w, role)
        headers = {}
        if isinstance(body, Form):
            body = Form({**body.fields, "csrf_token": csrf})
    sent: dict[str, Any] = {"json": body}
    if isinstance(body, Form):
        sent = {"data": body.fields}
    elif isinstance(body, Upload):
        sent = _multipart(body.data)
    with sender.open(path, method=method, headers=headers, **sent) as resp:
        return resp.status_code, resp.get_data().decode("utf-8", "replace")


# --- the document --------------------------------------------------------------------------

CELL = re.compile(r"(\d{3})(?:\s+(sees|none))?")


def dump(app) -> None:
    """Print the table as the server answers it now (to write a new row of docs/access.md:
    ``pytest tests/api/rest/test_access_matrix.py -k dump -s``); each cell still needs a
    decision."""
    world = build_world(app)
    for row in REQUESTS:
        cells = []
        for role in ROLES:
            status, body = call(world, row, role)
            cell = f"{status}"
            if row in MARKERS and status == 200:
                cell += " sees" if MARKERS[row](world) in body else " none"
            cells.append(cell)
        print(f"| `{row}` | | " + " | ".join(cells) + " |")


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


def test_every_route_of_the_application_is_a_row(app):
    """A new page or endpoint needs its row (and so a decision for every role)."""
    code = code_for(GEN, 1)
    fake = World(app, {}, code, code, code, 1, "20263310000001", 1, 2, "mass_discrepancy:x",
                 "0" * 64)
    adapter = app.url_map.bind("localhost")
    covered = set()
    for make in REQUESTS.values():
        method, path, _body = make(fake, "anonymous")
        endpoint, _args = adapter.match(path.split("?")[0], method=method)
        covered.add((endpoint, method))
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    # The administration pages' write forms need an admin person per unit and are walked for
    # each kind of person in tests/api/pages/test_pages_admin.py (docs/access.md says so).
    elsewhere = {(endpoint, "POST") for endpoint, method in routes
                 if endpoint.startswith("admin.") and method == "POST"}
    assert routes - covered - elsewhere == set()


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

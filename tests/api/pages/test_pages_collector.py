"""The receiving parties' pages (收运): who may open them, the service worker, the round the
phone downloads (only what is addressed to this organisation), CSRF, and bad input."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.api.lifecycle import COLLECTOR, DISPOSER, GENERATORS, STATION
from tests.api.logins import csrf_of, declare, log_in_as, region_with_people

G1, G2 = GENERATORS[0], GENERATORS[1]
PASSWORD = "correct horse battery"
USERS = {"driver": COLLECTOR, "station": STATION, "disposer": DISPOSER, "boss": G1}


@pytest.fixture
def crew(app):
    return region_with_people(app, USERS, PASSWORD)


def log_in(client, username: str) -> str:
    """Log in through the form, as a person does; returns the session's CSRF token."""
    return log_in_as(client, username, PASSWORD)


def request_pickup(crew, org: str, to: str, codes: list[str]) -> dict:
    return crew[org].request("POST", "/api/v1/pickups", {"collector": to, "batches": codes})


@pytest.mark.parametrize("username", ["driver", "station", "disposer"])
def test_pages_open_for_each_receiving_party(crew, client, username):
    log_in(client, username)
    for path, heading in (("/collector/", "收运任务"), ("/collector/scan", "扫码接收")):
        resp = client.get(path)
        assert resp.status_code == 200
        html = resp.get_data(as_text=True)
        assert f"<h1 class=\"grow\">{heading}</h1>" in html
        assert 'id="queue-count"' in html and "立即发送" in html  # the queue on every page
        org = json.loads(re.search(r'<script type="application/json" id="collector-org">'
                                   r"(.*?)</script>", html).group(1))
        assert org["org"] == USERS[username] and org["user"] == username
        messages = json.loads(re.search(r'<script type="application/json" id="i18n">(.*?)'
                                        r"</script>", html).group(1))
        assert messages["queued"] == "已签名，联网后自动发送"
        # No inline script or style: the strict CSP would block it.
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert " src=" in tag or 'type="application/json"' in tag, tag
        assert "style=" not in html and "<style" not in html
    scan = client.get("/collector/scan").get_data(as_text=True)
    assert "/static/vendor/jsqr/jsQR.js" in scan and "/static/js/collector/scan.js" in scan


def test_a_generator_gets_403_and_a_stranger_the_login(crew, client):
    for path in ("/collector/", "/collector/scan"):
        resp = client.get(path)
        assert resp.status_code == 302 and resp.location.startswith("/login?next=/collector/")
    assert client.get("/api/v1/collector/round").status_code == 401
    log_in(client, "boss")
    for path in ("/collector/", "/collector/scan"):
        resp = client.get(path)
        assert resp.status_code == 403
        assert "收运任务" not in resp.get_data(as_text=True)
    resp = client.get("/api/v1/collector/round")
    assert resp.status_code == 403 and resp.json["code"] == "role_missing"


def test_service_worker_is_served_with_scope_and_offline_list(crew, client):
    resp = client.get("/collector/sw.js")
    assert resp.status_code == 200
    assert resp.mimetype == "text/javascript"
    assert "Service-Worker-Allowed" not in resp.headers  # its own path is its scope
    body = resp.get_data(as_text=True)
    offline = json.loads(re.search(r"^const OFFLINE = (.*);$", body, re.M).group(1))
    for url in ("/collector/", "/collector/scan", "/static/js/ledger.js",
                "/static/js/collector/scan.js", "/static/vendor/jsqr/jsQR.js",
                "/static/vendor/idb/index.js", "/static/css/collector.css", "/hazard/T.svg"):
        assert url in offline
    for url in offline:  # every file it keeps exists (a 404 would make offline pages break)
        if url.startswith("/collector/"):
            continue
        with client.get(url) as kept:
            assert kept.status_code == 200, url
    assert "addEventListener(\"fetch\"" in body
    # The cache is named after the kept files' contents: a release that changes any of them
    # renews it on the phones (timestamps can survive a deployment unchanged).
    from api.pages.collector import OFFLINE_STATIC

    static = Path(__file__).resolve().parents[3] / "api" / "static"
    digest = hashlib.sha256()
    for name in (*OFFLINE_STATIC, "js/collector/sw.js"):
        digest.update((static / name).read_bytes())
    assert f'const VERSION = "{digest.hexdigest()[:16]}";' in body


def test_round_holds_only_what_is_addressed_to_my_organisation(crew, client):
    mine = declare(crew, G1, 1)
    other = declare(crew, G2, 1, 80_000)
    to_me = request_pickup(crew, G1, COLLECTOR, [mine])
    to_station = request_pickup(crew, G2, STATION, [other])
    log_in(client, "driver")
    round_ = client.get("/api/v1/collector/round").json
    assert [p["manifest"] for p in round_["pickups"]] == [to_me["manifest"]]
    pickup = round_["pickups"][0]
    assert pickup["from"] == G1 and pickup["from_name"] == "椒江小微企业1号"
    (card,) = pickup["batches"]
    assert card["code"] == mine and card["declared_mass_g"] == 120_000
    assert card["hazards"] == ["T"] and card["form"] == "solid" and card["holder"] == G1
    history = client.get(f"/api/v1/batches/{mine}").json["history"]
    assert card["head"] == {"seq": history[-1]["seq"], "leaf": history[-1]["leaf_hash"],
                            "t": history[-1]["t"]}
    text = json.dumps(round_, ensure_ascii=False)
    assert other not in text and to_station["manifest"] not in text and G2 not in text
    assert client.get(f"/api/v1/batches/{other}").status_code == 404

    client.post("/logout", data={"csrf_token": csrf_of(client.get("/collector/").get_data(
        as_text=True))})
    log_in(client, "station")
    round_ = client.get("/api/v1/collector/round").json
    assert [p["manifest"] for p in round_["pickups"]] == [to_station["manifest"]]
    assert mine not in json.dumps(round_)
    crew[G2].request("POST", f"/api/v1/pickups/{to_station['id']}/cancel")
    assert client.get("/api/v1/collector/round").json["pickups"] == []  # cancelled: gone


def test_round_lists_held_batches_with_open_handover_and_head(crew, client):
    code = declare(crew, G1, 1)
    manifest = request_pickup(crew, G1, COLLECTOR, [code])["manifest"]
    crew[G1].release(code, COLLECTOR, 120_000, manifest)
    log_in(client, "driver")
    card = client.get("/api/v1/collector/round").json["pickups"][0]["batches"][0]
    assert card["handover"] == {
        "from": G1, "from_name": "椒江小微企业1号", "to": COLLECTOR,
        "to_name": "台州市绿源环保收集有限公司", "manifest": manifest,
        "status": "awaiting_answer", "released_mass_g": 120_000, "accepted_mass_g": None,
        "refused_mass_g": None, "answer": None, "next": COLLECTOR, "mine": True}
    assert card["head"]["seq"] == 1
    crew[COLLECTOR].accept(code, G1, 119_500, manifest)
    round_ = client.get("/api/v1/collector/round").json
    (held,) = round_["held"]
    assert held["code"] == code and held["state"] == "stored" and held["mass_g"] == 119_500
    assert held["head"]["seq"] == 2 and held["handover"] is None
    assert {o["uscc"] for o in round_["receivers"]} >= {STATION, DISPOSER}
    assert COLLECTOR not in {o["uscc"] for o in round_["receivers"]}
    assert round_["vehicles"] == [{"plate": "浙J·D1234", "org": COLLECTOR}]
    assert round_["outgoing"] == [] and round_["incoming"] == []


def test_round_shows_own_reservations_and_releases_on_no_request(crew, client):
    """What the collector reserved to hand on is listed (to cancel it); a batch released to
    an organisation on no request it sees is still on its round, with who signs next."""
    code = declare(crew, G1, 1)
    manifest = request_pickup(crew, G1, COLLECTOR, [code])["manifest"]
    crew[G1].release(code, COLLECTOR, 120_000, manifest)
    crew[COLLECTOR].accept(code, G1, 120_000, manifest)
    onward = crew[COLLECTOR].request("POST", "/api/v1/pickups",
                                       {"collector": STATION, "batches": [code]})
    log_in(client, "driver")
    (out,) = client.get("/api/v1/collector/round").json["outgoing"]
    assert (out["id"], out["manifest"], out["to"], out["to_name"]) == (
        onward["id"], onward["manifest"], STATION, "椒江危废中转站")
    assert [b["code"] for b in out["batches"]] == [code]
    crew[COLLECTOR].request("POST", f"/api/v1/pickups/{onward['id']}/cancel")
    crew[COLLECTOR].release(code, STATION, 120_000, onward["manifest"])
    round_ = client.get("/api/v1/collector/round").json
    assert round_["outgoing"] == []
    (held,) = round_["held"]
    assert held["handover"]["next"] == STATION and held["handover"]["to_name"] == "椒江危废中转站"
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/collector/").get_data(
        as_text=True))})
    log_in(client, "station")
    round_ = client.get("/api/v1/collector/round").json
    assert round_["pickups"] == []
    (incoming,) = round_["incoming"]
    assert incoming["code"] == code and incoming["handover"]["mine"] is True


def test_a_holder_reserves_an_onward_manifest_for_the_disposer(crew, client):
    """Release onward: the collector holding a batch requests a pickup of the disposer; the
    reserved manifest appears on the disposer's round, never on the station's."""
    code = declare(crew, G1, 1)
    manifest = request_pickup(crew, G1, COLLECTOR, [code])["manifest"]
    crew[G1].release(code, COLLECTOR, 120_000, manifest)
    crew[COLLECTOR].accept(code, G1, 120_000, manifest)
    token = log_in(client, "driver")
    resp = client.post("/api/v1/pickups", json={"collector": DISPOSER, "batches": [code]},
                       headers={"X-CSRFToken": token})
    assert resp.status_code == 201, resp.json
    onward = resp.json["manifest"]
    assert onward != manifest
    client.post("/logout", data={"csrf_token": token})
    log_in(client, "disposer")
    round_ = client.get("/api/v1/collector/round").json
    assert [(p["manifest"], p["from"]) for p in round_["pickups"]] == [(onward, COLLECTOR)]
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/collector/").get_data(
        as_text=True))})
    log_in(client, "station")
    assert client.get("/api/v1/collector/round").json["pickups"] == []


def test_session_posts_need_the_csrf_token(crew, client):
    code = declare(crew, G1, 1)
    token = log_in(client, "driver")
    for path, body in (("/api/v1/pickups", {"collector": DISPOSER, "batches": [code]}),
                       ("/api/v1/keys", {"vkey": "x", "label": "手机"})):
        resp = client.post(path, json=body)
        assert resp.status_code == 403 and resp.json["code"] == "csrf_invalid", path
        resp = client.post(path, json=body, headers={"X-CSRFToken": "forged"})
        assert resp.status_code == 403 and resp.json["code"] == "csrf_invalid", path
    # Entries are authorised by their signature, not the cookie: a phone sending its offline
    # queue from a page whose token has expired still gets the ledger's own answer.
    resp = client.post("/api/v1/entries", data="not a note", content_type="text/plain",
                       headers={"X-CSRFToken": "stale"})
    assert resp.status_code == 422 and resp.json["code"] != "csrf_invalid"
    # With the token the other calls reach their checks (and fail on their own merits).
    resp = client.post("/api/v1/keys", json={"vkey": "x", "label": "手机"},
                       headers={"X-CSRFToken": token})
    assert resp.status_code == 422 and resp.json["errors"].get("vkey")


def test_child_code_is_free_and_bad_input_is_a_clear_error(crew, client):
    log_in(client, "driver")
    resp = client.get("/api/v1/collector/child-code?waste_code=900-039-49")
    assert resp.status_code == 200
    child = resp.json["code"]
    assert child.startswith(COLLECTOR + "90003949") and child.endswith("001")
    for bad in ("", "abc", "900-039-4", "90003949x", "９００03949"):
        resp = client.get("/api/v1/collector/child-code", query_string={"waste_code": bad})
        assert resp.status_code == 422, bad
        assert resp.json["code"] == "waste_code_malformed" and resp.json["message"]
    for path in ("/collector/?x=<script>", "/collector/scan?code=" + "9" * 5000):
        assert client.get(path).status_code == 200
    refused = client.get("/collector/scan?code=%00%ff")  # a control character: refused at the edge
    assert refused.status_code == 422 and refused.content_type.startswith("text/html")
    assert "U+0000" in refused.get_data(as_text=True)
    resp = client.get("/api/v1/collector/round", headers={"Authorization": "Bearer nonsense"})
    assert resp.status_code == 401
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/collector/").get_data(
        as_text=True))})
    log_in(client, "boss")
    # an enterprise reserves a code too: for the refused part it takes back (batch.refused_part)
    resp = client.get("/api/v1/collector/child-code?waste_code=90003949")
    assert resp.status_code == 200 and resp.json["code"].startswith(G1 + "90003949")


def test_every_module_a_kept_script_imports_is_kept_too():
    """Offline, a module whose import is not in the service worker's cache fails to load and
    takes the page's script with it (it happened when ledger.js began importing
    @noble/ed25519): the kept files' imports are closed under OFFLINE_STATIC."""
    from api.pages.collector import OFFLINE_STATIC

    static = Path(__file__).resolve().parents[3] / "api" / "static"
    kept = set(OFFLINE_STATIC)
    for name in kept:
        if not name.endswith(".js"):
            continue
        source = (static / name).read_text(encoding="utf-8")
        for target in re.findall(r'(?:from|import)\s*\(?\s*"(\.{1,2}/[^"]+)"', source):
            resolved = (static / name).parent.joinpath(target).resolve()
            assert resolved.relative_to(static).as_posix() in kept, (name, target)


def test_the_round_says_which_receivers_may_take_each_held_batch(crew, client):
    """Issue 13, the driver's 转交: as on the enterprise's pickup form, a receiver is offered
    for a batch only if a permit valid today covers its waste code (or an exemption row fits);
    the round carries, per receiver, the held batches it may take."""
    from ledger.custody.uscc import make_uscc

    unpermitted = make_uscc("331003", 202)
    crew.join(unpermitted, "无许可证的处置厂", "331003", ["disposer"])  # no permit at all
    code = declare(crew, G1, 1)
    manifest = request_pickup(crew, G1, COLLECTOR, [code])["manifest"]
    crew[G1].release(code, COLLECTOR, 120_000, manifest)
    crew[COLLECTOR].accept(code, G1, 120_000, manifest)
    log_in(client, "driver")
    takes = {o["uscc"]: o["takes"] for o in client.get("/api/v1/collector/round").json["receivers"]}
    assert takes[STATION] == [code] and takes[DISPOSER] == [code]  # HW49 on their permits
    assert takes[unpermitted] == []
    page = client.get("/collector/").get_data(as_text=True)
    assert 'id="release-not-offered"' in page and '"not_covered"' in page

"""Pickup requests (预约收集) and registering a device's own key, over the API."""

from __future__ import annotations

import pytest

from ledger.tlog.notes import Signer, VerifierKey
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    OUTSIDER,
    STATION,
    build_region,
    code_for,
    description,
)

GEN, OTHER = GENERATORS[0], GENERATORS[1]


def bearer(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token}"}


@pytest.fixture
def asked(app):
    r = build_region(app, generators=2)
    for serial in (1, 2, 3):
        r[GEN].declare(code_for(GEN, serial), description(10_000 * serial))
    r[OTHER].declare(code_for(OTHER, 1), description(5_000))
    return r


def test_a_request_reserves_a_manifest_and_carries_each_batch_head(app, client, asked):
    codes = [code_for(GEN, 1), code_for(GEN, 2)]
    resp = client.post("/api/v1/pickups", headers=bearer(asked[GEN]), json={
        "collector": COLLECTOR, "batches": codes, "wanted_on": "2026-12-01", "note": "下午来"})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["status"] == "open" and body["collector"] == COLLECTOR
    assert len(body["manifest"]) == 14 and body["manifest"][4:8] == "3310"
    assert [b["code"] for b in body["batches"]] == codes
    first = body["batches"][0]
    history = client.get(f"/api/v1/batches/{codes[0]}", headers=bearer(asked[GEN])).json
    # The stream head has the one shape the collector's round uses too.
    last = history["history"][-1]
    assert first["head"] == {"seq": 0, "leaf": last["leaf_hash"], "t": last["t"]}
    # The reserved number is the one both sides then sign: release and acceptance settle.
    asked[GEN].release(codes[0], COLLECTOR, 10_000, body["manifest"])
    asked[COLLECTOR].accept(codes[0], GEN, 10_000, body["manifest"])
    again = client.post("/api/v1/pickups", headers=bearer(asked[GEN]),
                        json={"collector": COLLECTOR, "batches": [code_for(GEN, 3)]}).json
    assert again["manifest"] > body["manifest"]  # never the same number twice


def test_the_collector_sees_requests_addressed_to_it_and_nobody_else_does(client, asked):
    client.post("/api/v1/pickups", headers=bearer(asked[GEN]),
                json={"collector": COLLECTOR, "batches": [code_for(GEN, 1)]})
    mine = client.get("/api/v1/pickups", headers=bearer(asked[COLLECTOR])).json["items"]
    assert [p["generator"] for p in mine] == [GEN]
    assert client.get("/api/v1/pickups", headers=bearer(asked[DISPOSER])).json["items"] == []
    assert client.get("/api/v1/pickups", headers=bearer(asked[OTHER])).json["items"] == []
    pid = mine[0]["id"]
    resp = client.get(f"/api/v1/pickups/{pid}", headers=bearer(asked[OTHER]))
    assert resp.status_code == 404 and resp.json["code"] == "pickup_not_found"
    # The collector may now see the requested batch (to show the driver what to fetch).
    resp = client.get(f"/api/v1/batches/{code_for(GEN, 1)}", headers=bearer(asked[COLLECTOR]))
    assert resp.status_code == 200


@pytest.mark.parametrize("body, code, field", [
    ({"collector": COLLECTOR, "batches": []}, "pickup_empty", "batches"),
    ({"collector": COLLECTOR, "batches": ["x" * 37]}, "batch_not_found", "batches"),
    ({"collector": COLLECTOR, "batches": [code_for(OTHER, 1)]}, "batch_not_found", "batches"),
    ({"collector": OUTSIDER, "batches": [code_for(GEN, 1)]}, "role_missing", "collector"),
    ({"collector": "9" * 18, "batches": [code_for(GEN, 1)]}, "org_unknown", "collector"),
    ({"collector": COLLECTOR, "batches": [code_for(GEN, 1)], "wanted_on": "2026-13-01"},
     "date_invalid", "wanted_on"),
    ({"collector": COLLECTOR, "batches": [code_for(GEN, 1)], "note": "长" * 201},
     "field_invalid", "note"),
    ({"collector": COLLECTOR, "batches": ["a"] * 201}, "pickup_too_many", "batches"),
])
def test_bad_requests_say_what_is_wrong_and_change_nothing(client, asked, body, code, field):
    resp = client.post("/api/v1/pickups", headers=bearer(asked[GEN]), json=body)
    assert resp.status_code in (403, 404, 409, 422)
    assert resp.json["code"] == code and field in resp.json["errors"]
    assert client.get("/api/v1/pickups?status=all",
                      headers=bearer(asked[GEN])).json["items"] == []


def test_a_batch_in_a_handover_cannot_be_requested(client, asked):
    asked[GEN].release(code_for(GEN, 1), COLLECTOR, 10_000, "20263310000009")
    resp = client.post("/api/v1/pickups", headers=bearer(asked[GEN]),
                       json={"collector": COLLECTOR, "batches": [code_for(GEN, 1)]})
    assert resp.status_code == 409 and resp.json["code"] == "batch_not_available"


def test_only_the_generator_cancels(client, asked):
    pid = client.post("/api/v1/pickups", headers=bearer(asked[GEN]),
                      json={"collector": COLLECTOR, "batches": [code_for(GEN, 1)]}).json["id"]
    resp = client.post(f"/api/v1/pickups/{pid}/cancel", headers=bearer(asked[COLLECTOR]))
    assert resp.status_code == 403 and resp.json["code"] == "pickup_not_yours"
    resp = client.post(f"/api/v1/pickups/{pid}/cancel", headers=bearer(asked[GEN]))
    assert resp.json["status"] == "cancelled"
    assert client.get("/api/v1/pickups", headers=bearer(asked[COLLECTOR])).json["items"] == []


def test_a_device_key_registered_over_the_api_signs_for_its_organisation(app, client, asked):
    device = Signer.generate("web-gen-phone")
    resp = client.post("/api/v1/keys", headers=bearer(asked[GEN]),
                       json={"vkey": device.verifier.vkey, "label": "王师傅的手机"})
    assert resp.status_code == 201, resp.json
    assert resp.json["fingerprint"] == device.verifier.fingerprint
    assert resp.json["org"] == GEN and resp.json["label"] == "王师傅的手机"
    # The key is now in the log, registered to GEN: an entry it signs is accepted.
    asked[GEN].key = device
    asked[GEN].declare(code_for(GEN, 7), description(1_000))
    again = client.post("/api/v1/keys", headers=bearer(asked[GEN]),
                        json={"vkey": device.verifier.vkey, "label": "again"})
    assert again.status_code == 409


@pytest.mark.parametrize("vkey, code", [
    ("not-a-vkey", "vkey_malformed"),
    ("bad name+00000000+AQ==", "key_name_invalid"),
    # The identity point, a point of order 8 with the sign bit set, and y = p + 1 (the
    # identity again, non-canonical): keys for which signatures can be made without a secret.
    (VerifierKey("phone", bytes.fromhex("01" + "00" * 31)).vkey, "vkey_weak"),
    (VerifierKey("phone", bytes.fromhex(
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85")).vkey, "vkey_weak"),
    (VerifierKey("phone", bytes.fromhex("ee" + "ff" * 30 + "7f")).vkey, "vkey_weak"),
])
def test_malformed_device_keys_are_refused(client, asked, vkey, code):
    keys = client.get(f"/api/v1/keys?org={GEN}").json["items"]
    resp = client.post("/api/v1/keys", headers=bearer(asked[GEN]),
                       json={"vkey": vkey, "label": "x"})
    assert resp.status_code == 422 and resp.json["code"] == code
    assert "vkey" in resp.json["errors"]
    assert client.get(f"/api/v1/keys?org={GEN}").json["items"] == keys


def test_registering_a_key_needs_a_log_in(client, asked):
    resp = client.post("/api/v1/keys", json={"vkey": Signer.generate("x").verifier.vkey,
                                             "label": "x"})
    assert resp.status_code == 401


def test_a_batch_is_on_one_open_request_at_a_time(client, asked):
    body = {"collector": COLLECTOR, "batches": [code_for(GEN, 1), code_for(GEN, 2)]}
    assert client.post("/api/v1/pickups", headers=bearer(asked[GEN]), json=body).status_code \
        == 201
    resp = client.post("/api/v1/pickups", headers=bearer(asked[GEN]), json={
        "collector": STATION, "batches": [code_for(GEN, 2)]})
    assert resp.status_code == 409 and resp.json["code"] == "batch_already_requested"
    first = client.get("/api/v1/pickups?status=open", headers=bearer(asked[GEN])).json
    manifest = first["items"][0]["manifest"]
    assert manifest in resp.json["message"]  # which request to cancel is named


def test_a_request_is_done_and_shows_nothing_more_once_its_batches_have_left(client, asked):
    """Asked of one collector, released to another: the first sees no more of the batch."""
    code = code_for(GEN, 1)
    pickup = client.post("/api/v1/pickups", headers=bearer(asked[GEN]),
                         json={"collector": COLLECTOR, "batches": [code]}).json
    asked[GEN].release(code, STATION, 10_000, "20263310000077")
    # Still with the generator (the release awaits the station's answer): still to fetch.
    assert client.get(f"/api/v1/pickups/{pickup['id']}",
                      headers=bearer(asked[GEN])).json["status"] == "open"
    asked[STATION].accept(code, GEN, 10_000, "20263310000077")
    assert client.get(f"/api/v1/pickups/{pickup['id']}",
                      headers=bearer(asked[GEN])).json["status"] == "done"
    assert client.get("/api/v1/pickups", headers=bearer(asked[COLLECTOR])).json["items"] == []
    done = client.get("/api/v1/pickups?status=done", headers=bearer(asked[COLLECTOR]))
    assert [p["id"] for p in done.json["items"]] == [pickup["id"]]
    resp = client.get(f"/api/v1/batches/{code}", headers=bearer(asked[COLLECTOR]))
    assert resp.status_code == 404  # the competitor's custody is not the collector's business
    assert client.get("/api/v1/collector/round",
                      headers=bearer(asked[COLLECTOR])).json["pickups"] == []


@pytest.mark.parametrize("path", ["/api/v1/pickups/99999999999999999999999",
                                  "/api/v1/pickups/0"])
def test_ids_that_cannot_exist_are_not_found(client, asked, path):
    resp = client.get(path, headers=bearer(asked[GEN]))
    assert resp.status_code == 404 and resp.json["code"] == "pickup_not_found"
    resp = client.post(path + "/cancel", headers=bearer(asked[GEN]))
    assert resp.status_code == 404


def test_a_request_carries_the_pickup_address_and_a_too_long_one_is_refused(client, asked):
    code = code_for(GEN, 1)
    too_long = client.post("/api/v1/pickups", headers=bearer(asked[GEN]), json={
        "collector": COLLECTOR, "batches": [code], "address": "路" * 201})
    assert too_long.status_code == 422 and too_long.json["code"] == "field_invalid"
    assert list(too_long.json["errors"]) == ["address"]
    assert client.get("/api/v1/pickups", headers=bearer(asked[GEN])).json["items"] == []
    made = client.post("/api/v1/pickups", headers=bearer(asked[GEN]), json={
        "collector": COLLECTOR, "batches": [code], "address": " 椒江区东海大道 1 号 "}).json
    assert made["address"] == "椒江区东海大道 1 号"
    (seen,) = client.get("/api/v1/pickups", headers=bearer(asked[COLLECTOR])).json["items"]
    assert seen["address"] == "椒江区东海大道 1 号"

"""Whole lifecycles through the HTTP API, on SQLite and PostgreSQL: a generator, a collector,
a transfer station and a disposer, each signing with its own key."""

from __future__ import annotations

import pytest

from ledger.tlog.checkpoints import verify_tlog_proof
from ledger.tlog.notes import parse_vkey
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    DISPOSER_PERMIT,
    GENERATORS,
    OUTSIDER,
    REGULATOR,
    STATION,
    code_for,
    description,
    manifest,
)

GEN = GENERATORS[0]
PERMIT = DISPOSER_PERMIT


def operator_key(client):
    cp = client.get("/api/v1/checkpoint").get_data()
    return cp


def test_generator_to_disposer_with_a_partial_refusal(app, client, district):
    code = code_for(GEN, 1)
    receipt = district[GEN].declare(code, description(120_000))
    from api.runtime import log_config

    with app.app_context():
        operator = log_config().operator.verifier
    note = client.get(f"/api/v1/entries?start={receipt['index']}&limit=1")
    assert note.status_code == 401  # the raw log is for regulators
    district[GEN].release(code, COLLECTOR, 120_000, manifest(1), vehicle="浙J·D1234")
    district[COLLECTOR].accept(code, GEN, 119_500, manifest(1))
    district[COLLECTOR].release(code, DISPOSER, 119_500, manifest(2))
    district[DISPOSER].refuse(code, COLLECTOR, manifest(2), "两桶渗漏，拒收", refused_mass_g=19_500)
    district[DISPOSER].dispose(code, "disposal", "D10", PERMIT, 100_000)
    detail = district[GEN].batch(code)
    assert detail["state"] == "disposed" and detail["holder"] == DISPOSER
    assert [h["status"] for h in detail["handovers"]] == ["confirmed", "confirmed"]
    assert detail["handovers"][1]["refused_mass_g"] == 19_500
    assert detail["disposal"]["mass_g"] == 100_000
    assert [e["kind"] for e in detail["history"]] == [
        "batch.declared", "custody.released", "custody.accepted", "custody.released",
        "custody.refused", "custody.disposed"]
    assert all(e["verified"] for e in detail["history"])
    raw = district[REGULATOR].request("GET", f"/api/v1/entries?start={receipt['index']}&limit=1")
    assert verify_tlog_proof(receipt["proof"], raw["entries"][0]["note"].encode(), operator)


def test_twenty_batches_consolidated_into_one_drum_attributed_back(district):
    codes = []
    for i, g in enumerate(GENERATORS[:20]):
        code = code_for(g, 1)
        mass = 4_000 + 250 * i
        district[g].declare(code, description(mass))
        district[g].release(code, COLLECTOR, mass, manifest(100 + i))
        district[COLLECTOR].accept(code, g, mass, manifest(100 + i))
        codes.append((code, mass))
    total = sum(m for _, m in codes)
    # the collector takes them to the transfer station, which pours them into one drum
    for code, mass in codes:  # loaded at the collector's yard...
        district[COLLECTOR].release(code, STATION, mass, manifest(200))
    for code, mass in codes:  # ...weighed in at the station
        district[STATION].accept(code, COLLECTOR, mass, manifest(200))
    drum = code_for(STATION, 1)
    district[STATION].consolidate(drum, codes, {**description(total), "name": "废活性炭（合并）"})
    district[STATION].release(drum, DISPOSER, total, manifest(300))
    district[DISPOSER].accept(drum, STATION, total, manifest(300))
    district[DISPOSER].dispose(drum, "utilisation", "R4", PERMIT, total)
    drum_detail = district[STATION].batch(drum)
    assert len(drum_detail["parents"]) == 20
    for (code, mass), g in zip(codes, GENERATORS[:20], strict=True):
        mine = district[g].batch(code)
        assert mine["state"] == "consolidated"
        assert mine["children"] == [{"code": drum, "mass_g": mass}]
        assert mine["attributed_disposals"] == [{"via": drum, "method": "utilisation",
                                                 "mass_g": mass, "t": mine[
                                                     "attributed_disposals"][0]["t"]}]


def test_visibility_of_batches(district):
    code = code_for(GEN, 1)
    district[GEN].declare(code, description(1000))
    other = code_for(GENERATORS[1], 1)
    district[GENERATORS[1]].declare(other, description(1000))
    assert district[GEN].batch(code)["code"] == code
    from ledger.tlog.client import ApiError

    with pytest.raises(ApiError) as err:
        district[GEN].batch(other)  # another organisation's batch
    assert err.value.status == 404
    with pytest.raises(ApiError):
        district[OUTSIDER].batch(code)
    assert district[REGULATOR].batch(code)["code"] == code  # the district regulator sees it
    mine = district[GEN].request("GET", "/api/v1/batches")
    assert [b["code"] for b in mine["items"]] == [code]
    all_ = district[REGULATOR].request("GET", "/api/v1/batches?limit=1")
    assert len(all_["items"]) == 1 and all_["next_cursor"]
    rest = district[REGULATOR].request(
        "GET", f"/api/v1/batches?limit=5&cursor={all_['next_cursor']}")
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None


def test_receiver_signs_first_then_holder(district):
    code = code_for(GEN, 2)
    district[GEN].declare(code, description(5000))
    pickup = district[GEN].request("POST", "/api/v1/pickups",
                                 {"collector": COLLECTOR, "batches": [code]})
    district[COLLECTOR].accept(code, GEN, 5000, pickup["manifest"])  # the driver signs first
    assert district[GEN].batch(code)["state"] == "pending"
    district[GEN].release(code, COLLECTOR, 5000, pickup["manifest"])
    assert district[COLLECTOR].batch(code)["holder"] == COLLECTOR


def test_public_registers_and_catalogue(client, district):
    orgs = client.get("/api/v1/organisations?limit=500").json["items"]
    assert {o["uscc"] for o in orgs} >= {GEN, COLLECTOR, DISPOSER}
    org = client.get(f"/api/v1/organisations/{DISPOSER}").json
    assert org["permits"][0]["activities"] == ["store", "utilise", "dispose"]
    assert parse_vkey(org["keys"][0]["vkey"]).fingerprint == org["keys"][0]["fingerprint"]
    found = client.get("/api/v1/catalogue?q=活性炭").json["items"]
    assert "900-039-49" in [w["code"] for w in found]
    assert client.get("/api/v1/catalogue/90003949").json["category_name"] == "其他废物"


def test_manifest_closes_when_every_batch_is_answered(district):
    a, b = code_for(GEN, 3), code_for(GEN, 4)
    for c in (a, b):
        district[GEN].declare(c, description(1000))
        district[GEN].release(c, COLLECTOR, 1000, manifest(50))
    m = district[COLLECTOR].request("GET", f"/api/v1/manifests/{manifest(50)}")
    assert not m["closed"] and len(m["handovers"]) == 2
    district[COLLECTOR].accept(a, GEN, 1000, manifest(50))
    district[COLLECTOR].refuse(b, GEN, manifest(50), "包装破损")
    assert district[GEN].request("GET", f"/api/v1/manifests/{manifest(50)}")["closed"]
    assert district[GEN].batch(b)["state"] == "refused"


def test_correction_signed_by_both_parties_on_their_own_devices(district):
    code = code_for(GEN, 5)
    district[GEN].declare(code, description(50_000))
    district[GEN].release(code, COLLECTOR, 50_000, manifest(60))
    accepted = district[COLLECTOR].accept(code, GEN, 5_000, manifest(60))  # a slipped digit
    assert district[GEN].batch(code)["handovers"][0]["discrepancy"]
    note = district[COLLECTOR].sign_correction(code, accepted["leaf_hash"], 50_000, "少录一个零")
    from ledger.tlog.client import ApiError

    with pytest.raises(ApiError) as err:
        district[COLLECTOR].post_note(note)  # the generator has not agreed yet
    assert (err.value.status, err.value.code) == (403, "cosignature_missing")
    district[COLLECTOR].post_note(district[GEN].cosign(note))
    detail = district[GEN].batch(code)
    assert detail["handovers"][0]["accepted_mass_g"] == 50_000
    assert not detail["handovers"][0]["discrepancy"]
    assert detail["history"][-1]["kind"] == "custody.corrected"
    assert all(e["verified"] for e in detail["history"])


def test_split_one_batch_into_two(district):
    code = code_for(GEN, 6)
    district[GEN].declare(code, description(100_000))
    district[GEN].release(code, COLLECTOR, 100_000, manifest(70))
    district[COLLECTOR].accept(code, GEN, 100_000, manifest(70))
    a, b = code_for(COLLECTOR, 11), code_for(COLLECTOR, 12)
    district[COLLECTOR].consolidate(a, [(code, 60_000)], description(60_000))
    district[COLLECTOR].consolidate(b, [(code, 40_000)], description(40_000))
    parent = district[GEN].batch(code)
    assert parent["state"] == "consolidated"
    assert sorted(c["mass_g"] for c in parent["children"]) == [40_000, 60_000]
    assert district[COLLECTOR].batch(a)["parents"] == [{"code": code, "mass_g": 60_000}]

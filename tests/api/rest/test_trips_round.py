"""What the phone downloads for the manifest's parties (the round), on both databases: the
carrier (承运人) sees the trips it is named on with each batch's stream head and which part
each party signed; the receiver sees the same trip read-only; the 移出人 sees the refused part
of a partial refusal still to take back, with what batch.refused_part needs to name, and may
reserve the part's code (also as an enterprise)."""

from __future__ import annotations

import pytest

from api.demo.seed import CARRIER_SERIAL, DISTRICT, make_uscc, seed_demo
from api.extensions import db
from ledger.custody import access
from ledger.custody.projections import Batch, Handover
from ledger.tlog.client import ApiError
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    build_region,
    code_for,
    description,
    manifest,
)

GEN = GENERATORS[0]
CARRIER = make_uscc("331002", 2004)
PLATE = "浙J·Y6001"


def carried_region(app):
    region = build_region(app, generators=1)
    region.join(CARRIER, "台州市安运危险货物运输有限公司", "331002", ["transporter"],
                vehicles=(PLATE,))
    code = code_for(GEN, 1)
    region[GEN].declare(code, description(120_000))
    region[GEN].act("custody.released", code, {
        "to": DISPOSER, "mass_g": 120_000, "manifest": manifest(1), "carrier": CARRIER,
        "vehicle": PLATE})
    return region, code


def trip(client, number):
    trips = client.request("GET", "/api/v1/collector/round")["trips"]
    return next(t for t in trips if t["manifest"] == number)


def test_the_carrier_sees_its_trip_and_every_party_sees_who_signed(app):
    region, code = carried_region(app)
    mine = trip(region[CARRIER], manifest(1))
    assert mine["role"] == "carrier" and mine["origin"] == GEN
    [b] = mine["batches"]
    assert (b["code"], b["status"], b["departed_t"], b["arrived_t"]) == (
        code, "awaiting_answer", None, None)
    assert b["released_t"] and b["head"]["seq"] == 1
    region[CARRIER].act("custody.carried", code, {"manifest": manifest(1), "event": "departed",
                                                  "vehicle": PLATE, "driver": "赵建国"})
    region[CARRIER].act("custody.carried", code, {"manifest": manifest(1), "event": "arrived"})
    seen = trip(region[DISPOSER], manifest(1))
    assert seen["role"] == "destination" and seen["driver"] == "赵建国"
    [b] = seen["batches"]
    assert b["departed_t"] and b["arrived_t"] and b["answer"] is None
    assert b["head"] is None  # only the carrier signs from the trip list
    # a collector that is no party of the trip does not see it
    assert all(t["manifest"] != manifest(1)
               for t in region[COLLECTOR].request("GET", "/api/v1/collector/round")["trips"])


def test_the_releaser_sees_the_refused_part_to_take_back(app):
    region, code = carried_region(app)
    refusal = region[DISPOSER].refuse(code, GEN, manifest(1), "一袋破损",
                                      refused_mass_g=15_000)
    # the enterprise may reserve the part's code (as a collector reserves a drum's)
    part = region[GEN].request("GET", "/api/v1/collector/child-code?waste_code=900-039-49")
    assert part["code"].startswith(GEN + "90003949")
    # a collector 移出人 sees it on its round; the trip shows the partial refusal
    seen = trip(region[CARRIER], manifest(1))
    assert seen["batches"][0]["answer"] == "partly_refused"
    assert seen["batches"][0]["refused_mass_g"] == 15_000
    region[GEN].act("batch.refused_part", part["code"], {
        "parent": code, "refusal": refusal["leaf_hash"], "mass_g": 15_000})
    assert region[GEN].batch(part["code"])["state"] == "declared"


def test_a_collector_releaser_has_its_refused_part_on_the_round(app):
    region = build_region(app, generators=1)
    code = code_for(GEN, 1)
    region[GEN].declare(code, description(120_000))
    pickup = region[GEN].request("POST", "/api/v1/pickups", {"collector": COLLECTOR,
                                                             "batches": [code]})
    region[GEN].release(code, COLLECTOR, 120_000, pickup["manifest"])
    region[COLLECTOR].accept(code, GEN, 120_000, pickup["manifest"])
    assert region[COLLECTOR].request("GET", "/api/v1/collector/round")["refused_parts"] == []
    region[COLLECTOR].release(code, DISPOSER, 120_000, manifest(7))
    refusal = region[DISPOSER].refuse(code, COLLECTOR, manifest(7), "含水过多",
                                      refused_mass_g=20_000)
    [part] = region[COLLECTOR].request("GET", "/api/v1/collector/round")["refused_parts"]
    assert (part["batch"], part["to"], part["refused_mass_g"], part["refusal"]) == (
        code, DISPOSER, 20_000, refusal["leaf_hash"])
    assert part["reason"] == "含水过多" and part["hazardous"] is True
    # the disposer, which refused, has nothing to take back
    assert region[DISPOSER].request("GET", "/api/v1/collector/round")["refused_parts"] == []


def test_the_demo_trip_is_signed_with_the_kinds_the_pages_sign(app):
    """The demo district's carried trip (seed.py ``_carried_trip``) is what the pages make: the
    carrier's custody.carried (departed with vehicle and driver, then arrived) on each batch,
    and the partial refusal taken back by the enterprise with batch.refused_part, so nothing
    is left for it to take back and the part is 待收集 with it."""
    seed_demo(app, enterprises=3, months=2)
    carrier = make_uscc(DISTRICT, CARRIER_SERIAL)
    with app.app_context():
        generator = db.session.scalars(db.select(access.User.org).where(
            access.User.username == "generator")).one()
        assert db.session.scalars(db.select(access.User.org).where(
            access.User.username == "carrier")).one() == carrier
        token = access.issue_token(db.session, carrier, "test")
        part = db.session.scalars(db.select(Handover.refused_part).where(
            Handover.refused_part.is_not(None))).one()
        b = db.session.get(Batch, part)
        assert (b.holder, b.state) == (generator, "declared")
        db.session.remove()
    client = app.test_client()
    got = client.get("/api/v1/collector/round", headers={"Authorization": f"Bearer {token}"})
    [trip] = got.get_json()["trips"]
    assert trip["role"] == "carrier" and trip["origin"] == generator
    assert all(x["departed_t"] and x["arrived_t"] and x["answer"] for x in trip["batches"])
    assert {x["answer"] for x in trip["batches"]} == {"accepted", "partly_refused"}
    assert got.get_json()["refused_parts"] == []


def test_a_return_to_the_enterprise_is_reserved_like_a_trip(app):
    """A holder reserves the manifest of a return (退回) with a pickup request addressed to the
    enterprise that made its refused batches; to an enterprise otherwise it is role_missing."""
    region = build_region(app, generators=2)
    code = code_for(GEN, 1)
    region[GEN].declare(code, description(120_000))
    pickup = region[GEN].request("POST", "/api/v1/pickups", {"collector": COLLECTOR,
                                                             "batches": [code]})
    region[GEN].release(code, COLLECTOR, 120_000, pickup["manifest"])
    region[COLLECTOR].accept(code, GEN, 120_000, pickup["manifest"])
    # not refused: an enterprise cannot be asked to fetch it
    with pytest.raises(ApiError) as refused:
        region[COLLECTOR].request("POST", "/api/v1/pickups", {"collector": GEN,
                                                              "batches": [code]})
    assert (refused.value.status, refused.value.code) == (403, "role_missing")
    region[COLLECTOR].release(code, DISPOSER, 120_000, manifest(7))
    region[DISPOSER].refuse(code, COLLECTOR, manifest(7), "标签与实物不符")
    # refused, back to another enterprise: still role_missing
    with pytest.raises(ApiError) as other:
        region[COLLECTOR].request("POST", "/api/v1/pickups", {"collector": GENERATORS[1],
                                                              "batches": [code]})
    assert (other.value.status, other.value.code) == (403, "role_missing")
    back = region[COLLECTOR].request("POST", "/api/v1/pickups",
                                     {"collector": GEN, "batches": [code]})
    region[COLLECTOR].release(code, GEN, 120_000, back["manifest"])
    region[GEN].accept(code, COLLECTOR, 120_000, back["manifest"])
    assert region[GEN].batch(code)["state"] == "declared"

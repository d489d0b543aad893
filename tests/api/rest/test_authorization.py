"""Authorization defects of issue 11, over HTTP on both databases: the log, manifests and
drafts scoped to what the caller may see; permits only within a regulator's region; manifest
numbers that one party can neither take from others nor exhaust."""

from __future__ import annotations

import pytest

from ledger.custody.uscc import make_uscc
from ledger.tlog.client import ApiError
from ledger.tlog.rules import org_stream
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER_PERMIT,
    GENERATORS,
    OUTSIDER,
    REGULATOR,
    TODAY,
    build_region,
    code_for,
    description,
)

GEN, GEN2 = GENERATORS[0], GENERATORS[1]
FAR_REGULATOR = make_uscc("330100", 900)  # 杭州: another city's regulator


@pytest.fixture
def far_reg(app):
    r = build_region(app, generators=2)
    r.join(FAR_REGULATOR, "杭州市生态环境局", "330100", ["regulator"])
    return r


def _trip(far_reg, serial: int = 1) -> tuple[str, str]:
    """A batch of GEN fetched by the collector on a requested pickup; (code, manifest)."""
    code = code_for(GEN, serial)
    far_reg[GEN].declare(code, description(50_000))
    pickup = far_reg[GEN].request("POST", "/api/v1/pickups",
                                 {"collector": COLLECTOR, "batches": [code]})
    far_reg[GEN].release(code, COLLECTOR, 50_000, pickup["manifest"], vehicle="浙J·D1234")
    far_reg[COLLECTOR].accept(code, GEN, 50_000, pickup["manifest"])
    return code, pickup["manifest"]


def _root(client) -> str:
    return client.get("/api/v1/checkpoint").get_data(as_text=True).split("\n")[2]


def test_another_regions_regulator_reads_only_the_registry_of_the_log(far_reg):
    code, _ = _trip(far_reg)
    near = far_reg[REGULATOR].request("GET", "/api/v1/entries?start=0&limit=1000")
    far = far_reg[FAR_REGULATOR].request("GET", "/api/v1/entries?start=0&limit=1000")
    assert near["size"] == far["size"]
    assert sum(code in e["note"] for e in near["entries"]) == 3  # declared, released, accepted
    assert not any(code in e["note"] for e in far["entries"])
    assert all(" org:" in e["note"] or '"stream":"org:' in e["note"]
               for e in far["entries"][1:])  # only the public register
    with pytest.raises(ApiError) as err:
        far_reg[GEN].request("GET", "/api/v1/entries")
    assert err.value.status == 403


def test_manifests_are_scoped_to_the_callers_trips_or_region(far_reg):
    _, number = _trip(far_reg)
    assert [m["number"] for m in far_reg[REGULATOR].request(
        "GET", "/api/v1/manifests")["items"]] == [number]
    assert far_reg[FAR_REGULATOR].request("GET", "/api/v1/manifests")["items"] == []
    assert far_reg[GEN2].request("GET", "/api/v1/manifests")["items"] == []
    for other in (FAR_REGULATOR, GEN2, OUTSIDER):
        with pytest.raises(ApiError) as err:
            far_reg[other].request("GET", f"/api/v1/manifests/{number}")
        assert err.value.status == 404 and err.value.code == "manifest_not_found"
    assert far_reg[COLLECTOR].request("GET", f"/api/v1/manifests/{number}")["number"] == number


def test_a_draft_for_a_batch_you_cannot_see_is_404_and_tells_nothing(far_reg):
    code = code_for(GEN, 1)
    far_reg[GEN].declare(code, description(50_000))
    for other in (GEN2, OUTSIDER, FAR_REGULATOR, COLLECTOR):
        with pytest.raises(ApiError) as err:
            far_reg[other].draft("custody.accepted", code,
                                {"from": GEN, "mass_g": 1, "manifest": "20263310000001"})
        assert err.value.status == 404 and err.value.code == "batch_not_found"
        assert "prev" not in str(err.value.body) and "seq" not in str(err.value.body)
    assert far_reg[GEN].draft("custody.released", code, {"to": COLLECTOR, "mass_g": 1,
                                                         "manifest": "20263310000001"})


def test_a_regulator_grants_permits_only_within_its_region(far_reg, client):
    permit = {"number": "杭危废经第0001号", "valid_from": "2026-01-01", "valid_to": "2030-12-31",
              "codes": ["HW49"], "activities": ["collect"], "capacity_t": 100}
    before = _root(client)
    with pytest.raises(ApiError) as err:
        far_reg[FAR_REGULATOR].act("permit.granted", org_stream(COLLECTOR), permit)
    assert err.value.status == 403 and err.value.code == "permit_out_of_region"
    assert _root(client) == before
    far_reg[REGULATOR].act("permit.granted", org_stream(COLLECTOR),
                          {**permit, "number": "台危废经第0002号"})
    numbers = [p["number"] for p in client.get(
        f"/api/v1/permits?org={COLLECTOR}").json["items"]]
    assert "台危废经第0002号" in numbers and "杭危废经第0001号" not in numbers
    assert DISPOSER_PERMIT  # the district's own permits are untouched


@pytest.mark.parametrize(("number", "code"), [
    ("20264410000001", "manifest_region_invalid"),  # Guangdong, not Zhejiang
    ("20993310000001", "manifest_year_invalid"),
    ("20193310000001", "manifest_year_invalid"),
])
def test_releases_name_manifests_of_their_province_and_year(far_reg, client, number, code):
    number = number.replace("2026", str(TODAY.year))
    batch = code_for(GEN, 1)
    far_reg[GEN].declare(batch, description(50_000))
    before = _root(client)
    with pytest.raises(ApiError) as err:
        far_reg[GEN].release(batch, COLLECTOR, 50_000, number, vehicle="浙J·D1234")
    assert err.value.status == 422 and err.value.code == code
    assert _root(client) == before


def test_one_release_cannot_exhaust_or_take_the_citys_manifest_numbers(far_reg, client):
    top = f"{TODAY.year}3310999999"
    a = code_for(GEN2, 1)
    far_reg[GEN2].declare(a, description(50_000))
    far_reg[GEN2].release(a, COLLECTOR, 50_000, top, vehicle="浙J·D1234")  # provincial form
    b = code_for(GEN, 1)
    far_reg[GEN].declare(b, description(50_000))
    pickup = far_reg[GEN].request("POST", "/api/v1/pickups",
                                 {"collector": COLLECTOR, "batches": [b]})
    assert pickup["manifest"] != top and pickup["manifest"].startswith(f"{TODAY.year}3310")
    # The number reserved for GEN -> COLLECTOR cannot be used by anyone else.
    c = code_for(GEN2, 2)
    far_reg[GEN2].declare(c, description(50_000))
    before = _root(client)
    with pytest.raises(ApiError) as err:
        far_reg[GEN2].release(c, COLLECTOR, 50_000, pickup["manifest"], vehicle="浙J·D1234")
    assert err.value.code == "manifest_reserved"
    assert _root(client) == before


def test_reservations_per_organisation_are_rate_limited(database, tmp_path):
    from tests.conftest import initialised_app

    with initialised_app(database, tmp_path, PICKUP_LIMIT_PER_ORG="2 per hour") as app:
        r = build_region(app, generators=2)
        codes = [code_for(GEN, n) for n in (1, 2, 3)]
        for code in codes:
            r[GEN].declare(code, description(10_000))
        for code in codes[:2]:
            r[GEN].request("POST", "/api/v1/pickups", {"collector": COLLECTOR,
                                                       "batches": [code]})
        with pytest.raises(ApiError) as err:
            r[GEN].request("POST", "/api/v1/pickups", {"collector": COLLECTOR,
                                                       "batches": [codes[2]]})
        assert err.value.status == 429 and err.value.code == "pickups_throttled"
        assert len(r[GEN].request("GET", "/api/v1/pickups")["items"]) == 2
        other = code_for(GEN2, 1)  # another organisation is not affected
        r[GEN2].declare(other, description(10_000))
        r[GEN2].request("POST", "/api/v1/pickups", {"collector": COLLECTOR,
                                                    "batches": [other]})


def test_an_early_answer_does_not_stop_the_holders_next_pickup_request(far_reg):
    code = code_for(GEN, 1)
    far_reg[GEN].declare(code, description(50_000))
    first = far_reg[GEN].request("POST", "/api/v1/pickups",
                                {"collector": COLLECTOR, "batches": [code]})
    far_reg[COLLECTOR].accept(code, GEN, 50_000, first["manifest"])  # the driver signs first
    far_reg[GEN].request("POST", f"/api/v1/pickups/{first['id']}/cancel")
    second = far_reg[GEN].request("POST", "/api/v1/pickups",
                                 {"collector": COLLECTOR, "batches": [code]})
    assert second["status"] == "open"

"""The manifest's three parties over HTTP, on SQLite and PostgreSQL: a transport company that
only carries signs its leg; a partial refusal is shown to the 移出人 (its pages and the API) and
to the regulator; the refused part returns to its enterprise with a signed entry; the manifest
prints as a PDF in the national form's layout (read back with pdftotext), scoped like the
manifest."""

from __future__ import annotations

import subprocess

import pytest

from ledger.custody.uscc import make_uscc
from ledger.tlog.client import ApiError
from tests.api.lifecycle import DISPOSER, GENERATORS, REGULATOR, code_for, description, manifest
from tests.api.logins import log_in_as, region_with_people

G1, G2 = GENERATORS[0], GENERATORS[1]
CARRIER = make_uscc("331002", 301)
PLATE = "浙J·Y5678"
PASSWORD = "correct horse battery"


@pytest.fixture
def carried_trip(app):
    """G1 sends two batches (two codes) to the disposer on one manifest, carried by a
    transport company; the disposer refuses 20 kg of the first and accepts the second."""
    r = region_with_people(app, {"boss": G1, "other": G2, "reg": REGULATOR}, PASSWORD)
    r.join(CARRIER, "台州危运物流有限公司", "331002", ["transporter"], vehicles=(PLATE,))
    first, second = code_for(G1, 1), code_for(G1, 2, "90004149")
    r[G1].declare(first, description(120_000))
    r[G1].declare(second, description(80_000, "900-041-49", "废弃包装物"))
    number = manifest(1)
    for code, mass in ((first, 120_000), (second, 80_000)):
        r[G1].act("custody.released", code, {"to": DISPOSER, "mass_g": mass, "manifest": number,
                                              "carrier": CARRIER, "vehicle": PLATE})
        r[CARRIER].act("custody.carried", code, {"manifest": number, "event": "departed",
                                                 "vehicle": PLATE, "driver": "王师傅"})
        r[CARRIER].act("custody.carried", code, {"manifest": number, "event": "arrived"})
    refusal = r[DISPOSER].refuse(first, G1, number, "两桶渗漏", refused_mass_g=20_000)
    r[DISPOSER].accept(second, G1, 80_000, number)
    return r, number, first, second, refusal


def test_a_carrier_that_only_carries_signs_its_leg_over_http(carried_trip):
    r, number, first, second, _ = carried_trip
    body = r[CARRIER].request("GET", f"/api/v1/manifests/{number}")
    assert (body["origin"], body["carrier"], body["destination"]) == (G1, CARRIER, DISPOSER)
    assert {h["batch"] for h in body["handovers"]} == {first, second}
    assert r[G1].batch(first)["holder"] == DISPOSER  # the carrier never held it
    with pytest.raises(ApiError) as err:  # a party not named as carrier
        r[G2].act("custody.carried", second, {"manifest": number, "event": "arrived"})
    assert err.value.status in (403, 404)


def test_refusals_and_discrepancies_reach_the_releaser_and_the_regulator(carried_trip, client):
    r, number, first, _, _ = carried_trip
    alerts = r[G1].request("GET", "/api/v1/alerts")["items"]
    assert [(a["batch"], a["what"], a["refused_g"], a["reason"]) for a in alerts] == [
        (first, "partly_refused", 20_000, "两桶渗漏")]
    assert r[G2].request("GET", "/api/v1/alerts")["items"] == []  # not its batch
    log_in_as(client, "boss", PASSWORD)
    page = client.get("/generator/").get_data(as_text=True)
    assert "部分拒收" in page and "两桶渗漏" in page and number in page
    client2 = r.app.test_client()
    log_in_as(client2, "reg", PASSWORD)
    page = client2.get(f"/regulator/manifests/{number}").get_data(as_text=True)
    assert "部分拒收" in page and "两桶渗漏" in page and "王师傅" in page
    assert "承运（承运人签名）" in page


def test_the_partial_refusal_notifies_the_releaser(carried_trip):
    r, number, first, _, refusal = carried_trip
    items = r[G1].request("GET", "/api/v1/notifications")["items"]
    told = [i for i in items if i["event"] == "handover.refused_or_different"]
    assert [(i["subject"], i["data"]["what"], i["data"]["refused_g"], i["data"]["entry"])
            for i in told] == [(first, "partly_refused", 20_000, refusal["index"])]
    assert told[0]["title"] == "部分拒收" and "两桶渗漏" in told[0]["body"]
    others = r[G2].request("GET", "/api/v1/notifications")["items"]
    assert all(i["event"] != "handover.refused_or_different" for i in others)


def test_the_refused_part_returns_to_its_enterprise(carried_trip):
    r, number, first, _, refusal = carried_trip
    part = code_for(G1, 9)
    r[G1].act("batch.refused_part", part, {"parent": first, "refusal": refusal["leaf_hash"],
                                           "mass_g": 20_000})
    b = r[G1].batch(part)
    assert (b["holder"], b["state"], b["mass_g"]) == (G1, "declared", 20_000)
    alert, = r[G1].request("GET", "/api/v1/alerts")["items"]
    assert alert["refused_part"] == part


def pdf_text(pdf: bytes) -> str:
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True,
                          check=True)
    return done.stdout.decode()


def test_the_manifest_prints_in_the_national_forms_layout(carried_trip, client):
    r, number, first, second, refusal = carried_trip
    status, raw = r[CARRIER].transport("GET", f"/api/v1/manifests/{number}.pdf", None,
                                       r[CARRIER]._headers())
    assert status == 200 and raw.startswith(b"%PDF")
    text = pdf_text(raw)
    for field in ("危险废物转移联单", number, "一、危险废物移出信息（由移出人填写）",
                  "二、危险废物运输信息（由承运人填写）", "三、危险废物接收信息（由接收人填写）",
                  "椒江小微企业1号", G1, "台州危运物流有限公司", CARRIER, PLATE, "王师傅",
                  "台州市德长环保处置有限公司", DISPOSER, "浙危废经第", "900-039-49",
                  "900-041-49", "废弃包装物", "120.000", "100.000", "20.000", "两桶渗漏",
                  "部分接收", "承运（起运）", "承运（运抵）", "移出", "拒收", "接收", "北京时间",
                  first, second):
        assert field in text, field
    # each signature names its log index
    assert str(refusal["index"]) in text
    # scoped like the manifest: another enterprise gets 404
    status, _ = r[G2].transport("GET", f"/api/v1/manifests/{number}.pdf", None,
                                r[G2]._headers())
    assert status == 404
    # and the regulator downloads it from the manifest page
    log_in_as(client, "reg", PASSWORD)
    page = client.get(f"/regulator/manifests/{number}").get_data(as_text=True)
    assert f"/regulator/manifests/{number}.pdf" in page
    got = client.get(f"/regulator/manifests/{number}.pdf")
    assert got.status_code == 200 and got.mimetype == "application/pdf"
    assert "attachment" in got.headers["Content-Disposition"]
    assert number in pdf_text(got.data)

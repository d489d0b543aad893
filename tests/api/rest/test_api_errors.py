"""Bad input through the API gets a clear, specific error and changes nothing."""

from __future__ import annotations

import json

import pytest

from ledger.tlog.entries import entry_text
from ledger.tlog.notes import Signer, sign_note
from tests.api.lifecycle import COLLECTOR, GENERATORS, code_for, description, manifest

GEN = GENERATORS[0]


def size(client) -> int:
    return int(client.get("/api/v1/checkpoint").get_data().split(b"\n")[1])


def post_note(client, note: bytes, content_type: str = "text/plain"):
    return client.post("/api/v1/entries", data=note, content_type=content_type)


def assert_error(resp, status: int, code: str, field: str | None = None):
    body = resp.json
    assert resp.status_code == status, body
    assert set(body) == {"code", "status", "message", "errors"}
    assert (body["code"], body["status"]) == (code, status)
    if field:
        assert field in body["errors"]
    return body


def test_error_messages_are_chinese_by_default_and_english_on_request(client, two_generators):
    before = size(client)
    resp = post_note(client, b"not a note")
    body = assert_error(resp, 422, "note_malformed", "note")
    assert "签名记录格式不正确" in body["message"]
    en = client.post("/api/v1/entries", data=b"not a note", content_type="text/plain",
                     headers={"Accept-Language": "en"})
    assert en.json["message"] == "note must end with a newline"
    assert size(client) == before


@pytest.mark.parametrize("body, code", [
    (b"{not json", "json_body_invalid"),
    (b'{"note": 5}', "field_missing"),
    (b"[]", "field_missing"),
])
def test_malformed_json_bodies(client, two_generators, body, code):
    before = size(client)
    assert_error(post_note(client, body, "application/json"), 422, code)
    assert size(client) == before


def test_oversized_note_is_413(client, two_generators):
    key = two_generators[GEN].key
    payload = {"stream": code_for(GEN, 1), "seq": 0, "org": GEN, "key": key.verifier.fingerprint,
               "t": "2026-01-01T00:00:00Z", "kind": "batch.declared",
               "data": {"notes": "废" * 30_000}}
    before = size(client)
    assert_error(post_note(client, sign_note(entry_text(payload), key)), 413, "too_large")
    assert size(client) == before


def test_stale_seq_is_409_and_replay_is_idempotent(client, two_generators):
    code = code_for(GEN, 1)
    c = two_generators[GEN]
    stale = c.draft("batch.declared", code, description(1000))
    first = post_note(client, sign_note(stale, c.key))
    assert first.status_code == 201
    replay = post_note(client, sign_note(stale, c.key))  # the very same bytes again
    assert replay.status_code == 200 and replay.json == first.json
    other = stale.replace('"mass_g":1000', '"mass_g":2000')
    assert_error(post_note(client, sign_note(other, c.key)), 409, "seq_mismatch", "seq")


def test_key_of_another_organisation_is_403(client, two_generators):
    c = two_generators[GEN]
    text = c.draft("batch.declared", code_for(GEN, 1), description(1000))
    before = size(client)
    body = assert_error(post_note(client, sign_note(text, two_generators[COLLECTOR].key)), 403,
                        "signature_missing")
    assert size(client) == before
    stranger = Signer.generate("stranger")
    forged = text.replace(c.key.verifier.fingerprint, stranger.verifier.fingerprint)
    assert_error(post_note(client, sign_note(forged, stranger)), 403, "key_unknown")
    assert body["errors"]


def test_custody_rule_errors_name_the_rule(client, two_generators):
    code = code_for(GEN, 1)
    two_generators[GEN].declare(code, description(1000))
    asked = client.post("/api/v1/pickups", json={"collector": COLLECTOR, "batches": [code]},
                        headers={"Authorization": f"Bearer {two_generators[GEN].token}"})
    assert asked.status_code == 201, asked.json  # the collector may now see (and draft on) it
    collector = two_generators[COLLECTOR]
    text = collector.draft("custody.released", code,
                           {"to": GEN, "mass_g": 1000, "manifest": manifest(1)})
    assert_error(post_note(client, sign_note(text, collector.key)), 403, "not_holder", "org")
    from ledger.tlog.client import ApiError

    with pytest.raises(ApiError) as err:  # even the draft refuses a float
        two_generators[GEN].draft("custody.released", code,
                          {"to": COLLECTOR, "mass_g": 1.5, "manifest": manifest(1)})
    assert (err.value.status, err.value.code) == (422, "json_float")


def test_drafts_need_a_token_for_your_own_organisation(client, two_generators):
    body = {"stream": code_for(GEN, 1), "org": GEN, "key": "0" * 64, "data": {}}
    assert_error(client.post("/api/v1/drafts/batch.declared", json=body), 401, "unauthenticated")
    headers = {"Authorization": f"Bearer {two_generators[COLLECTOR].token}"}
    assert_error(client.post("/api/v1/drafts/batch.declared", json=body, headers=headers), 403,
                 "org_mismatch")
    bad = {"Authorization": "Bearer wl_nope"}
    assert_error(client.get("/api/v1/batches", headers=bad), 401, "unauthenticated")
    assert_error(client.post("/api/v1/drafts/custody.teleport", json={**body, "org": COLLECTOR},
                             headers=headers), 422, "kind_unknown")


def test_query_validation_and_unknown_things(client, two_generators):
    headers = {"Authorization": f"Bearer {two_generators[GEN].token}"}
    assert client.get("/api/v1/batches?limit=0", headers=headers).status_code == 422
    assert client.get("/api/v1/batches?declared_from=yesterday", headers=headers
                      ).status_code == 422
    assert_error(client.get("/api/v1/batches/ABC", headers=headers), 422,
                 "batch_code_length_invalid")
    assert_error(client.get(f"/api/v1/batches/{code_for(GEN, 9)}", headers=headers), 404,
                 "batch_not_found")
    assert_error(client.get("/api/v1/catalogue/900-123-49"), 404, "waste_code_unknown")
    assert_error(client.get("/api/v1/proofs/inclusion?index=5&size=100000"), 404,
                 "size_beyond_log")
    assert_error(client.get("/api/v1/proofs/inclusion?index=5&size=3"), 422,
                 "index_out_of_range")
    assert client.get("/api/v1/proofs/inclusion?index=x&size=3").status_code == 422


def test_batch_append_reports_each_note(client, two_generators):
    c = two_generators[GEN]
    good = sign_note(c.draft("batch.declared", code_for(GEN, 1), description(1000)), c.key)
    resp = client.post("/api/v1/entries/batch",
                       json={"notes": [good.decode(), "garbage", good.decode()]})
    assert resp.status_code == 200
    body = resp.json
    assert [r["status"] for r in body["results"]] == [201, 422, 200]
    assert body["results"][1]["error"]["code"] == "note_malformed"
    assert (body["accepted"], body["rejected"]) == (2, 1)
    too_many = client.post("/api/v1/entries/batch", json={"notes": ["x"] * 1001})
    assert too_many.status_code == 422


def test_openapi_documents_every_endpoint_and_the_docs_page_is_local(client):
    spec = client.get("/api/v1/openapi.json").json
    assert {"/api/v1/entries", "/api/v1/drafts/{kind}", "/api/v1/batches/{code}",
            "/api/v1/proofs/consistency", "/api/v1/catalogue"} <= set(spec["paths"])
    post = spec["paths"]["/api/v1/entries"]["post"]
    assert {"201", "200", "409", "413", "422"} <= set(post["responses"])
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    asset = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()
    json.dumps(spec)

"""The OpenAPI document says what the server does: who may call each operation, the error
body's types, the answers' shapes, and the HTTP details a generated client relies on."""

from __future__ import annotations

import pytest

from ledger.tlog.checkpoints import parse_checkpoint
from ledger.tlog.notes import parse_vkey
from tests.api.lifecycle import (
    COLLECTOR,
    GENERATORS,
    REGULATOR,
    code_for,
    description,
)

GEN = GENERATORS[0]
METHODS = ("get", "post", "put", "patch", "delete")
#: Operations anyone may call: the public registers, the log's proofs, log-in, and appends
#: (authorised by the signature inside the note, not by who sends it).
PUBLIC = {
    ("post", "/api/v1/entries"), ("post", "/api/v1/entries/batch"),
    ("get", "/api/v1/checkpoint"), ("get", "/api/v1/operator.vkey"),
    ("get", "/api/v1/entries/{index}/receipt"),
    ("get", "/api/v1/proofs/inclusion"), ("get", "/api/v1/proofs/consistency"),
    ("get", "/api/v1/organisations"), ("get", "/api/v1/organisations/{uscc}"),
    ("get", "/api/v1/permits"), ("get", "/api/v1/keys"), ("get", "/api/v1/catalogue"),
    ("get", "/api/v1/catalogue/{code}"), ("get", "/api/v1/catalogue/editions"),
    ("post", "/api/v1/auth/token"),
}
#: Operations that also need a role of the caller's organisation (403 role_missing).
ROLE_BOUND = {
    ("get", "/api/v1/entries"): "/api/v1/entries",
    ("get", "/api/v1/collector/round"): "/api/v1/collector/round",
    ("get", "/api/v1/collector/child-code"): "/api/v1/collector/child-code?waste_code=90003949",
    ("get", "/api/v1/batches/next-code"):
        "/api/v1/batches/next-code?waste_code=900-039-49&generated_on=2026-01-01",
}


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").json


def operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def schema_of(spec, response):
    ref = response["content"]["application/json"]["schema"]["$ref"]
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_every_operation_declares_who_may_call_it(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer",
                                 "description": schemes["bearer"]["description"]}
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "session")
    seen = set()
    for method, path, op in operations(spec):
        seen.add((method, path))
        assert "security" in op, (method, path)
        if (method, path) in PUBLIC:
            assert op["security"] == [], (method, path)
        else:
            assert op["security"] == [{"bearer": []}, {"session": []}], (method, path)
            assert "401" in op["responses"], (method, path)
        if (method, path) in ROLE_BOUND:
            assert "403" in op["responses"], (method, path)
    assert PUBLIC <= seen and set(ROLE_BOUND) <= seen


def test_what_the_security_says_is_what_the_server_does(client, one_generator, spec):
    """Without credentials: 401 exactly where the document asks for them."""
    for method, path, _ in operations(spec):
        if (method, path) in PUBLIC or "{" in path:
            continue
        resp = client.open(path, method=method.upper(), json={})
        assert resp.status_code == 401, (method, path, resp.status_code)
        assert resp.json["code"] == "unauthenticated"


def test_role_bound_operations_answer_403_role_missing_as_documented(client, one_generator, spec):
    for (method, path), url in ROLE_BOUND.items():
        # a generator is not a regulator, collector or receiver; a collector is not a generator;
        # a regulator takes back no refused part (child-code serves any 移出人)
        outsider = one_generator[
            COLLECTOR if path == "/api/v1/batches/next-code"
            else REGULATOR if path == "/api/v1/collector/child-code" else GEN].token
        resp = client.open(url, method=method.upper(), headers=bearer(outsider))
        assert resp.status_code == 403, (path, resp.json)
        assert resp.json["code"] == "role_missing"
        documented = spec["paths"][path][method]["responses"]["403"]
        assert documented["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_the_error_schema_has_the_types_of_real_error_bodies(client, one_generator, spec):
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["code"]["type"] == "string"
    assert error["properties"]["status"]["type"] == "integer"
    assert set(error["required"]) == {"code", "status", "message", "errors"}
    for resp in (client.get("/api/v1/organisations/nobody"),
                 client.get("/api/v1/entries?limit=0",
                            headers=bearer(one_generator[REGULATOR].token)),
                 client.get("/api/v1/batches")):
        body = resp.json
        assert isinstance(body["code"], str) and body["status"] == resp.status_code
        assert isinstance(body["message"], str) and isinstance(body["errors"], dict)
    default = spec["paths"]["/api/v1/batches"]["get"]["responses"]["default"]
    assert default == {"$ref": "#/components/responses/DEFAULT_ERROR"}
    assert schema_of(spec, spec["components"]["responses"]["DEFAULT_ERROR"]) == error


@pytest.mark.parametrize("path", ["/api/v1/batches/{code}", "/api/v1/gaps", "/api/v1/gaps/{gap_id}",
                                  "/api/v1/collector/round", "/api/v1/collector/child-code",
                                  "/api/v1/organisations/{uscc}", "/api/v1/manifests/{number}",
                                  "/api/v1/catalogue/{code}"])
def test_reads_document_their_answer(spec, path):
    ok = spec["paths"][path]["get"]["responses"]["200"]
    assert schema_of(spec, ok)["properties"]


@pytest.mark.parametrize("path", ["/api/v1/batches", "/api/v1/organisations", "/api/v1/permits",
                                  "/api/v1/keys", "/api/v1/manifests", "/api/v1/gaps",
                                  "/api/v1/reconciliation/drilldown"])
def test_lists_document_items_and_next_cursor(client, one_generator, spec, path):
    page = schema_of(spec, spec["paths"][path]["get"]["responses"]["200"])
    assert {"items", "next_cursor"} <= set(page["properties"])
    assert page["properties"]["next_cursor"]["nullable"] is True
    body = client.get(path + ("?figure=declared" if "drilldown" in path else ""),
                      headers=bearer(one_generator[REGULATOR].token)).json
    assert {"items", "next_cursor"} <= set(body)


def test_list_pages_follow_the_cursor_to_the_end(client, one_generator):
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/organisations", query_string=query).json
        seen += [o["uscc"] for o in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(set(seen)) and set(one_generator.clients) < set(seen)  # and the operator


def test_parameters_and_limits_are_documented(spec):
    child = spec["paths"]["/api/v1/collector/child-code"]["get"]
    waste = {p["name"]: p for p in child["parameters"]}["waste_code"]
    assert waste["in"] == "query" and waste["required"] is True
    assert waste["schema"]["pattern"]
    next_code = {p["name"]: p for p in spec["paths"]["/api/v1/batches/next-code"]["get"][
        "parameters"]}
    assert next_code["generated_on"]["required"] is True
    assert next_code["waste_code"]["required"] is True
    pickup_in = spec["components"]["schemas"]["PickupIn"]["properties"]
    assert pickup_in["note"]["maxLength"] == 200
    assert pickup_in["batches"]["maxItems"] == 200
    content = spec["paths"]["/api/v1/reconciliation"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv; charset=utf-8"} <= set(content)
    assert spec["components"]["schemas"]["NoteIn"]["additionalProperties"] is False


def test_next_code_without_a_date_is_refused_and_errors_follow_accept_language(
        client, one_generator):
    token = bearer(one_generator[GEN].token)
    missing = client.get("/api/v1/batches/next-code?waste_code=900-039-49", headers=token)
    assert missing.status_code == 422 and "generated_on" in missing.json["errors"]["query"]
    url = "/api/v1/batches/next-code?waste_code=900-039-49&generated_on=2999-01-01"
    zh = client.get(url, headers=token).json
    en = client.get(url, headers={**token, "Accept-Language": "en"}).json
    assert zh["code"] == en["code"] == "generated_on_future"
    assert "今天" in zh["message"]
    assert en["message"].isascii() and "today" in en["message"]


def test_note_in_json_refuses_unknown_fields_and_changes_nothing(client, one_generator):
    before = client.get("/api/v1/checkpoint").get_data()
    resp = client.post("/api/v1/entries", json={"note": "x\n", "sneaky": 1})
    assert resp.status_code == 422
    assert (resp.json["code"], list(resp.json["errors"])) == ("field_unknown", ["sneaky"])
    assert client.get("/api/v1/checkpoint").get_data() == before


def test_pickup_batches_carry_the_same_stream_head_as_the_round(client, one_generator):
    code = code_for(GEN, 1)
    one_generator[GEN].declare(code, description(5000))
    pickup = client.post("/api/v1/pickups", headers=bearer(one_generator[GEN].token),
                         json={"collector": COLLECTOR, "batches": [code]}).json
    round_ = client.get("/api/v1/collector/round",
                        headers=bearer(one_generator[COLLECTOR].token)).json
    on_round = round_["pickups"][0]["batches"][0]
    assert pickup["batches"][0]["head"] == on_round["head"]
    assert set(on_round["head"]) == {"seq", "leaf", "t"}


def test_405_names_the_allowed_methods(client):
    resp = client.delete("/api/v1/checkpoint")
    assert resp.status_code == 405
    assert set(resp.headers["Allow"].split(", ")) >= {"GET", "HEAD", "OPTIONS"}
    assert resp.json["code"] == "method_not_allowed" and resp.json["status"] == 405
    assert "POST" in client.put("/api/v1/entries").headers["Allow"]


def test_checkpoint_says_its_charset_once_and_the_operator_key_verifies_it(client, app):
    cp = client.get("/api/v1/checkpoint")
    assert cp.headers["Content-Type"] == "text/plain; charset=utf-8"
    vkey = client.get("/api/v1/operator.vkey")
    assert vkey.headers["Content-Type"] == "text/plain; charset=utf-8"
    text = vkey.get_data(as_text=True)
    assert text.endswith("\n") and text.count("\n") == 1
    key = parse_vkey(text.strip())
    parsed = parse_checkpoint(cp.get_data(), key)  # raises unless the operator signed it
    assert parsed.size >= 1
    from api.runtime import log_config
    with app.app_context():
        assert key.fingerprint == log_config().operator.verifier.fingerprint


def test_a_receipt_index_beyond_any_database_integer_is_a_422_not_a_500(client, spec):
    # schemathesis found this on PostgreSQL: bigint out of range.
    resp = client.get("/api/v1/entries/18896105092679557120/receipt")
    assert resp.status_code == 422 and "index" in resp.json["errors"]["path"]
    assert client.get("/api/v1/entries/9007199254740991/receipt").json["code"] == "entry_unknown"
    param = spec["paths"]["/api/v1/entries/{index}/receipt"]["get"]["parameters"][0]
    assert param["schema"]["maximum"] == 2**53 - 1

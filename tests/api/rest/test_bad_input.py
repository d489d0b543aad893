"""Bad input at the edge: NUL and other controls, undecodable bodies, HTTP errors from the
framework — each a specific JSON error and no change, alike on SQLite and PostgreSQL."""

from __future__ import annotations

from ledger.tlog.entries import entry_text
from ledger.tlog.notes import sign_note
from tests.api.lifecycle import COLLECTOR, GENERATORS, code_for, description

GEN = GENERATORS[0]


def size(client) -> int:
    return int(client.get("/api/v1/checkpoint").get_data().split(b"\n")[1])


def assert_error(resp, status: int, code: str, field: str | None = None):
    assert resp.is_json, resp.get_data()[:300]
    body = resp.json
    assert resp.status_code == status, body
    assert set(body) == {"code", "status", "message", "errors"}
    assert (body["code"], body["status"]) == (code, status), body
    if field:
        assert field in body["errors"], body
    return body


def test_signed_entry_with_nul_in_a_payload_string_is_refused(client, one_generator):
    """Signed and canonical, but U+0000 is outside the format (docs/ledger-format.md 3.3):
    SQLite stored it and PostgreSQL answered 500; now both refuse it before storing."""
    c = one_generator[GEN]
    text = c.draft("batch.declared", code_for(GEN, 1), description(1000))
    assert '"name":"废活性炭"' in text
    forged = text.replace('"name":"废活性炭"', '"name":"废\\u0000活性炭"')
    before = size(client)
    resp = client.post("/api/v1/entries", data=sign_note(forged, c.key),
                       content_type="text/plain")
    assert_error(resp, 422, "json_control_char", "payload.data.name")
    assert size(client) == before
    assert client.post("/api/v1/entries", data=sign_note(text, c.key),
                       content_type="text/plain").status_code == 201


def bearer(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token}"}


PARAMETERS = [  # (url, the field the error names)
    ("/api/v1/batches?state=%00", "state"),
    ("/api/v1/batches?generator=%00", "generator"),
    ("/api/v1/batches?waste_code=900-039-49%01", "waste_code"),
    ("/api/v1/batches?cursor=%00", "cursor"),
    ("/api/v1/batches/%00", "code"),
    ("/api/v1/keys?org=%00", "org"),
    ("/api/v1/keys?cursor=a%00", "cursor"),
    ("/api/v1/permits?org=%00", "org"),
    ("/api/v1/organisations?cursor=%1f", "cursor"),
    ("/api/v1/organisations/%00", "uscc"),
    ("/api/v1/manifests/%00", "number"),
    ("/api/v1/manifests?cursor=%7f", "cursor"),
    ("/api/v1/catalogue?q=%E5%BA%9F%00", "q"),
    ("/api/v1/batches?%00=1", "query"),
]


def test_controls_in_query_and_path_parameters_are_422(client, one_generator):
    """PostgreSQL answered 500 (text fields cannot contain NUL) where SQLite gave 200/404."""
    headers = bearer(one_generator[GEN])
    for url, field in PARAMETERS:
        assert_error(client.get(url, headers=headers), 422, "text_control_char", field)
    assert client.get("/api/v1/keys?org=" + GEN, headers=headers).status_code == 200


def test_nul_in_json_bodies_is_422_and_changes_nothing(client, one_generator):
    headers = bearer(one_generator[GEN])
    code = code_for(GEN, 1)
    one_generator[GEN].declare(code, description(1000))
    for body, field in [
        ({"collector": "\x00" * 18, "batches": [code]}, "collector"),
        ({"collector": GEN, "batches": [code + "\x00"]},
         "batches[0]"),
        ({"collector": GEN, "batches": [code], "note": "请周三来\x00"}, "note"),
        ({"collector": GEN, "batches": [code], "x\x00": 1}, "body"),
    ]:
        assert_error(client.post("/api/v1/pickups", json=body, headers=headers), 422,
                     "text_control_char", field)
    surrogate = b'{"collector": "\\ud800", "batches": []}'
    assert_error(client.post("/api/v1/pickups", data=surrogate, headers=headers,
                             content_type="application/json"), 422, "text_surrogate",
                 "collector")
    assert client.get("/api/v1/pickups?status=all", headers=headers).json["items"] == []
    draft = {"stream": code, "org": GEN, "key": one_generator[GEN].key.verifier.fingerprint,
             "data": {"name": "废\x00"}}
    assert_error(client.post("/api/v1/drafts/batch.declared", json=draft, headers=headers), 422,
                 "text_control_char", "data.name")


def test_log_in_with_nul_is_422_without_a_token(client, one_generator):
    """Unauthenticated, so anyone could send it: PostgreSQL answered 500."""
    for body, field in [({"username": "generator\x00", "password": "x"}, "username"),
                        ({"username": "generator", "password": "\x00"}, "password")]:
        assert_error(client.post("/api/v1/auth/token", json=body), 422, "text_control_char",
                     field)
    bad = client.post("/api/v1/auth/token", json={"username": "nobody", "password": "x"})
    assert bad.status_code == 403  # an ordinary failed log-in still says so


def test_page_forms_refuse_controls_with_an_error_page(client, one_generator):
    resp = client.post("/login", data={"username": "generator\x00", "password": "x"})
    assert resp.status_code == 422 and resp.mimetype == "text/html"
    assert "text_control_char" in resp.get_data(as_text=True)
    # Line breaks and tabs in a text area are text, not controls to refuse.
    ok = client.post("/login", data={"username": "a\tb", "password": "x\r\ny"})
    assert ok.status_code != 422


def _draft(client, headers, kind: str, **body):
    return client.post(f"/api/v1/drafts/{kind}", json=body, headers=headers)


def test_drafts_refuse_what_the_append_would_with_the_same_error(app, client, one_generator):
    """A draft used to hand out a payload (t in 2099, 2 MB of data) the append then refused."""
    c = one_generator[GEN]
    headers = bearer(c)
    code = code_for(GEN, 1)
    c.declare(code, description(1000))
    base = {"stream": code, "org": GEN, "key": c.key.verifier.fingerprint, "data": {}}
    good = _draft(client, headers, "custody.released", **base)
    assert good.status_code == 200, good.json
    payload = good.json["payload"]
    before = size(client)
    for change, status, err in [
        ({"t": "2099-01-01T00:00:00Z"}, 422, "time_in_future"),
        ({"t": "2001-01-01T00:00:00Z"}, 422, "time_before_previous"),
        ({"data": {"text": "x" * 2_000_000}}, 413, "too_large"),
        ({"key": "0" * 64}, 403, "key_unknown"),
        ({"key": one_generator[COLLECTOR].key.verifier.fingerprint}, 403, "key_wrong_org"),
    ]:
        note = sign_note(entry_text({**payload, **change}), c.key)
        appended = client.post("/api/v1/entries", data=note, content_type="text/plain")
        assert_error(appended, status, err)
        assert_error(_draft(client, headers, "custody.released", **{**base, **change}),
                     status, err)
    assert size(client) == before
    # The size limit is the signed note's, to the byte.
    limit = app.config["MAX_NOTE_BYTES"]
    probe = _draft(client, headers, "custody.released", **{**base, "data": {"text": ""}})
    signed_len = len(sign_note(probe.json["note_text"], c.key))
    fits = {**base, "data": {"text": "x" * (limit - signed_len)}}
    drafted = _draft(client, headers, "custody.released", **fits)
    assert drafted.status_code == 200
    note = sign_note(drafted.json["note_text"], c.key)
    assert len(note) == limit
    appended = client.post("/api/v1/entries", data=note, content_type="text/plain")
    assert appended.json["code"] != "too_large"
    over = {**base, "data": {"text": "x" * (limit - signed_len + 1)}}
    assert_error(_draft(client, headers, "custody.released", **over), 413, "too_large")


def _api_posts(app) -> list[str]:
    """Every /api/ route that takes a body, with its path parameters filled in."""
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.methods & {"POST", "PUT", "PATCH"}:
            urls.append(rule.rule.replace("<int:pickup_id>", "1")
                        .replace("<kind>", "batch.declared")
                        .replace("<case_id>", "331002-2026-0001"))
    return urls


def test_bodies_that_are_not_utf8_json_get_the_json_error_body(app, client, one_generator):
    """Werkzeug's generic 400 ("The browser (or proxy) sent a request…") used to answer."""
    headers = bearer(one_generator[GEN])
    before = size(client)
    urls = _api_posts(app)
    assert {"/api/v1/pickups", "/api/v1/drafts/batch.declared", "/api/v1/auth/token",
            "/api/v1/entries", "/api/v1/entries/batch", "/api/v1/keys"} <= set(urls)
    assert not [u for u in urls if "<" in u], urls  # a new path parameter: fill it in above
    for url in urls:
        for body in (b'{"collector": "\xff\xfe"}', b'{"a": "\xe5\xba"}', b"{not json",
                     b"[" * 100_000):
            resp = client.post(url, data=body, headers=headers,
                               content_type="application/json")
            assert_error(resp, 422, "json_body_invalid", "body")
    en = client.post("/api/v1/pickups", data=b"\xff", headers={**headers,
                     "Accept-Language": "en"}, content_type="application/json")
    assert en.json["message"] == "the body is not valid UTF-8 JSON"
    assert size(client) == before


def test_framework_errors_under_api_are_json_with_their_headers(app, client):
    assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error(client.get("/api"), 404, "not_found")
    resp = client.delete("/api/v1/entries")
    assert_error(resp, 405, "method_not_allowed")
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    resp = client.put("/api/v1/checkpoint", data=b"x")
    assert_error(resp, 405, "method_not_allowed")
    assert "PUT" not in resp.headers["Allow"] and "GET" in resp.headers["Allow"]
    big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    body = assert_error(client.post("/api/v1/entries", data=big, content_type="text/plain"),
                        413, "too_large")
    assert body["message"].startswith("内容过大")
    en = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "en"})
    assert en.json["message"].startswith("The requested URL was not found")
    page = client.get("/logout")  # pages keep their HTML error page, with Allow too
    assert page.status_code == 405 and page.mimetype == "text/html" and "Allow" in page.headers


def test_a_bad_request_raised_by_werkzeug_is_json_too(app):
    """Werkzeug raises BadRequest itself in a few places (a malformed form, an untrusted
    host); whatever raises it, /api/ answers with the JSON body."""
    from werkzeug.exceptions import BadRequest

    def refuse() -> None:
        raise BadRequest()

    app.add_url_rule("/api/v1/test-bad-request", "test_bad_request", refuse)
    resp = app.test_client().get("/api/v1/test-bad-request")
    body = assert_error(resp, 400, "bad_request")
    assert body["message"].startswith("请求格式不正确")


def test_nul_in_any_path_parameter_of_the_api_is_422(app, client, one_generator):
    """Every /api/ route with a text path parameter, now and added later: the edge refuses
    U+0000 before a view (or the database) sees it."""
    from werkzeug.routing import AnyConverter, IntegerConverter, UnicodeConverter

    headers = bearer(one_generator[GEN])
    urls = app.url_map.bind("localhost")
    checked = []
    for rule in app.url_map.iter_rules():
        convs = rule._converters
        text = [name for name, conv in convs.items() if type(conv) is UnicodeConverter]
        if not rule.rule.startswith("/api/") or "GET" not in rule.methods or not text:
            continue
        values: dict[str, object] = {}
        for name, conv in convs.items():
            if isinstance(conv, IntegerConverter):
                values[name] = 1
            elif isinstance(conv, AnyConverter):
                values[name] = sorted(conv.items)[0]
            else:
                values[name] = "a\x00b" if name == text[0] else "x"
        url = urls.build(rule.endpoint, values)
        assert_error(client.get(url, headers=headers), 422, "text_control_char", text[0])
        checked.append(rule.rule)
    assert {"/api/v1/organisations/<uscc>", "/api/v1/manifests/<number>",
            "/api/v1/batches/<code>", "/api/v1/batches/<code>/label.<any(png, svg, pdf):fmt>"
            } <= set(checked)


def test_a_form_part_without_a_name_is_no_server_error(client, one_generator):
    """schemathesis (bench/fuzz_api.sh, enterprise token) sent a multipart part whose name
    ends in a backslash (``name="x\\"``: the quote is escaped, the name never ends): Werkzeug
    keys such a part None, and the control-character check of the edge answered 500. A part
    without a readable name names no field: it is ignored like any unknown one, its value
    still checked."""
    headers = {"Authorization": f"Bearer {one_generator[GEN].token}"}
    boundary = "----unnamed"

    def post(value: bytes):
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"x\\\"\r\n\r\n".encode()
                + value + f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"a.png\"\r\n\r\n".encode() + b"\x89PNG\r\n\x1a\n"
                + f"\r\n--{boundary}--\r\n".encode())
        return client.post("/api/v1/cases/0/evidence", data=body, headers=headers,
                           content_type=f"multipart/form-data; boundary={boundary}")

    assert_error(post(b"[]"), 404, "case_unknown")
    assert_error(post(b"a\x00b"), 422, "text_control_char")


def test_a_plan_year_beyond_the_database_integer_is_404_not_500(client, one_generator):
    """schemathesis (bench/fuzz_api.sh, enterprise token, PostgreSQL) asked for
    /plans/<org>/4294967295: PostgreSQL refused the integer and the server answered 500."""
    headers = {"Authorization": f"Bearer {one_generator[GEN].token}"}
    for year in (4294967295, 34788094937600, 0):
        assert_error(client.get(f"/api/v1/plans/{GEN}/{year}", headers=headers), 404,
                     "plan_not_found")

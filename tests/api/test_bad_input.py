"""Bad input at the edge: NUL and other controls, undecodable bodies, HTTP errors from the
framework — each a specific JSON error and no change, alike on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ledger.tlog.notes import sign_note
from tests.api.lifecycle import GENERATORS, build_region, code_for, description

GEN = GENERATORS[0]


@pytest.fixture
def region(app):
    return build_region(app, generators=1)


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


def test_signed_entry_with_nul_in_a_payload_string_is_refused(client, region):
    """Signed and canonical, but U+0000 is outside the format (docs/ledger-format.md 3.3):
    SQLite stored it and PostgreSQL answered 500; now both refuse it before storing."""
    c = region[GEN]
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

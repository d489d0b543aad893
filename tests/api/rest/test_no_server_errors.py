"""Whatever a client sends, the API answers with a 2xx or a 4xx error body, never a 500."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.lifecycle import REGULATOR, build_region

junk = st.one_of(
    st.text(max_size=60),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", "0", "-1", "1e309", "NaN", "null", "[]", "{}", "%00", "\u202e",
                     "9" * 400, "2026-02-30", "91331002000000019A"]),
)
GETS = ["/api/v1/entries?start={}&limit={}", "/api/v1/proofs/inclusion?index={}&size={}",
        "/api/v1/proofs/consistency?old={}&new={}", "/api/v1/batches?state={}&limit={}",
        "/api/v1/batches?declared_from={}&cursor={}", "/api/v1/batches/{}{}",
        "/api/v1/organisations/{}{}", "/api/v1/catalogue?q={}&limit={}",
        "/api/v1/catalogue/{}{}", "/api/v1/manifests/{}{}", "/api/v1/keys?org={}&limit={}",
        "/api/v1/batches/{}/label.png?size={}", "/api/v1/entries/{}/receipt{}",
        "/log/tile/{}/{}", "/log/tile/entries/{}{}", "/log/tile/0/{}.p/{}"]
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def authed(app, client):
    region = build_region(app, generators=1)
    return client, {"Authorization": f"Bearer {region[REGULATOR].token}"}


@SETTINGS
@given(path=st.sampled_from(GETS), a=junk, b=junk)
def test_get_endpoints_never_fail_with_500(authed, path, a, b):
    client, headers = authed
    url = path.format(quote(a, safe=""), quote(b, safe=""))
    resp = client.get(url, headers=headers)
    assert resp.status_code < 500, (url, resp.get_data()[:300])
    if resp.status_code >= 400 and resp.is_json:
        assert {"code", "status", "message", "errors"} <= set(resp.json)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=10)


@SETTINGS
@given(kind=st.sampled_from(["batch.declared", "custody.released", "x", "org.registered"]),
       body=st.dictionaries(st.sampled_from(["stream", "org", "key", "data", "t", "zzz"]),
                            json_values, max_size=6))
def test_drafts_never_fail_with_500(authed, kind, body):
    client, headers = authed
    resp = client.post(f"/api/v1/drafts/{kind}", json=body, headers=headers)
    assert resp.status_code < 500, resp.get_data()[:300]


@SETTINGS
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
       content_type=st.sampled_from(["text/plain", "application/json",
                                     "application/octet-stream"]))
def test_posted_notes_never_fail_with_500(authed, body, content_type):
    client, _ = authed
    resp = client.post("/api/v1/entries", data=body, content_type=content_type)
    assert resp.status_code < 500, resp.get_data()[:300]
    batch = client.post("/api/v1/entries/batch", data=body, content_type=content_type)
    assert batch.status_code < 500, batch.get_data()[:300]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_write_that_meets_a_busy_database_is_503_with_retry_after(app):
    """Whatever write path still reads before it writes: when SQLite refuses the upgrade
    (another write landed meanwhile), the client gets the JSON error body, 503 and
    Retry-After, and nothing the request did stays; not a 500."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from api.extensions import db

    def stale_write():
        db.session.execute(text("SELECT count(*) FROM log_head"))  # the request's read
        with Session(db.engine) as other:  # another request's write commits meanwhile
            other.execute(text("CREATE TABLE meanwhile (x INTEGER)"))
            other.commit()
        db.session.execute(text("CREATE TABLE mine (x INTEGER)"))  # now a write: refused
        db.session.commit()
        return "written"

    app.add_url_rule("/api/v1/test-stale-write", view_func=stale_write, methods=["POST"])
    resp = app.test_client().post("/api/v1/test-stale-write")
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "1"
    assert resp.json["code"] == "database_busy"
    assert "请稍后重试" in resp.json["message"]
    with app.app_context():
        assert db.session.scalar(text(
            "SELECT count(*) FROM sqlite_master WHERE name = 'mine'")) == 0

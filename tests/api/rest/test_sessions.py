"""Log-in sessions end on the server, and a session cookie never stands in for a CSRF token
unless a well-formed bearer token is sent instead (issue 11)."""

from __future__ import annotations

import pytest

from api.demo.seed import join
from ledger.custody import access
from ledger.custody.uscc import make_uscc
from ledger.tlog.notes import Signer
from tests.api.logins import csrf_of, log_in_as

GEN = make_uscc("331002", 1)


@pytest.fixture
def people(app):
    join(app, GEN, "椒江小微企业", "331002", ["generator"])
    from api.extensions import db

    with app.app_context():
        access.add_user(db.session, "wang", "correct-horse", GEN, "王师傅")
        db.session.remove()
    return app


def _keys_of(client) -> int:
    return len(client.get(f"/api/v1/keys?org={GEN}").json["items"])


def _key_body() -> dict[str, str]:
    return {"vkey": Signer.generate(f"{GEN}-phone").verifier.vkey, "label": "phone"}


@pytest.mark.parametrize("header", ["", " ", "Bearer", "Bearer ", "Basic d2FuZzp4",
                                    "Bearer a b", "bearer\tabc"])
def test_a_malformed_authorization_header_does_not_skip_csrf(people, client, header):
    log_in_as(client, "wang", "correct-horse")
    before = _keys_of(client)
    resp = client.post("/api/v1/keys", json=_key_body(), headers={"Authorization": header})
    assert resp.status_code == 403 and resp.json["code"] == "csrf_invalid"
    assert _keys_of(client) == before  # nothing registered


def test_a_wellformed_but_unknown_bearer_token_is_401_not_the_cookie(people, client):
    log_in_as(client, "wang", "correct-horse")
    before = _keys_of(client)
    resp = client.post("/api/v1/keys", json=_key_body(),
                       headers={"Authorization": "Bearer wl_not-a-real-token"})
    assert resp.status_code == 401 and resp.json["code"] == "unauthenticated"
    assert _keys_of(client) == before


def test_the_session_cookie_is_samesite_lax_and_httponly(people, client):
    token = csrf_of(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": "wang", "password": "correct-horse",
                                       "csrf_token": token})
    cookie = resp.headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Secure" not in cookie


def test_production_cookies_are_secure_too(database, tmp_path):
    from tests.conftest import initialised_app

    with initialised_app(database, tmp_path, SESSION_COOKIE_SECURE=True) as app:
        client = app.test_client()
        cookie = client.get("/login").headers["Set-Cookie"]
        assert "Secure" in cookie and "SameSite=Lax" in cookie


def _stolen_copy(app, client):
    """Another browser holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def test_log_out_ends_the_session_on_the_server(people, client):
    token = log_in_as(client, "wang", "correct-horse")
    before = _keys_of(client)
    copy = _stolen_copy(people, client)
    assert copy.get("/generator/").status_code == 200  # the copy works while logged in
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert copy.get("/generator/").status_code == 302  # to the log-in page
    assert copy.get("/api/v1/pickups").status_code == 401
    resp = copy.post("/api/v1/keys", json=_key_body(), headers={"X-CSRFToken": token})
    assert resp.status_code in (401, 403)
    assert _keys_of(client) == before


def test_a_new_password_ends_every_session(people, client, cli):
    log_in_as(client, "wang", "correct-horse")
    other = people.test_client()
    log_in_as(other, "wang", "correct-horse")
    result = cli("user", "password", "wang", "--password", "new-horse-battery")
    assert result.exit_code == 0, result.output
    assert client.get("/generator/").status_code == 302
    assert other.get("/generator/").status_code == 302
    fresh = people.test_client()
    log_in_as(fresh, "wang", "new-horse-battery")
    assert fresh.get("/generator/").status_code == 200


def test_deactivation_ends_sessions_tokens_and_log_in(people, client, cli):
    log_in_as(client, "wang", "correct-horse")
    resp = people.test_client().post("/api/v1/auth/token", json={
        "username": "wang", "password": "correct-horse", "label": "script"})
    bearer = {"Authorization": f"Bearer {resp.json['token']}"}
    anonymous = people.test_client()
    assert anonymous.get("/api/v1/pickups", headers=bearer).status_code == 200
    assert cli("user", "deactivate", "wang").exit_code == 0
    assert client.get("/generator/").status_code == 302
    assert anonymous.get("/api/v1/pickups", headers=bearer).status_code == 401
    token = csrf_of(anonymous.get("/login").get_data(as_text=True))
    resp = anonymous.post("/login", data={"username": "wang", "password": "correct-horse",
                                          "csrf_token": token})
    assert resp.status_code == 401


def test_unknown_users_get_a_clear_cli_error(people, cli):
    from click.testing import Result

    result: Result = cli("user", "deactivate", "nobody")
    assert result.exit_code != 0 and "user_unknown" in result.output

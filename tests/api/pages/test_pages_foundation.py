"""What every page relies on: log-in, sessions, CSRF, security headers, languages."""

from __future__ import annotations

import re

import pytest

from api.demo.seed import join
from ledger.custody import access
from ledger.custody.uscc import make_uscc
from tests.api.logins import csrf_of

GEN = make_uscc("331002", 1)
COL = make_uscc("331002", 101)


@pytest.fixture
def people(app):
    join(app, GEN, "椒江小微企业", "331002", ["generator"])
    join(app, COL, "台州市绿源环保收集有限公司", "331002", ["collector"], ["collect", "store"])
    from api.extensions import db

    with app.app_context():
        access.add_user(db.session, "wang", "correct-horse", GEN, "王师傅")
        access.add_user(db.session, "li", "battery-staple", COL, "李司机")
    return app


def log_in(client, username: str, password: str):
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


def test_log_in_lands_in_the_workspace_of_the_role(people, client):
    resp = log_in(client, "wang", "correct-horse")
    assert resp.status_code == 302 and resp.headers["Location"] == "/generator/"
    page = client.get("/generator/").get_data(as_text=True)
    assert "椒江小微企业" in page and "退出" in page
    client.post("/logout", data={"csrf_token": csrf_of(page)})
    assert client.get("/generator/").status_code == 302  # logged out: back to the log-in


def test_receivers_land_on_the_round(people, client):
    assert log_in(client, "li", "battery-staple").headers["Location"] == "/collector/"


def test_wrong_password_says_so_and_does_not_log_in(people, client):
    resp = log_in(client, "wang", "wrong-password")
    assert resp.status_code == 401 and "用户名或密码错误" in resp.get_data(as_text=True)
    assert client.get("/generator/").status_code == 302


def test_log_in_follows_next_only_within_the_site(people, client):
    token = csrf_of(client.get("/login").get_data(as_text=True))
    for target, expected in [("/generator/declare", "/generator/declare"),
                             ("https://evil.example/x", "/generator/"),
                             ("//evil.example/x", "/generator/")]:
        client.post("/logout", data={"csrf_token": token})
        token = csrf_of(client.get("/login").get_data(as_text=True))
        resp = client.post(f"/login?next={target}", data={
            "username": "wang", "password": "correct-horse", "csrf_token": token})
        assert resp.headers["Location"] == expected
        token = csrf_of(client.get("/generator/").get_data(as_text=True))


def test_a_page_that_needs_a_log_in_redirects_there_and_back(people, client):
    resp = client.get("/generator/declare")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/login?next=/generator/declare"


def test_a_workspace_of_another_role_is_forbidden(people, client):
    log_in(client, "wang", "correct-horse")
    resp = client.get("/regulator/")
    assert resp.status_code == 403 and "role_missing" in resp.get_data(as_text=True)


def test_forms_without_the_csrf_token_are_refused_and_change_nothing(people, client):
    resp = client.post("/login", data={"username": "wang", "password": "correct-horse"})
    assert resp.status_code == 403 and "页面已过期" in resp.get_data(as_text=True)
    assert client.get("/generator/").status_code == 302  # not logged in


def test_session_api_calls_need_the_csrf_header_but_bearer_calls_do_not(people, client):
    log_in(client, "wang", "correct-horse")
    body = {"collector": COL, "batches": ["x"]}
    resp = client.post("/api/v1/pickups", json=body)
    assert resp.status_code == 403 and resp.json["code"] == "csrf_invalid"
    token = csrf_of(client.get("/generator/").get_data(as_text=True))
    resp = client.post("/api/v1/pickups", json=body, headers={"X-CSRFToken": token})
    assert resp.json["code"] == "batch_not_found"  # past CSRF, to the domain's own answer
    from api.extensions import db

    with people.app_context():
        bearer = access.issue_token(db.session, GEN, "script")
    anonymous = people.test_client()
    resp = anonymous.post("/api/v1/pickups", json=body,
                          headers={"Authorization": f"Bearer {bearer}"})
    assert resp.json["code"] == "batch_not_found"


def test_pages_carry_security_headers(people, client):
    resp = client.get("/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "camera=(self)" in resp.headers["Permissions-Policy"]
    log_in(client, "wang", "correct-horse")
    assert client.get("/generator/").headers["Cache-Control"] == "no-store"


def test_no_inline_script_or_style_on_pages(people, client):
    """The CSP forbids them, so a page that used one would silently break in a browser."""
    log_in(client, "wang", "correct-horse")
    for path in ["/", "/login", "/generator/", "/generator/declare"]:
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\b(src|type=\"application/json\"))[^>]*>", html), path
        assert "<style" not in html and " style=" not in html, path


def test_chinese_by_default_and_english_on_request(people, client):
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "用户名" in page
    resp = client.get("/lang/en?next=/login")
    assert resp.headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page and "Username" in page and "用户名" not in page
    assert client.get("/lang/en?next=https://evil.example").headers["Location"] == "/"
    client.get("/lang/zh")
    assert "用户名" in client.get("/login").get_data(as_text=True)


def test_english_survives_log_in(people, client):
    client.get("/lang/en")
    log_in(client, "wang", "correct-horse")
    assert '<html lang="en">' in client.get("/generator/").get_data(as_text=True)


def test_demo_log_ins_are_listed_only_when_they_exist(app, client):
    assert "演示账号" not in client.get("/login").get_data(as_text=True)
    from api.demo.seed import seed_demo

    seed_demo(app, enterprises=2, months=1)
    page = client.get("/login").get_data(as_text=True)
    assert "演示账号" in page and "<code>driver</code>" in page and "demo-2026" in page


def test_hazard_pictograms_are_served_as_svg(client):
    resp = client.get("/hazard/T.svg")
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    assert b"<polygon" in resp.data
    assert client.get("/hazard/X.svg").status_code == 404


def test_trace_lookup_accepts_spaces_and_urls(client):
    code = f"{GEN}90003949{'20260921'}001"
    spaced = " ".join([code[:18], code[18:26], code[26:34], code[34:]])
    assert client.get(f"/trace?code={spaced}").headers["Location"] == f"/t/{code}"
    assert client.get(f"/trace?code=https://x.example/t/{code}").headers["Location"] == \
        f"/t/{code}"


def test_password_guessing_is_throttled_per_username_and_address(people, client):
    for _ in range(10):  # LOGIN_LIMIT_PER_USERNAME
        assert log_in(client, "wang", "guess").status_code == 401
    resp = log_in(client, "wang", "correct-horse")  # from this address, for a while
    assert resp.status_code == 429 and "登录尝试过于频繁" in resp.get_data(as_text=True)
    resp = client.post("/api/v1/auth/token", json={"username": "wang", "password": "x",
                                                   "label": "x"})
    assert resp.status_code == 429 and resp.json["code"] == "login_throttled"  # shared count
    assert log_in(client, "li", "battery-staple").status_code == 302  # others are unaffected
    elsewhere = people.test_client()  # wang from another address is not locked out
    token = csrf_of(elsewhere.get("/login").get_data(as_text=True))
    resp = elsewhere.post("/login", environ_base={"REMOTE_ADDR": "203.0.113.9"}, data={
        "username": "wang", "password": "correct-horse", "csrf_token": token})
    assert resp.status_code == 302

"""Logging in through the pages as a person does (the form, its CSRF token)."""

from __future__ import annotations

import re


def csrf_of(html: str) -> str:
    """The CSRF token every page carries in <meta name="csrf-token">."""
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def log_in_as(client, username: str, password: str) -> str:
    """Log in through the form; returns the CSRF token of the page it lands on (a new
    session's token: the one from before the log-in no longer holds)."""
    token = csrf_of(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return csrf_of(client.get(resp.headers["Location"]).get_data(as_text=True))


def region_with_people(app, users: dict[str, str], password: str):
    """A small region (tests/api/lifecycle.py) with a log-in per username -> organisation."""
    from api.extensions import db
    from ledger.custody import access
    from tests.api.lifecycle import build_region

    region = build_region(app, generators=2)
    with app.app_context():
        for username, org in users.items():
            access.add_user(db.session, username, password, org, username)
        db.session.remove()
    return region


def declare(region, org: str, serial: int, mass_g: int = 120_000) -> str:
    """A batch of spent activated carbon declared by ``org``'s device; returns its code."""
    from tests.api.lifecycle import code_for, description

    code = code_for(org, serial)
    region[org].declare(code, description(mass_g))
    return code

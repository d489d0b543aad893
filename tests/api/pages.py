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

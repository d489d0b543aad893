"""Webhooks: the signature (HMAC-SHA256 over ``timestamp.body``), the URL checks (SSRF), and
one delivery attempt.

The signature header is ``X-Waste-Ledger-Signature: t=<unix seconds>,v1=<hex HMAC>``, computed
with the subscription's secret over the bytes ``f"{t}.".encode() + body``; the receiver
recomputes it, compares in constant time, refuses a ``t`` outside its tolerance (5 minutes
suggested) and keeps the ``X-Waste-Ledger-Delivery`` ids it has processed (a retry carries the
same id and a new ``t``). docs/notifications.md has the recipe.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from ledger.errors import InvalidInput

SIGNATURE_HEADER = "X-Waste-Ledger-Signature"
DELIVERY_HEADER = "X-Waste-Ledger-Delivery"
EVENT_HEADER = "X-Waste-Ledger-Event"
USER_AGENT = "waste-ledger-webhooks/1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value: ``t=<timestamp>,v1=<HMAC-SHA256(secret, "<timestamp>." + body)>``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, tolerance_s: int = 300,
           now_s: int | None = None) -> bool:
    """What a receiver does (also used by our tests' receiver): the timestamp within
    ``tolerance_s`` and one ``v1`` equal, compared in constant time."""
    parts = [p.partition("=") for p in header.split(",")]
    ts = [v for k, _, v in parts if k.strip() == "t"]
    sigs = [v for k, _, v in parts if k.strip() == "v1"]
    if len(ts) != 1 or not ts[0].isdigit() or not sigs:
        return False
    now = int(time.time()) if now_s is None else now_s
    if abs(now - int(ts[0])) > tolerance_s:
        return False
    want = signature(secret, int(ts[0]), body).partition(",v1=")[2]
    return any(hmac.compare_digest(want, s.strip()) for s in sigs)


@dataclass(frozen=True)
class Reach:
    """Which addresses outgoing requests (webhooks, push endpoints) may go to."""

    allow_loopback: bool = False
    allow_private: bool = False


def check_url(url: str, reach: Reach, *, resolve: bool = True, https_only: bool = False) -> None:
    """Refuse what is not an http(s) URL to a public address (unless ``reach`` allows
    loopback or private ones): the server must not be made to call into its own network."""
    schemes = ("https",) if https_only and not reach.allow_loopback else ("http", "https")
    try:
        parts = urlsplit(url)
        port = parts.port  # a port out of range or not a number raises here
    except ValueError:
        raise InvalidInput("not a URL", code="url_invalid", field="url") from None
    if parts.scheme not in schemes or not parts.hostname or any(
            c.isspace() or ord(c) < 32 for c in url):
        raise InvalidInput("the URL must be http:// or https:// with a host"
                           if not https_only else "the URL must be https:// with a host",
                           code="url_invalid", field="url")
    if parts.username or parts.password:
        raise InvalidInput("no user name or password in the URL", code="url_invalid",
                           field="url")
    if not resolve:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        raise InvalidInput(f"{parts.hostname} does not resolve", code="url_unresolvable",
                           field="url") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_loopback:
            if not reach.allow_loopback:
                raise InvalidInput("loopback addresses are not allowed", code="url_forbidden",
                                   field="url")
        elif not address.is_global and not reach.allow_private:
            raise InvalidInput("private, link-local and reserved addresses are not allowed",
                               code="url_forbidden", field="url")


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None
    error: str | None
    gone: bool = False  # the receiver says the subscription no longer exists (410)


def post(url: str, secret: str, body: bytes, *, delivery_id: str, event: str, reach: Reach,
         timeout: float) -> Attempt:
    """One signed POST; a 2xx is delivered. Redirects are not followed (a redirect could
    lead past the URL check)."""
    try:
        check_url(url, reach)
    except InvalidInput as exc:
        return Attempt(False, None, exc.message)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
               DELIVERY_HEADER: delivery_id, EVENT_HEADER: event,
               SIGNATURE_HEADER: signature(secret, int(time.time()), body)}
    try:
        resp = requests.post(url, data=body, headers=headers, timeout=timeout,
                             allow_redirects=False)
    except requests.RequestException as exc:
        return Attempt(False, None, type(exc).__name__)
    ok = 200 <= resp.status_code < 300
    return Attempt(ok, resp.status_code, None if ok else f"HTTP {resp.status_code}",
                   gone=resp.status_code == 410)

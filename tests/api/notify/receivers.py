"""Real receivers on loopback for the delivery tests: a webhook endpoint that checks the
HMAC signature as docs/notifications.md tells subscribers to, and a Web Push endpoint (what a
push service does for a browser) that checks the VAPID JWT and decrypts the aes128gcm payload
with the browser's keys (``http_ece`` and ``cryptography``, what pywebpush itself uses)."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from api.notify.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, verify


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Received:
    accepted: list[dict[str, Any]] = field(default_factory=list)  # verified bodies
    rejected: list[str] = field(default_factory=list)  # why
    seen_ids: set[str] = field(default_factory=set)
    fail_next: int = 0  # answer 500 to this many requests first (to test retries)


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class WebhookReceiver(_Server):
    """Accepts a POST only with a valid, fresh signature and a delivery id not seen before."""

    def __init__(self, secret: str = "", tolerance_s: int = 300) -> None:
        self.secret, self.tolerance_s, self.got = secret, tolerance_s, Received()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, why = outer.check(self.headers.get(SIGNATURE_HEADER, ""),
                                          self.headers.get(DELIVERY_HEADER, ""), body)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(why.encode())

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)

    def check(self, header: str, delivery_id: str, body: bytes,
              now_s: int | None = None) -> tuple[int, str]:
        if self.got.fail_next > 0:
            self.got.fail_next -= 1
            return 500, "try later"
        if not verify(self.secret, header, body, tolerance_s=self.tolerance_s, now_s=now_s):
            self.got.rejected.append("signature")
            return 401, "bad signature"
        if delivery_id in self.got.seen_ids:
            self.got.rejected.append("replay")
            return 200, "already processed"  # acknowledged, not processed twice
        self.got.seen_ids.add(delivery_id)
        self.got.accepted.append(json.loads(body))
        return 204, ""


class PushService(_Server):
    """A push service and the browser behind it: hands out subscriptions, and for each push
    checks the VAPID JWT (ES256 by the key in ``k``, audience this origin, not expired) and
    decrypts the payload with the subscription's private key and auth secret."""

    def __init__(self, vapid_public_key: str) -> None:
        self.vapid_public_key = vapid_public_key
        self.keys: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] = {}
        self.got = Received()
        self.gone: set[str] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = outer.receive(self.path, {k.lower(): v for k, v in self.headers.items()},
                                       body)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)

    def subscription(self) -> dict[str, Any]:
        """What a browser's PushSubscription.toJSON() gives, for a new subscription."""
        name = b64e(os.urandom(9))
        private = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        self.keys[name] = (private, auth)
        point = private.public_key().public_bytes(serialization.Encoding.X962,
                                                  serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": f"{self.origin}/push/{name}", "expirationTime": None,
                "keys": {"p256dh": b64e(point), "auth": b64e(auth)}}

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        name = path.rsplit("/", 1)[-1]
        if name in self.gone:
            return 410
        if name not in self.keys:
            return 404
        why = self._check_vapid(headers.get("authorization", ""))
        if why:
            self.got.rejected.append(why)
            return 401
        if headers.get("content-encoding") != "aes128gcm" or "ttl" not in headers:
            self.got.rejected.append("headers")
            return 400
        private, auth = self.keys[name]
        try:
            plain = http_ece.decrypt(body, private_key=private, auth_secret=auth,
                                     version="aes128gcm")
        except Exception as exc:  # noqa: BLE001 - any decryption failure is a rejection
            self.got.rejected.append(f"decrypt: {exc}")
            return 400
        self.got.accepted.append({"subscription": name, **json.loads(plain)})
        return 201

    def _check_vapid(self, header: str) -> str | None:
        if not header.startswith("vapid "):
            return f"no vapid authorization: {header[:30]!r}"
        params = dict(p.strip().split("=", 1) for p in header[6:].split(","))
        if params.get("k") != self.vapid_public_key:
            return "another application server key"
        token = params.get("t", "")
        head, claims, sig = token.split(".")
        if json.loads(b64d(head)).get("alg") != "ES256":
            return "not ES256"
        raw = b64d(sig)
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(params["k"]))
        try:
            key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                            int.from_bytes(raw[32:], "big")),
                       f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return "bad JWT signature"
        c = json.loads(b64d(claims))
        if c.get("aud") != self.origin:
            return "wrong audience"
        if not time.time() < c.get("exp", 0) <= time.time() + 24 * 3600:
            return "expired or too long"
        if not str(c.get("sub", "")).startswith(("mailto:", "https:")):
            return "no contact"
        return None

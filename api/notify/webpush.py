"""Web Push (RFC 8030, payloads encrypted per RFC 8291 aes128gcm, VAPID RFC 8292) with
pywebpush: the installation's VAPID key, and one push to one subscription.

The VAPID key is made by ``waste-ledger init`` (and on the first start when it is missing) in
the instance directory, mode 0600 (``VAPID_KEY_FILE``). Its public half is what browsers
subscribe with (``applicationServerKey``): a new key would orphan every subscription, so it is
kept like the operator key (docs/deployment.md, backups).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from api.instance import write_private_file
from api.notify.webhooks import Reach, check_url
from ledger.errors import InvalidInput


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ensure_vapid_key(path: Path) -> bool:
    """Make the VAPID key file (PEM, 0600) if it does not exist; True if it was made."""
    if path.exists():
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        write_private_file(path, pem)
    except FileExistsError:  # another process made it first
        return False
    return True


def load_vapid(path: Path) -> Vapid:
    return Vapid.from_file(str(path))


def public_key(path: Path) -> str:
    """The applicationServerKey: the uncompressed P-256 point, base64url without padding."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    raw = key.public_key().public_bytes(serialization.Encoding.X962,
                                        serialization.PublicFormat.UncompressedPoint)
    return b64url(raw)


def check_subscription(endpoint: str, p256dh: str, auth: str, reach: Reach) -> None:
    """A subscription as a browser makes it: an https endpoint of a push service (http and
    loopback only where configured, for tests), a P-256 key and a 16-byte secret."""
    try:
        check_url(endpoint, reach, https_only=True)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, code=exc.code, field="endpoint") from None
    try:
        point = base64.urlsafe_b64decode(p256dh + "=" * (-len(p256dh) % 4))
        secret = base64.urlsafe_b64decode(auth + "=" * (-len(auth) % 4))
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise InvalidInput("keys.p256dh is not a P-256 public key", code="field_invalid",
                           field="keys.p256dh") from None
    if len(secret) != 16:
        raise InvalidInput("keys.auth is a 16-byte secret", code="field_invalid",
                           field="keys.auth")


@dataclass(frozen=True)
class PushResult:
    ok: bool
    status: int | None
    error: str | None
    gone: bool = False  # 404/410: the browser unsubscribed; drop the subscription


def push(endpoint: str, p256dh: str, auth: str, payload: dict[str, Any], *, vapid: Vapid,
         subject: str, reach: Reach, timeout: float, ttl: int) -> PushResult:
    """Encrypt ``payload`` (JSON) for the subscription and POST it with a VAPID JWT."""
    try:
        check_url(endpoint, reach, https_only=True)
    except InvalidInput as exc:
        return PushResult(False, None, exc.message)
    info = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
    try:
        resp = webpush(info, json.dumps(payload, ensure_ascii=False), vapid_private_key=vapid,
                       vapid_claims={"sub": subject}, timeout=timeout, ttl=ttl)
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        return PushResult(False, status, f"HTTP {status}" if status else str(exc)[:200],
                          gone=status in (404, 410))
    except OSError as exc:  # requests' connection errors are OSErrors
        return PushResult(False, None, type(exc).__name__)
    status = getattr(resp, "status_code", None)
    return PushResult(True, status, None)

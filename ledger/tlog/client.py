"""A Python client that holds a signing key and talks to the JSON API.

It asks the server for a draft (the exact payload with the next seq, prev and time), signs the
text locally — the private key never leaves this process — and posts the signed note. The
transport is pluggable so tests and ``seed-demo`` can run it in-process.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.errors import Conflict, LedgerError
from ledger.tlog.notes import Signer, add_signature, sign_note

Transport = Callable[[str, str, bytes | None, dict[str, str]], tuple[int, bytes]]


class ApiError(LedgerError):
    """The server answered with an error body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""), code=body.get("code", "api_error"))
        self.status = status
        self.body = body


def http_transport(base_url: str, timeout: float = 30) -> Transport:
    """Send requests over HTTP with urllib (standard library only)."""
    def send(method: str, path: str, body: bytes | None,
             headers: dict[str, str]) -> tuple[int, bytes]:
        req = urllib.request.Request(base_url.rstrip("/") + path, data=body, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
    return send


@dataclass
class Client:
    """Acts for one organisation with one registered key."""

    transport: Transport
    org: str
    key: Signer
    token: str | None = None
    retries: int = 3
    clock: str | None = None  # sign with this time (RFC 3339) instead of the server's

    def _headers(self, content_type: str = "application/json") -> dict[str, str]:
        h = {"Content-Type": content_type, "Accept": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        status, raw = self.transport(method, path, data, self._headers())
        payload = json.loads(raw) if raw else None
        if status >= 400:
            raise ApiError(status, payload or {})
        return payload

    def draft(self, kind: str, stream: str, data: dict[str, Any]) -> str:
        """The note text the server says to sign next in ``stream``."""
        body = {"stream": stream, "org": self.org, "key": self.key.verifier.fingerprint,
                "data": data}
        if self.clock:
            body["t"] = self.clock
        d = self.request("POST", f"/api/v1/drafts/{kind}", body)
        return d["note_text"]

    def post_note(self, note: bytes) -> dict[str, Any]:
        status, raw = self.transport("POST", "/api/v1/entries", note,
                                     self._headers("text/plain; charset=utf-8"))
        body = json.loads(raw)
        if status >= 400:
            raise ApiError(status, body)
        return body

    def act(self, kind: str, stream: str, data: dict[str, Any]) -> dict[str, Any]:
        """Draft, sign locally and post; re-draft and re-sign if another entry got there
        first (the stream moved on while we were signing)."""
        for attempt in range(self.retries):
            note = sign_note(self.draft(kind, stream, data), self.key)
            try:
                return self.post_note(note)
            except ApiError as exc:
                if exc.status != 409 or attempt == self.retries - 1:
                    raise
        raise Conflict("gave up after retries", code="append_race")

    # --- the custody vocabulary -----------------------------------------------------------

    def declare(self, code: str, description: dict[str, Any]) -> dict[str, Any]:
        return self.act("batch.declared", code, description)

    def release(self, code: str, to: str, mass_g: int, manifest: str,
                vehicle: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"to": to, "mass_g": mass_g, "manifest": manifest}
        if vehicle:
            data["vehicle"] = vehicle
        return self.act("custody.released", code, data)

    def accept(self, code: str, frm: str, mass_g: int, manifest: str) -> dict[str, Any]:
        return self.act("custody.accepted", code,
                        {"from": frm, "mass_g": mass_g, "manifest": manifest})

    def refuse(self, code: str, frm: str, manifest: str, reason: str,
               refused_mass_g: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"from": frm, "manifest": manifest, "reason": reason}
        if refused_mass_g is not None:
            data["refused_mass_g"] = refused_mass_g
        return self.act("custody.refused", code, data)

    def withdraw(self, code: str, manifest: str, reason: str) -> dict[str, Any]:
        """Withdraw a half-signed handover of ``code`` on ``manifest`` (撤回)."""
        return self.act("custody.withdrawn", code, {"manifest": manifest, "reason": reason})

    def hand_off(self, parent: str, child: str, mass_g: int) -> dict[str, Any]:
        return self.act("custody.consolidated_out", parent, {"into": child, "mass_g": mass_g})

    def consolidate(self, child: str, parents: list[tuple[str, int]],
                    description: dict[str, Any]) -> dict[str, Any]:
        """Hand off each parent into ``child``, then declare the child naming each hand-off."""
        links = []
        for code, mass in parents:
            receipt = self.hand_off(code, child, mass)
            links.append({"code": code, "mass_g": mass, "entry": receipt["leaf_hash"]})
        return self.act("batch.consolidated", child, {**description, "parents": links})

    def dispose(self, code: str, method: str, method_code: str, permit: str,
                mass_g: int) -> dict[str, Any]:
        return self.act("custody.disposed", code, {
            "method": method, "method_code": method_code, "permit": permit, "mass_g": mass_g})

    def sign_correction(self, code: str, corrects: str, mass_g: int, reason: str) -> bytes:
        """Draft and sign a correction; a handover correction then goes to the other party
        to co-sign (``cosign``) before it is posted."""
        text = self.draft("custody.corrected", code,
                          {"corrects": corrects, "mass_g": mass_g, "reason": reason})
        return sign_note(text, self.key)

    def cosign(self, note: bytes) -> bytes:
        """Add this party's signature to a note another party signed."""
        return add_signature(note, self.key)

    def batch(self, code: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v1/batches/{code}")

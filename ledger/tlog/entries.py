"""Ledger entries: signed notes whose text is a header line and one canonical JSON payload.

::

    waste-ledger/entry/v1
    {"data":{...},"key":"<hex sha256 of pub>","kind":"...","org":"...","prev":"<b64>",
     "seq":3,"stream":"...","t":"2026-11-22T07:08:08Z"}

    — <key name> <base64(key ID || signature)>

The payload line is exactly ``rfc8785.dumps(payload)``. Because the server never re-serialises,
a payload that is not already canonical is rejected rather than "fixed". docs/ledger-format.md
is the normative description; this module is its executable form, shared by the append path and
the offline verifier.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import rfc8785

from ledger.errors import NoteMalformed, PayloadInvalid
from ledger.tlog.merkle import leaf_hash
from ledger.tlog.notes import Note, b64, parse_note, unb64

HEADER = "waste-ledger/entry/v1"
MAX_SAFE_INT = 2**53 - 1  # RFC 8785 / I-JSON: integers beyond this lose precision elsewhere
MAX_DEPTH = 16
# 2**16 - 1: tlog-tiles entry bundles frame each note with a uint16 length (ledger/tlog/tiles.py),
# so no log may accept a larger note; the default is that ceiling.
MAX_BUNDLE_ENTRY = 0xFFFF
DEFAULT_MAX_NOTE_BYTES = MAX_BUNDLE_ENTRY

FIELDS_REQUIRED = ("data", "key", "kind", "org", "seq", "stream", "t")
FIELDS_ALLOWED = frozenset(FIELDS_REQUIRED) | {"prev"}

STREAM_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z:._/\-]{0,127}")
ORG_RE = re.compile(r"[0-9A-Z]{18}")
KIND_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
FINGERPRINT_RE = re.compile(r"[0-9a-f]{64}")
# RFC 3339 in UTC with a Z; whole seconds or exactly milliseconds (what browsers produce).
TIME_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
                     r"(?:\.([0-9]{3}))?Z")


@dataclass(frozen=True)
class Entry:
    """A parsed, canonically-checked entry. ``note`` holds the exact bytes that were signed."""

    note: Note
    payload_bytes: bytes
    payload: dict[str, Any]
    leaf_hash: bytes

    @property
    def stream(self) -> str:
        return self.payload["stream"]

    @property
    def seq(self) -> int:
        return self.payload["seq"]

    @cached_property
    def prev(self) -> bytes | None:
        p = self.payload.get("prev")
        return None if p is None else unb64(p, field="prev", length=32)

    @property
    def org(self) -> str:
        return self.payload["org"]

    @property
    def key(self) -> str:
        return self.payload["key"]

    @property
    def kind(self) -> str:
        return self.payload["kind"]

    @property
    def data(self) -> dict[str, Any]:
        return self.payload["data"]

    @property
    def t(self) -> str:
        return self.payload["t"]

    @cached_property
    def t_ms(self) -> int:
        return parse_time(self.payload["t"])


def parse_time(text: str, field: str = "t") -> int:
    """Milliseconds since the epoch of an RFC 3339 UTC time like 2026-11-22T07:08:08.123Z."""
    m = TIME_RE.fullmatch(text) if isinstance(text, str) else None
    if not m:
        raise PayloadInvalid(
            "time must be RFC 3339 UTC like 2026-11-22T07:08:08Z or ...08.123Z",
            code="time_malformed",
            field=field,
        )
    y, mo, d, h, mi, s, ms = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
    except ValueError:
        raise PayloadInvalid(f"{text} is not a real time", code="time_malformed",
                             field=field) from None
    return int(dt.timestamp()) * 1000 + int(ms or 0)


def format_time(ms: int) -> str:
    """The canonical text of a time in milliseconds (milliseconds shown only when non-zero)."""
    dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
    frac = f".{ms % 1000:03d}" if ms % 1000 else ""
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def canonical(payload: dict[str, Any]) -> bytes:
    """The canonical (RFC 8785) bytes of a payload, after checking it obeys our JSON profile."""
    check_json_profile(payload, "payload", 0)
    return rfc8785.dumps(payload)


def check_json_profile(value: Any, path: str, depth: int) -> None:
    """No floats, integers within +/-(2**53-1), ASCII object keys, bounded nesting, no NUL
    or DEL in strings and keys."""
    if depth > MAX_DEPTH:
        raise PayloadInvalid(f"nested deeper than {MAX_DEPTH}", code="json_too_deep", field=path)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        if isinstance(value, str):
            _check_string(value, path)
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise PayloadInvalid("integer out of range (|n| <= 2**53-1)", code="json_int_range",
                                 field=path)
        return
    if isinstance(value, float):
        raise PayloadInvalid("floats are not allowed; use integers (grams, milliseconds)",
                             code="json_float", field=path)
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_json_profile(item, f"{path}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str) or not k.isascii():
                raise PayloadInvalid("object keys must be ASCII", code="json_key_not_ascii",
                                     field=path)
            _check_string(k, path)
            check_json_profile(v, f"{path}.{k}", depth + 1)
        return
    raise PayloadInvalid(f"unsupported JSON value {type(value).__name__}", field=path)


def _check_string(s: str, path: str) -> None:
    # Lone surrogates can be written as JSON escapes but are not Unicode text.
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadInvalid("string contains a lone surrogate", code="json_surrogate",
                             field=path) from None
    # RFC 8785 writes DEL unescaped, and a signed note may not contain ASCII controls.
    if "\x7f" in s:
        raise PayloadInvalid("string contains DEL (U+007F)", code="json_control_char",
                             field=path)
    # NUL is escaped (\u0000) so the note is fine, but PostgreSQL text cannot hold it and C
    # strings end at it: a projection would fail on one database and not the other.
    if "\x00" in s:
        raise PayloadInvalid("string contains NUL (U+0000)", code="json_control_char",
                             field=path)


def _reject_constant(name: str) -> Any:
    raise PayloadInvalid(f"{name} is not allowed in JSON", code="json_float", field="payload")


def _reject_float(text: str) -> Any:
    raise PayloadInvalid(f"floats are not allowed ({text}); use integers",
                         code="json_float", field="payload")


def load_payload(line: bytes) -> dict[str, Any]:
    """Parse the payload line and insist its bytes are exactly the canonical form."""
    try:
        value = json.loads(
            line.decode("utf-8"), parse_float=_reject_float, parse_constant=_reject_constant
        )
    except PayloadInvalid:
        raise
    except (ValueError, RecursionError) as exc:  # includes JSONDecodeError, huge int strings
        raise PayloadInvalid(f"payload is not valid JSON: {exc}", code="json_malformed",
                             field="payload") from None
    if not isinstance(value, dict):
        raise PayloadInvalid("payload must be a JSON object", code="json_not_object",
                             field="payload")
    check_json_profile(value, "payload", 0)
    if fast_canonical(value) != line:
        raise PayloadInvalid(
            "payload is not RFC 8785 canonical JSON (sorted keys, no spaces, exact escapes)",
            code="payload_not_canonical",
            field="payload",
        )
    return value


def fast_canonical(value: Any) -> bytes:
    """RFC 8785 bytes of a value already inside our JSON profile, four times faster.

    Within the profile (ASCII object keys, integers only, no lone surrogates, no NUL or DEL) the
    standard library's compact, key-sorted encoder without ASCII escaping writes exactly what
    RFC 8785 prescribes: keys sorted by code point equal UTF-16 order for ASCII, the same short
    escapes and lowercase \\u00XX for other control characters, other text as is. A property
    test holds it to ``rfc8785.dumps``; producers still use ``rfc8785`` (``canonical``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      sort_keys=True).encode("utf-8")


def check_fields(p: dict[str, Any]) -> None:
    """The envelope fields every entry carries, with their exact forms."""
    missing = [f for f in FIELDS_REQUIRED if f not in p]
    if missing:
        raise PayloadInvalid(f"missing field {missing[0]}", code="field_missing", field=missing[0])
    extra = sorted(set(p) - FIELDS_ALLOWED)
    if extra:
        raise PayloadInvalid(f"unknown field {extra[0]}", code="field_unknown", field=extra[0])
    _match(STREAM_RE, p["stream"], "stream")
    _match(ORG_RE, p["org"], "org")
    _match(KIND_RE, p["kind"], "kind")
    _match(FINGERPRINT_RE, p["key"], "key")
    seq = p["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise PayloadInvalid("seq must be an integer >= 0", code="field_invalid", field="seq")
    if seq == 0 and "prev" in p:
        raise PayloadInvalid("the first entry of a stream has no prev", code="prev_unexpected",
                             field="prev")
    if seq > 0:
        if "prev" not in p:
            raise PayloadInvalid("prev is required after seq 0", code="field_missing",
                                 field="prev")
        if not isinstance(p["prev"], str):
            raise PayloadInvalid("prev must be a base64 string", code="field_invalid",
                                 field="prev")
        unb64(p["prev"], field="prev", length=32)
    if not isinstance(p["data"], dict):
        raise PayloadInvalid("data must be an object", code="field_invalid", field="data")
    parse_time(p["t"])


def _match(pattern: re.Pattern[str], value: Any, field: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise PayloadInvalid(f"{field} has the wrong form", code="field_invalid", field=field)


def parse_entry(raw: bytes, *, max_size: int = DEFAULT_MAX_NOTE_BYTES) -> Entry:
    """Parse and check an entry note's format (not its signatures or place in the log)."""
    note = parse_note(raw, max_size=max_size)
    lines = note.text.split(b"\n")
    # text = header \n payload \n  ->  ["header", "payload", ""]
    if len(lines) != 3 or lines[0] != HEADER.encode():
        raise NoteMalformed(
            f"entry text must be exactly two lines: '{HEADER}' and the payload",
            code="entry_header",
            field="note",
        )
    payload_bytes = lines[1]
    payload = load_payload(payload_bytes)
    check_fields(payload)
    return Entry(note, payload_bytes, payload, leaf_hash(raw))


def entry_text(payload: dict[str, Any]) -> bytes:
    """The note text to sign for a payload: header, canonical payload, newline."""
    return HEADER.encode() + b"\n" + canonical(payload) + b"\n"


def prev_field(leaf: bytes) -> str:
    """How a payload names its predecessor's leaf hash."""
    return b64(leaf)

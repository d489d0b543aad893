"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys.

A note is UTF-8 text ending in a newline, a blank line, then one or more signature lines::

    <text, one or more lines, each ending in \\n>
    \\n
    — <key name> <base64(4-byte key ID || 64-byte Ed25519 signature)>\\n

The signature covers the text bytes exactly (including the final newline of the text). Key IDs
are the first four bytes of SHA-256(name || 0x0A || 0x01 || public key); verifier keys are
written ``name+hex(key ID)+base64(0x01 || public key)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from ledger.errors import InvalidInput, NoteMalformed, SignatureInvalid, TooLarge

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # EM DASH, SPACE
MAX_SIGNATURES = 16

# C2SP: key names are non-empty and contain no Unicode spaces and no "+". We are stricter, so a
# name is safe in a file name, a URL and a shell: letters, digits and . _ - / :
KEY_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:\-]{0,127}")
# Control characters other than newline are forbidden anywhere in a note (C2SP).
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def b64(data: bytes) -> str:
    """Standard base64 with padding, as every format here uses."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, *, field: str, length: int | None = None) -> bytes:
    """Strict standard base64 (padding required, no whitespace) of an expected length."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidInput(f"{field} is not valid base64", code="base64_invalid",
                           field=field) from None
    if b64(raw) != text:  # reject non-canonical encodings (stray bits in the last group)
        raise InvalidInput(f"{field} is not canonical base64", code="base64_invalid", field=field)
    if length is not None and len(raw) != length:
        raise InvalidInput(
            f"{field} must decode to {length} bytes, got {len(raw)}",
            code="base64_length",
            field=field,
        )
    return raw


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte C2SP key ID of an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def fingerprint(public_key: bytes) -> str:
    """Hex SHA-256 of the raw 32-byte public key: how entries name the key that signed them."""
    return hashlib.sha256(public_key).hexdigest()


def check_key_name(name: str) -> str:
    """Raise unless ``name`` is an acceptable key name."""
    if not isinstance(name, str) or not KEY_NAME_RE.fullmatch(name):
        raise InvalidInput(
            "key name must be 1-128 of A-Z a-z 0-9 . _ - / : and start with a letter or digit",
            code="key_name_invalid",
            field="name",
        )
    return name


@dataclass(frozen=True)
class VerifierKey:
    """A public key with its name, as a C2SP vkey."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([ALG_ED25519]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message`` under the
        strict rule of ``verify_ed25519``."""
        return verify_ed25519(self.public_key, message, signature)


# Ed25519 points of small order (and non-canonical encodings of them): a "public key" like
# these makes trivial signatures verify, so a party could later deny what it signed. The list
# is the one libsodium and others refuse: the y coordinates of the 8 points of order 1, 2, 4
# and 8 (order 4 and 8 points come in pairs of opposite x, told apart only by the sign bit,
# which is masked before comparing, so every encoding of the 8 points is caught).
_P = 2**255 - 19
ED25519_L = 2**252 + 27742317777372353535851937790883648493  # the prime order of the group
_SMALL_ORDER = frozenset(bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
))


def is_weak_point(encoded: bytes) -> bool:
    """True for a 32-byte point encoding that is non-canonical (y >= p) or one of the 8
    points of small order, in any encoding (sign bit set or not)."""
    masked = encoded[:31] + bytes([encoded[31] & 0x7F])
    return masked in _SMALL_ORDER or int.from_bytes(masked, "little") >= _P


def verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification under this format's strict rule (docs/ledger-format.md 2.8).

    Libraries disagree about edge cases that RFC 8032 leaves open: OpenSSL accepts a
    signature whose R is the identity point (which anyone holding the key can make), libsodium
    rejects it. So before the group equation we refuse what libsodium and ed25519-dalek's
    ``verify_strict`` refuse: non-canonical or small-order A and R, and S >= L. What remains
    is judged alike by every common library, and an export we accept verifies everywhere."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    if is_weak_point(public_key) or is_weak_point(signature[:32]):
        return False
    if int.from_bytes(signature[32:], "little") >= ED25519_L:
        return False
    try:
        _public_key_object(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@lru_cache(maxsize=4096)
def _public_key_object(public_key: bytes) -> Ed25519PublicKey:
    # Loading a key costs about as much as a verification; verifiers see few distinct keys.
    return Ed25519PublicKey.from_public_bytes(public_key)


def parse_vkey(text: str) -> VerifierKey:
    """Parse ``name+hexkeyid+base64(0x01||pub)``, checking the key ID matches."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise InvalidInput("a vkey is name+keyid+key", code="vkey_malformed", field="vkey")
    name, hex_id, key_b64 = parts
    check_key_name(name)
    raw = unb64(key_b64, field="vkey", length=33)
    if raw[0] != ALG_ED25519:
        raise InvalidInput("only Ed25519 vkeys (type 0x01) are accepted", code="vkey_algorithm",
                           field="vkey")
    try:
        Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError:
        raise InvalidInput("not an Ed25519 public key", code="vkey_malformed",
                           field="vkey") from None
    if is_weak_point(raw[1:]):
        raise InvalidInput("a small-order or non-canonical Ed25519 key cannot be used",
                           code="vkey_weak", field="vkey")
    vk = VerifierKey(name, raw[1:])
    if hex_id != vk.key_id.hex():
        raise InvalidInput("vkey key ID does not match its name and key", code="vkey_key_id",
                           field="vkey")
    return vk


class Signer:
    """An Ed25519 private key with a name; signs note texts."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.name = check_key_name(name)
        self._private = private_key
        pub = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = VerifierKey(name, pub)

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Signer:
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        """The 32-byte private seed (for key files; keep it secret)."""
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def private_key_text(self) -> str:
        """The key as text, in the signed-note tooling's form ``PRIVATE+KEY+name+id+base64``."""
        seed = b64(bytes([ALG_ED25519]) + self.seed())
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{seed}"

    @classmethod
    def from_private_key_text(cls, text: str) -> Signer:
        """Inverse of ``private_key_text``; checks the key ID."""
        parts = text.strip().split("+", 4)  # base64 may itself contain "+"
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise InvalidInput("not a PRIVATE+KEY+name+id+key file", code="key_file_malformed",
                               field="key")
        raw = unb64(parts[4], field="key", length=33)
        if raw[0] != ALG_ED25519:
            raise InvalidInput("only Ed25519 keys are supported", code="key_file_malformed",
                               field="key")
        signer = cls.from_seed(parts[2], raw[1:])
        if signer.verifier.key_id.hex() != parts[3]:
            raise InvalidInput("key ID does not match the key", code="key_file_malformed",
                               field="key")
        return signer

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of ``message``."""
        return self._private.sign(message)

    def signature_line(self, text: bytes) -> str:
        sig = self._private.sign(text)
        return f"{SIG_PREFIX}{self.name} {b64(self.verifier.key_id + sig)}\n"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: who (name, key ID) and the 64-byte signature."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A parsed signed note: the exact signed text bytes and its signatures."""

    text: bytes
    signatures: tuple[NoteSignature, ...]
    raw: bytes


def sign_note(text: str | bytes, *signers: Signer) -> bytes:
    """Sign ``text`` (which must end in a newline) with each signer; returns the note bytes."""
    body = text.encode() if isinstance(text, str) else text
    if not body.endswith(b"\n"):
        raise NoteMalformed("note text must end with a newline", field="note")
    return body + b"\n" + "".join(s.signature_line(body) for s in signers).encode()


def add_signature(raw: bytes, signer: Signer) -> bytes:
    """Co-sign a note: append ``signer``'s signature line over the same text."""
    note = parse_note(raw)
    return raw + signer.signature_line(note.text).encode()


def check_note_size(size: int, max_size: int) -> None:
    """Raise TooLarge when a note of ``size`` bytes exceeds the limit."""
    if size > max_size:
        raise TooLarge(f"note is {size} bytes, the limit is {max_size}", field="note",
                       limit=max_size)


def signed_size(text: bytes, key_name: str) -> int:
    """The size of ``text`` once signed by one Ed25519 key named ``key_name``: what a draft
    can know of the note before it is signed."""
    line = f"{SIG_PREFIX}{key_name} {b64(bytes(4 + 64))}\n"
    return len(text) + 1 + len(line.encode())


def parse_note(raw: bytes, *, max_size: int | None = None) -> Note:
    """Split a signed note into text and signatures; raise NoteMalformed on any deviation."""
    if max_size is not None:
        check_note_size(len(raw), max_size)
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteMalformed(f"note is not valid UTF-8 (byte {exc.start})", code="note_not_utf8",
                            field="note") from None
    if _CONTROL_RE.search(decoded):
        raise NoteMalformed("note contains a control character", code="note_control_char",
                            field="note")
    if not decoded.endswith("\n"):
        raise NoteMalformed("note must end with a newline", field="note")
    split = decoded.rfind("\n\n")
    if split < 0:
        raise NoteMalformed("note has no blank line before its signatures", field="note")
    text = decoded[: split + 1]
    sig_lines = decoded[split + 2 :].split("\n")[:-1]
    if not sig_lines:
        raise NoteMalformed("note has no signature", code="note_unsigned", field="note")
    if len(sig_lines) > MAX_SIGNATURES:
        raise NoteMalformed(f"note has more than {MAX_SIGNATURES} signatures", field="note")
    sigs = tuple(_parse_signature_line(line) for line in sig_lines)
    return Note(text.encode("utf-8"), sigs, raw)


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIG_PREFIX):
        raise NoteMalformed("signature line must start with an em dash and a space", field="note")
    fields = line[len(SIG_PREFIX) :].split(" ")
    if len(fields) != 2 or not fields[0] or "+" in fields[0]:
        raise NoteMalformed("signature line must be '— name signature'", field="note")
    name, sig_b64 = fields
    try:
        raw = unb64(sig_b64, field="signature")
    except InvalidInput as exc:
        raise NoteMalformed(exc.message, field="note") from None
    # Other signature types (e.g. witness cosignatures) are longer; only lines by a known
    # Ed25519 key must carry exactly 64 signature bytes (checked when verifying).
    if len(raw) < 4 + 1:
        raise NoteMalformed("a signature line carries a key ID and a signature", field="note")
    return NoteSignature(name, raw[:4], raw[4:])


def verify_signature(note: Note, sig: NoteSignature, key: VerifierKey) -> None:
    """Raise SignatureInvalid unless ``sig`` is ``key``'s valid signature of the note text."""
    if (sig.name != key.name or sig.key_id != key.key_id or len(sig.signature) != 64
            or not key.verify(note.text, sig.signature)):
        raise SignatureInvalid(f"signature by {sig.name} does not verify", field="note",
                               key=key.fingerprint)

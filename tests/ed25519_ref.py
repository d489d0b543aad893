"""Ed25519 arithmetic in plain Python (after RFC 8032 section 6), to make signatures that no
signing library would produce: R the identity point, S >= L, small-order or non-canonical
points. Slow and not constant time; for building test vectors only.

``python -m tests.ed25519_ref`` rewrites tests/data/ed25519/strict.json (see its README).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z


def _inv(x: int) -> int:
    return pow(x, P - 2, P)


def add(a: Point, b: Point) -> Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def mul(s: int, pt: Point) -> Point:
    q: Point = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = add(q, pt)
        pt = add(pt, pt)
        s >>= 1
    return q


def equal(a: Point, b: Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def encode(pt: Point) -> bytes:
    zi = _inv(pt[2])
    x, y = pt[0] * zi % P, pt[1] * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def decode_lenient(s: bytes) -> Point | None:
    """Decode as the most lenient libraries do: y reduced mod p, a set sign bit on x = 0
    ignored. None when no point has that y."""
    y = int.from_bytes(s, "little") & ((1 << 255) - 1)
    sign = s[31] >> 7
    y %= P
    x2 = (y * y - 1) * _inv(D * y * y + 1) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x and (x & 1) != sign:
        x = P - x
    return (x, y, 1, x * y % P)


_GY = 4 * _inv(5) % P
B = decode_lenient(_GY.to_bytes(32, "little"))
assert B is not None
IDENTITY: Point = (0, 1, 1, 0)


def secret_scalar(seed: bytes) -> tuple[int, bytes]:
    """The clamped scalar a and the nonce prefix of a 32-byte seed."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed: bytes) -> bytes:
    return encode(mul(secret_scalar(seed)[0], B))


def challenge(r: bytes, a: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r + a + message).digest(), "little") % L


def sign(seed: bytes, message: bytes) -> bytes:
    """An ordinary RFC 8032 signature (the same bytes every library makes)."""
    a, prefix = secret_scalar(seed)
    pub = encode(mul(a, B))
    r = int.from_bytes(hashlib.sha512(prefix + message).digest(), "little") % L
    big_r = encode(mul(r, B))
    s = (r + challenge(big_r, pub, message) * a) % L
    return big_r + s.to_bytes(32, "little")


def sign_with_r(seed: bytes, message: bytes, r_bytes: bytes) -> bytes:
    """A signature whose R is ``r_bytes``, a small-order point (any encoding): with r's
    discrete log 0 modulo L, S = k * a satisfies [S]B = R + [k]A up to R's torsion, and
    exactly when R is the identity. Only the key holder can make it."""
    a, _ = secret_scalar(seed)
    pub = encode(mul(a, B))
    s = challenge(r_bytes, pub, message) * a % L
    return r_bytes + s.to_bytes(32, "little")


def cofactorless_holds(pub: bytes, message: bytes, signature: bytes) -> bool:
    """[S]B == R + [k]A with lenient decoding and S taken as it is (not reduced)."""
    a_pt, r_pt = decode_lenient(pub), decode_lenient(signature[:32])
    if a_pt is None or r_pt is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    k = challenge(signature[:32], pub, message)
    return equal(mul(s, B), add(r_pt, mul(k, a_pt)))


# --- the vectors of tests/data/ed25519/strict.json ------------------------------------------

SEED = bytes(32)  # device-1, the tests' key
ORDER_8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
IDENTITY_ENC = encode(IDENTITY)
IDENTITY_NONCANONICAL = (P + 1).to_bytes(32, "little")  # y = p + 1, i.e. y = 1
IDENTITY_NEGATIVE_ZERO = IDENTITY_ENC[:31] + b"\x80"  # x = 0 with the sign bit set


def _with_small_order_key(pub: bytes, label: str) -> dict[str, object]:
    """A key that is a small-order point T: pick messages until [k]T is the identity, then
    (R, S) = ([r]B, r) satisfies the group equation for a key no one holds."""
    t = decode_lenient(pub)
    assert t is not None
    r = 0x1234567
    big_r = encode(mul(r, B))
    for n in range(1000):
        message = f"{label} {n}".encode()
        if equal(mul(challenge(big_r, pub, message), t), IDENTITY):
            return _vector(label, pub, message, big_r + r.to_bytes(32, "little"))
    raise AssertionError("no message found")


def _vector(name: str, pub: bytes, message: bytes, signature: bytes, *,
            accept: bool = False) -> dict[str, object]:
    return {"name": name, "public_key": pub.hex(), "message": message.hex(),
         "signature": signature.hex(), "expected": "accept" if accept else "reject",
         "cofactorless_equation_holds": cofactorless_holds(pub, message, signature)}


def vectors() -> list[dict[str, object]]:
    pub = public_key(SEED)
    msg = b"waste-ledger/entry/v1\n{}\n"
    good = sign(SEED, msg)
    s = int.from_bytes(good[32:], "little")
    return [
        _vector("valid", pub, msg, good, accept=True),
        _vector("identity_R", pub, msg, sign_with_r(SEED, msg, IDENTITY_ENC)),
        _vector("identity_R_noncanonical", pub, msg,
                sign_with_r(SEED, msg, IDENTITY_NONCANONICAL)),
        _vector("identity_R_negative_zero", pub, msg,
                sign_with_r(SEED, msg, IDENTITY_NEGATIVE_ZERO)),
        _vector("S_plus_L", pub, msg, good[:32] + (s + L).to_bytes(32, "little")),
        _with_small_order_key(IDENTITY_ENC, "small_order_A_identity"),
        _with_small_order_key(ORDER_8, "small_order_A_order_8"),
        _with_small_order_key(IDENTITY_NONCANONICAL, "noncanonical_A"),
    ]


def main() -> None:
    out = Path(__file__).parent / "data" / "ed25519" / "strict.json"
    out.write_text(json.dumps(vectors(), indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

A USCC is 18 characters from a 31-character alphabet (digits and capital letters without
I, O, Z, S, V, which are too easily confused with 1, 0, 2, 5, U):

====  ===========================================================
 1    registration authority (登记管理部门代码), e.g. 9 = market regulation
 2    organisation type (机构类别代码), e.g. 1 = enterprise
3-8   administrative region of the registering authority (GB/T 2260)
9-17  organisation code (主体标识码, GB 11714), its last character a check
 18   check character over positions 1-17 (校验码)
====  ===========================================================

Only the format, the region digits and the position-18 check are enforced: the other
fields have many historical values, and the GB 11714 check inside positions 9-17 is not
reliable for every kind of registrant, so rejecting on it would refuse real organisations.
"""

from __future__ import annotations

from ledger.errors import InvalidInput

__all__ = [
    "USCC_ALPHABET",
    "USCC_LENGTH",
    "check_character",
    "is_valid_uscc",
    "make_uscc",
    "region_of",
    "validate_uscc",
]

#: The 31 characters of GB 32100-2015 in value order: "0" is 0, "A" is 10, "Y" is 30.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_LENGTH = 18

_VALUES = {char: value for value, char in enumerate(USCC_ALPHABET)}
#: W_i = 3^(i-1) mod 31 for positions 1..17.
_WEIGHTS = tuple(pow(3, i, 31) for i in range(USCC_LENGTH - 1))
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_FIELD = "uscc"

# GB 11714 organisation code: 8 body characters, weights 3,7,9,10,5,8,4,2, check mod 11.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_SERIAL_LIMIT = 10**8


def _normalise(text: object, length: int) -> str:
    """Strip surrounding whitespace, uppercase ASCII letters, and check length and alphabet."""
    if not isinstance(text, str):
        raise InvalidInput(
            f"USCC must be a string, got {type(text).__name__}",
            code="uscc_type_invalid",
            field=_FIELD,
        )
    # Only ASCII is uppercased: str.upper() would turn a ligature such as "ﬁ" into two
    # characters and report a confusing length instead of the bad character.
    code = text.strip().translate(_ASCII_UPPER)
    if len(code) != length:
        raise InvalidInput(
            f"USCC must be {length} characters, got {len(code)}",
            code="uscc_length_invalid",
            field=_FIELD,
            expected=length,
            actual=len(code),
        )
    for position, char in enumerate(code, start=1):
        if char not in _VALUES:
            raise InvalidInput(
                f"USCC character {position} is {char!r}, which is not allowed: a USCC uses "
                "only 0-9 and A-H J-N P-R T U W-Y (never I, O, Z, S or V)",
                code="uscc_character_invalid",
                field=_FIELD,
                position=position,
            )
    return code


def _check_of(first17: str) -> str:
    """The GB 32100 check character of 17 already-validated characters."""
    total = sum(_VALUES[char] * weight for char, weight in zip(first17, _WEIGHTS, strict=True))
    # 31 - (total mod 31) lies in 1..31; 31 stands for the character of value 0.
    return USCC_ALPHABET[(31 - total % 31) % 31]


def check_character(first17: str) -> str:
    """Return the check character (校验码) that completes the first 17 characters of a USCC."""
    return _check_of(_normalise(first17, USCC_LENGTH - 1))


def validate_uscc(s: str) -> str:
    """Return the normalised USCC, or raise `InvalidInput` saying what is wrong.

    Surrounding whitespace is stripped and letters uppercased; nothing else is forgiven.
    Error codes: ``uscc_type_invalid``, ``uscc_length_invalid``, ``uscc_character_invalid``,
    ``uscc_region_invalid`` and ``uscc_check_invalid``.
    """
    code = _normalise(s, USCC_LENGTH)
    region = code[2:8]
    if not region.isdigit():
        raise InvalidInput(
            f"USCC characters 3-8 must be the 6-digit administrative region code, got {region!r}",
            code="uscc_region_invalid",
            field=_FIELD,
        )
    expected = _check_of(code[:17])
    if code[17] != expected:
        raise InvalidInput(
            f"USCC check character is wrong: expected {expected}, got {code[17]}",
            code="uscc_check_invalid",
            field=_FIELD,
            expected=expected,
            actual=code[17],
        )
    return code


def is_valid_uscc(s: str) -> bool:
    """Whether ``s`` is a valid USCC (after stripping whitespace and uppercasing)."""
    try:
        validate_uscc(s)
    except InvalidInput:
        return False
    return True


def region_of(uscc: str) -> str:
    """The 6-digit administrative region code (行政区划代码) in positions 3-8 of a valid USCC."""
    return validate_uscc(uscc)[2:8]


def _org_code(serial: int) -> str:
    """A GB 11714 organisation code: 8 digits of ``serial`` and its mod-11 check character."""
    body = f"{serial:08d}"
    total = sum(int(digit) * weight for digit, weight in zip(body, _ORG_WEIGHTS, strict=True))
    check = (11 - total % 11) % 11
    return body + ("X" if check == 10 else str(check))


def make_uscc(region: str, serial: int, *, authority: str = "9", org_type: str = "1") -> str:
    """Make a valid USCC for demo data and tests (not a registration: it may collide with a
    real organisation's code, so never present generated codes as real ones).

    ``region`` is the 6-digit region code, ``serial`` (0..99,999,999) becomes the organisation
    code with its GB 11714 check, and the defaults ``9``/``1`` make it an enterprise
    registered with market regulation (市场监管部门登记的企业).
    """
    if not (isinstance(region, str) and len(region) == 6 and region.isascii() and region.isdigit()):
        raise InvalidInput(
            f"region must be a 6-digit administrative region code, got {region!r}",
            code="uscc_region_invalid",
            field="region",
        )
    for name, value in (("authority", authority), ("org_type", org_type)):
        if not (isinstance(value, str) and len(value) == 1 and value in _VALUES):
            raise InvalidInput(
                f"{name} must be one USCC character (0-9, A-H J-N P-R T U W-Y), got {value!r}",
                code="uscc_character_invalid",
                field=name,
            )
    if isinstance(serial, bool) or not isinstance(serial, int):
        raise InvalidInput("serial must be an integer", code="uscc_serial_invalid", field="serial")
    if not 0 <= serial < _ORG_SERIAL_LIMIT:
        raise InvalidInput(
            f"serial must be between 0 and {_ORG_SERIAL_LIMIT - 1}, got {serial}",
            code="uscc_serial_invalid",
            field="serial",
        )
    first17 = _normalise(authority + org_type + region + _org_code(serial), USCC_LENGTH - 1)
    return first17 + _check_of(first17)

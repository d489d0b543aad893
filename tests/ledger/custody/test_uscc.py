"""Unified social credit codes (统一社会信用代码, GB 32100-2015)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.custody.uscc import (
    USCC_ALPHABET,
    check_character,
    is_valid_uscc,
    make_uscc,
    region_of,
    validate_uscc,
)
from ledger.errors import InvalidInput

# Property tests check correctness, not speed: a busy CI machine must not fail them.
no_deadline = settings(deadline=None)

# Published codes of real organisations: their check characters were computed by the
# registration authorities, not by this module.
ALIBABA_CHINA = "91330100799655058B"  # 阿里巴巴（中国）有限公司, Hangzhou
HUAWEI = "914403001922038216"  # 华为技术有限公司, Shenzhen
HJ608_EXAMPLE = "91130200699229617X"  # HJ 608-2017 Annex A: 河钢股份有限公司唐山分公司
TENCENT = "9144030071526726XG"  # 腾讯科技（深圳）有限公司 (an X inside the organisation code)
REAL_CODES = [ALIBABA_CHINA, HUAWEI, HJ608_EXAMPLE, TENCENT]

# Written out from the standard rather than derived, so the tests don't share the module's code.
STANDARD_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
# A code whose weighted sum is divisible by 31: the "31 maps to 0" case.
CHECK_ZERO = "913310010000001230"


def reference_check(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, STANDARD_WEIGHTS, strict=True))
    value = 31 - total % 31
    return USCC_ALPHABET[0 if value == 31 else value]


@contextmanager
def raises_code(code: str, field: str = "uscc") -> Iterator[pytest.ExceptionInfo[InvalidInput]]:
    with pytest.raises(InvalidInput) as info:
        yield info
    assert (info.value.code, info.value.field) == (code, field), str(info.value)


uscc_chars = st.sampled_from(USCC_ALPHABET)
first17s = st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17)
regions = st.from_regex(r"[1-8][0-9]{5}", fullmatch=True)


def test_alphabet_is_the_standard_one() -> None:
    assert len(USCC_ALPHABET) == 31
    assert not set("IOZSV") & set(USCC_ALPHABET)
    assert USCC_ALPHABET.index("A") == 10 and USCC_ALPHABET.index("Y") == 30


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code: str) -> None:
    assert check_character(code[:17]) == code[17]
    assert validate_uscc(code) == code
    assert is_valid_uscc(code)


def test_check_of_31_maps_to_zero() -> None:
    assert reference_check(CHECK_ZERO[:17]) == "0"
    assert check_character(CHECK_ZERO[:17]) == "0"
    assert validate_uscc(CHECK_ZERO) == CHECK_ZERO


@no_deadline
@given(first17s)
def test_check_character_follows_the_standard(first17: str) -> None:
    assert check_character(first17) == reference_check(first17)


def test_region_of() -> None:
    assert region_of(ALIBABA_CHINA) == "330100"
    assert region_of(f"  {HUAWEI.lower()} ") == "440300"


@pytest.mark.parametrize("raw", [f" {ALIBABA_CHINA}\n", ALIBABA_CHINA.lower(), f"\u3000{TENCENT}"])
def test_validate_strips_and_uppercases(raw: str) -> None:
    assert validate_uscc(raw) == raw.strip().upper()


@pytest.mark.parametrize(
    "raw", ["", ALIBABA_CHINA[:17], ALIBABA_CHINA + "0", "9133 0100799655058B"]
)
def test_wrong_length(raw: str) -> None:
    with raises_code("uscc_length_invalid") as info:
        validate_uscc(raw)
    assert "18 characters" in info.value.message


@pytest.mark.parametrize(
    ("raw", "position"),
    [
        ("I1330100799655058B", 1),  # I looks like 1
        ("91330100799655O58B", 15),  # O looks like 0
        ("913301007996550Z8B", 16),  # Z looks like 2
        ("9S330100799655058B", 2),  # S looks like 5
        ("91330100799655058V", 18),  # V looks like U
        ("91330100799655058i", 18),  # lowercase is uppercased first, and I is still illegal
        ("91330100-99655058B", 9),
        ("9133010079965505８B", 17),  # full-width digit: not forgiven
    ],
)
def test_illegal_characters(raw: str, position: int) -> None:
    with raises_code("uscc_character_invalid") as info:
        validate_uscc(raw)
    assert info.value.params["position"] == position
    assert f"character {position}" in info.value.message
    assert "never I, O, Z, S or V" in info.value.message


def test_region_must_be_digits() -> None:
    first17 = "91A30100799655058"  # a letter where the region code belongs
    with raises_code("uscc_region_invalid"):
        validate_uscc(first17 + check_character(first17))


@pytest.mark.parametrize("code", REAL_CODES)
def test_every_wrong_check_character_is_rejected(code: str) -> None:
    for wrong in USCC_ALPHABET.replace(code[17], ""):
        with raises_code("uscc_check_invalid") as info:
            validate_uscc(code[:17] + wrong)
        assert info.value.message == (
            f"USCC check character is wrong: expected {code[17]}, got {wrong}"
        )
        assert info.value.params == {"expected": code[17], "actual": wrong}


@pytest.mark.parametrize("value", [None, 914403001922038216, b"914403001922038216"])
def test_non_strings_are_rejected(value: object) -> None:
    with raises_code("uscc_type_invalid"):
        validate_uscc(value)  # type: ignore[arg-type]
    assert not is_valid_uscc(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["", "hello", ALIBABA_CHINA[:17] + "A", "91330100799655O58B"])
def test_is_valid_uscc_false(raw: str) -> None:
    assert not is_valid_uscc(raw)


@pytest.mark.parametrize("first17", ["", "9133010079965505", "I1330100799655058"])
def test_check_character_needs_17_legal_characters(first17: str) -> None:
    with pytest.raises(InvalidInput):
        check_character(first17)


@no_deadline
@given(st.data(), st.integers(min_value=0, max_value=16))
def test_any_single_substitution_is_detected(data: st.DataObject, position: int) -> None:
    code = data.draw(st.sampled_from(REAL_CODES))
    other = data.draw(uscc_chars.filter(lambda c: c != code[position]))
    assert not is_valid_uscc(code[:position] + other + code[position + 1 :])


@no_deadline
@given(first17s, st.integers(min_value=0, max_value=15))
def test_adjacent_transpositions_in_the_body_are_detected(first17: str, i: int) -> None:
    swapped = first17[:i] + first17[i + 1] + first17[i] + first17[i + 2 :]
    if swapped != first17:
        assert check_character(swapped) != check_character(first17)


# --- generating codes for demo data


def test_make_uscc_reproduces_real_codes() -> None:
    # Real codes with the default 9 (market regulation) + 1 (enterprise) prefix: the organisation
    # code's GB 11714 check (including X for 10) and the USCC check both come out right.
    assert make_uscc("330100", 79965505) == ALIBABA_CHINA
    assert make_uscc("440300", 19220382) == HUAWEI
    assert make_uscc("440300", 71526726) == TENCENT


def test_make_uscc_other_registrants() -> None:
    code = make_uscc("331001", 1, authority="5", org_type="2")
    assert code.startswith("52331001") and is_valid_uscc(code)


@no_deadline
@given(regions, st.integers(min_value=0, max_value=10**8 - 1))
def test_generated_codes_are_valid(region: str, serial: int) -> None:
    code = make_uscc(region, serial)
    assert len(code) == 18
    assert validate_uscc(code) == code
    assert region_of(code) == region
    assert code.startswith("91")


@no_deadline
@given(regions, st.integers(min_value=0, max_value=10**8 - 1), st.integers(0, 10**8 - 1))
def test_generated_codes_are_distinct(region: str, a: int, b: int) -> None:
    assert (make_uscc(region, a) == make_uscc(region, b)) == (a == b)


@pytest.mark.parametrize("region", ["33100", "3310011", "33100A", "", "３３１００１"])
def test_make_uscc_bad_region(region: str) -> None:
    with raises_code("uscc_region_invalid", field="region"):
        make_uscc(region, 1)


@pytest.mark.parametrize("serial", [-1, 10**8, True, 1.0])
def test_make_uscc_bad_serial(serial: int) -> None:
    with raises_code("uscc_serial_invalid", field="serial"):
        make_uscc("331001", serial)


@pytest.mark.parametrize(("kwargs", "field"), [({"authority": "I"}, "authority"),
                                               ({"authority": "91"}, "authority"),
                                               ({"org_type": ""}, "org_type")])  # fmt: skip
def test_make_uscc_bad_prefix(kwargs: dict[str, str], field: str) -> None:
    with raises_code("uscc_character_invalid", field=field):
        make_uscc("331001", 1, **kwargs)

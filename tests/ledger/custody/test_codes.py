"""Batch codes, transfer manifest numbers and administrative region codes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.custody.catalogue import HW_CATEGORY_CODES, load_catalogue
from ledger.custody.codes import (
    BATCH_CODE_LENGTH,
    PROVINCES,
    BatchCode,
    ManifestNumber,
    format_batch_code_groups,
    make_manifest_number,
    parse_batch_code,
    parse_manifest_number,
    region_contains,
    region_level,
    trace_url,
    validate_region,
)
from ledger.custody.uscc import make_uscc
from ledger.errors import InvalidInput

# Property tests check correctness, not speed: a busy CI machine must not fail them.
no_deadline = settings(deadline=None)

ALIBABA_CHINA = "91330100799655058B"  # a real, published USCC (阿里巴巴（中国）有限公司)
DAY = dt.date(2024, 3, 1)
CODE = ALIBABA_CHINA + "90003949" + "20240301" + "007"  # USCC, waste code, day, serial


@contextmanager
def raises_code(code: str, field: str) -> Iterator[pytest.ExceptionInfo[InvalidInput]]:
    with pytest.raises(InvalidInput) as info:
        yield info
    assert (info.value.code, info.value.field) == (code, field), str(info.value)


def with_part(start: int, replacement: str, code: str = CODE) -> str:
    """The code with the characters from ``start`` (0-based) replaced."""
    return code[:start] + replacement + code[start + len(replacement) :]


# --- administrative region codes


@pytest.mark.parametrize(
    ("code", "level"),
    [("330000", "province"), ("331000", "city"), ("331001", "county"), ("110101", "county"),
     ("429004", "county"), ("820000", "province"), (" 331002 ", "county")],
)  # fmt: skip
def test_valid_regions(code: str, level: str) -> None:
    assert validate_region(code) == code.strip()
    assert region_level(code) == level


@pytest.mark.parametrize(
    "code", ["", "33100", "3310011", "33100a", "３３１００１", "331 001", None]
)
def test_malformed_regions(code: str) -> None:
    with raises_code("region_malformed", "region"):
        validate_region(code)


@pytest.mark.parametrize("code", ["000000", "100000", "201000", "390000", "831001", "991001"])
def test_unknown_provinces(code: str) -> None:
    with raises_code("region_province_unknown", "region"):
        validate_region(code)


def test_county_needs_a_city() -> None:
    with raises_code("region_city_missing", "region"):
        validate_region("330001")


def test_province_table() -> None:
    assert len(PROVINCES) == 34
    assert PROVINCES["33"] == "浙江省"
    assert min(PROVINCES) == "11" and max(PROVINCES) == "82"


@pytest.mark.parametrize(
    ("parent", "child", "expected"),
    [
        ("330000", "331000", True),
        ("331000", "331001", True),
        ("330000", "331001", True),
        ("331001", "331001", True),  # a region contains itself
        ("331000", "331000", True),
        ("331000", "330000", False),
        ("331001", "331000", False),
        ("331000", "330100", False),  # Taizhou does not contain Hangzhou
        ("331001", "331002", False),
        ("320000", "331001", False),
        ("110000", "110101", True),  # municipalities have city digits 01
        ("420000", "429004", True),  # a county directly under a province (city digits 90)
    ],
)
def test_region_contains(parent: str, child: str, expected: bool) -> None:
    assert region_contains(parent, child) is expected


def test_region_contains_validates_both() -> None:
    with raises_code("region_malformed", "region"):
        region_contains("33", "331001")
    with raises_code("region_province_unknown", "region"):
        region_contains("330000", "991001")


# --- batch codes


def test_batch_code_known_answer() -> None:
    code = BatchCode(ALIBABA_CHINA, "900-039-49", DAY, 7)
    assert code.text == CODE == str(code)
    assert len(code.text) == BATCH_CODE_LENGTH == 37
    assert code.region == "330100"
    assert format_batch_code_groups(code) == "91330100799655058B 90003949 20240301 007"
    assert trace_url("https://trace.example.cn", code) == f"https://trace.example.cn/t/{CODE}"


def test_batch_code_normalises_its_parts() -> None:
    code = BatchCode(ALIBABA_CHINA.lower(), "90003949", DAY, 7)
    assert code.uscc == ALIBABA_CHINA
    assert code.waste_code == "900-039-49"
    assert code == BatchCode(ALIBABA_CHINA, "900-039-49", DAY, 7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        code.serial = 8  # type: ignore[misc]


def test_small_years_keep_four_digits() -> None:
    code = BatchCode(ALIBABA_CHINA, "900-039-49", dt.date(999, 1, 2), 1)
    assert code.text[26:34] == "09990102"
    assert parse_batch_code(code.text) == code


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"uscc": ALIBABA_CHINA[:17] + "C"}, "uscc_check_invalid", "uscc"),
        ({"waste_code": "900-39-49"}, "waste_code_malformed", "waste_code"),
        ({"day": dt.datetime(2024, 3, 1, 8, 0)}, "batch_date_invalid", "day"),
        ({"day": "2024-03-01"}, "batch_date_invalid", "day"),
        ({"serial": 0}, "batch_serial_invalid", "serial"),
        ({"serial": 1000}, "batch_serial_invalid", "serial"),
        ({"serial": True}, "batch_serial_invalid", "serial"),
        ({"serial": "007"}, "batch_serial_invalid", "serial"),
    ],
)
def test_batch_code_rejects_bad_parts(kwargs: dict[str, object], error: str, field: str) -> None:
    parts: dict[str, object] = {
        "uscc": ALIBABA_CHINA, "waste_code": "900-039-49", "day": DAY, "serial": 7,
    }  # fmt: skip
    with raises_code(error, field):
        BatchCode(**{**parts, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        CODE,
        CODE.lower(),
        f"  {CODE}\n",
        "91330100799655058B 90003949 20240301 007",  # the grouped form reads back
        f"https://trace.example.cn/t/{CODE}",
        f"https://example.cn/waste/trace/t/{CODE}/",
        f"http://localhost:5000/t/{CODE}?src=label&v=2",
        f"https://example.cn/t/{CODE}/?src=label#top",
        f"HTTPS://EXAMPLE.CN/T/{CODE}",  # QR alphanumeric mode uppercases the whole URL
        f"https://example.cn/t/{CODE.lower()}",
        f"/t/{CODE}",
        f"t/{CODE}",
        f"example.cn/t/{CODE}",
        f" https://example.cn/t/{CODE} ",
    ],
)
def test_parse_accepts_code_or_url(raw: str) -> None:
    assert parse_batch_code(raw) == BatchCode(ALIBABA_CHINA, "900-039-49", DAY, 7)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("", "batch_code_length_invalid"),
        (CODE[:-1], "batch_code_length_invalid"),
        (CODE + "1", "batch_code_length_invalid"),
        ("91330100799655058B-900-039-49-20240301-007", "batch_code_length_invalid"),
        (with_part(18, "900-0394"), "batch_code_character_invalid"),
        (with_part(36, "_"), "batch_code_character_invalid"),
        (with_part(0, "９"), "batch_code_character_invalid"),  # full-width digit
        (with_part(17, "C"), "uscc_check_invalid"),
        (with_part(14, "O"), "uscc_character_invalid"),
        (with_part(2, "A"), "uscc_region_invalid"),
        (with_part(18, "9000394A"), "batch_waste_code_invalid"),
        (with_part(24, "41"), "batch_waste_category_invalid"),  # HW41-HW44 don't exist
        (with_part(24, "00"), "batch_waste_category_invalid"),
        (with_part(24, "51"), "batch_waste_category_invalid"),
        (with_part(26, "20230229"), "batch_date_invalid"),  # not a leap year
        (with_part(26, "20241301"), "batch_date_invalid"),
        (with_part(26, "20240100"), "batch_date_invalid"),
        (with_part(26, "00000101"), "batch_date_invalid"),  # there is no year 0
        (with_part(26, "2024O301"), "batch_date_invalid"),
        (with_part(34, "000"), "batch_serial_invalid"),
        (with_part(34, "00A"), "batch_serial_invalid"),
        (f"https://example.cn/x/{CODE}", "batch_url_invalid"),
        ("https://example.cn/t/", "batch_url_invalid"),
        ("https://example.cn/t", "batch_url_invalid"),
        (f"https://example.cn/{CODE}", "batch_url_invalid"),
        (f"https://example.cn/t/{CODE}/extra", "batch_url_invalid"),
        (f"https://example.cn/t/{CODE[:-1]}", "batch_code_length_invalid"),
    ],
)
def test_parse_rejects_each_defect_with_its_own_code(raw: str, error: str) -> None:
    with raises_code(error, "batch_code") as info:
        parse_batch_code(raw)
    assert info.value.message


def test_parse_messages_say_what_was_expected() -> None:
    with raises_code("uscc_check_invalid", "batch_code") as info:
        parse_batch_code(with_part(17, "C"))
    assert "expected B, got C" in info.value.message
    with raises_code("batch_code_length_invalid", "batch_code") as info:
        parse_batch_code(CODE[:-1])
    assert "37 characters" in info.value.message and "got 36" in info.value.message


def test_parse_rejects_non_strings() -> None:
    with raises_code("batch_code_type_invalid", "batch_code"):
        parse_batch_code(None)  # type: ignore[arg-type]


def test_general_industrial_waste_codes_need_the_flag() -> None:
    # Not a hazardous category: the caller tracking general industrial solid waste says so.
    raw = with_part(18, "90000199")
    with raises_code("batch_waste_category_invalid", "batch_code"):
        parse_batch_code(raw)
    code = parse_batch_code(raw, hazardous_only=False)
    assert code.waste_code == "900-001-99"
    assert format_batch_code_groups(raw).split()[1] == "90000199"
    assert trace_url("https://example.cn", raw).endswith("/t/" + raw)


def test_catalogue_membership_is_not_required() -> None:
    raw = with_part(18, "90000049")  # HW49, but 900-000-49 is not listed
    assert parse_batch_code(raw).waste_code == "900-000-49"


@pytest.mark.parametrize(
    "base",
    ["https://trace.example.cn", "https://trace.example.cn/", "http://localhost:5000/ledger/"],
)
def test_trace_url_joins_once(base: str) -> None:
    url = trace_url(base, CODE)
    assert url == base.rstrip("/") + "/t/" + CODE
    assert "//t/" not in url


@pytest.mark.parametrize(
    "base",
    ["", "example.cn", "ftp://example.cn", "https://", "https://x.cn/?a=1", "https://x.cn/#f"],
)
def test_trace_url_rejects_bad_bases(base: str) -> None:
    with raises_code("trace_base_url_invalid", "base_url"):
        trace_url(base, CODE)


def test_presentation_validates_text_input() -> None:
    with raises_code("uscc_check_invalid", "batch_code"):
        format_batch_code_groups(with_part(17, "C"))


# --- property tests

regions = st.sampled_from(["330000", "331000", "331001", "331002", "110101", "440300", "429004"])
usccs = st.builds(make_uscc, regions, st.integers(min_value=0, max_value=10**8 - 1))
catalogue_codes = st.sampled_from([entry.code for entry in load_catalogue()])
synthetic_codes = st.builds(
    lambda body, category: f"{body}{category[2:]}",
    st.from_regex(r"[0-9]{6}", fullmatch=True),
    st.sampled_from(sorted(HW_CATEGORY_CODES)),
)
batch_codes = st.builds(
    BatchCode,
    uscc=usccs,
    waste_code=st.one_of(catalogue_codes, synthetic_codes),
    day=st.dates(),
    serial=st.integers(min_value=1, max_value=999),
)


@no_deadline
@given(batch_codes)
def test_batch_code_round_trip(code: BatchCode) -> None:
    assert len(code.text) == 37
    assert parse_batch_code(code.text) == code
    assert parse_batch_code(code.text.lower()) == code
    assert parse_batch_code(format_batch_code_groups(code)) == code
    assert parse_batch_code(trace_url("https://trace.example.cn/zj", code)) == code
    assert parse_batch_code(trace_url("https://x.cn", code) + "/?from=qr") == code


@no_deadline
@given(batch_codes, st.integers(min_value=0, max_value=36), st.sampled_from("!-. /#"))
def test_punctuation_anywhere_is_rejected(code: BatchCode, position: int, char: str) -> None:
    with pytest.raises(InvalidInput):
        parse_batch_code(with_part(position, char, code.text))


# --- transfer manifest numbers (转移联单编号)


def test_manifest_number_known_answer() -> None:
    number = make_manifest_number(2024, "331001", 123)
    assert number == ManifestNumber(year=2024, province="33", city="10", serial=123)
    assert number.text == "20243310000123" == str(number)
    assert number.region == "331000"
    assert parse_manifest_number(" 20243310000123 ") == number


def test_manifest_number_at_province_level() -> None:
    number = make_manifest_number(2025, "330000", 999_999)
    assert number.text == "20253300999999"
    assert number.region == "330000"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("", "manifest_number_malformed"),
        ("2024331000012", "manifest_number_malformed"),
        ("202433100001234", "manifest_number_malformed"),
        ("2024331O000123", "manifest_number_malformed"),
        ("2024-331000123", "manifest_number_malformed"),
        ("２０２４３３１０００００１２３", "manifest_number_malformed"),
        ("20249910000123", "manifest_region_invalid"),
        ("20240010000123", "manifest_region_invalid"),
        ("20243310000000", "manifest_serial_invalid"),
        ("09993310000123", "manifest_year_invalid"),
    ],
)
def test_parse_manifest_number_errors(raw: str, error: str) -> None:
    with raises_code(error, "manifest_number"):
        parse_manifest_number(raw)


@pytest.mark.parametrize(
    ("args", "error", "field"),
    [
        ((2024, "33100", 1), "region_malformed", "region"),
        ((2024, "991000", 1), "region_province_unknown", "region"),
        ((2024, "331000", 0), "manifest_serial_invalid", "serial"),
        ((2024, "331000", 1_000_000), "manifest_serial_invalid", "serial"),
        ((999, "331000", 1), "manifest_year_invalid", "year"),
        ((10_000, "331000", 1), "manifest_year_invalid", "year"),
        (("2024", "331000", 1), "manifest_year_invalid", "year"),
    ],
)
def test_make_manifest_number_errors(
    args: tuple[object, str, object], error: str, field: str
) -> None:
    with raises_code(error, field):
        make_manifest_number(*args)  # type: ignore[arg-type]


@no_deadline
@given(
    st.integers(min_value=1000, max_value=9999),
    regions,
    st.integers(min_value=1, max_value=999_999),
)
def test_manifest_number_round_trip(year: int, region: str, serial: int) -> None:
    number = make_manifest_number(year, region, serial)
    assert len(number.text) == 14
    assert parse_manifest_number(number.text) == number
    assert region_contains(number.region, region)

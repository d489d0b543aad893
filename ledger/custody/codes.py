"""Identifiers of the custody domain: batch codes, transfer manifest numbers, region codes.

- The batch code (数字识别码, after HJ 1276-2022, as on Zhejiang's 浙固码 labels) is 37
  characters: the unit's 18-character USCC, the 8-digit waste code without hyphens, the day
  YYYYMMDD and a 3-digit serial (001-999) for that unit, waste code and day.
- The transfer manifest number (转移联单编号) is 14 digits: year, province, city, serial.
- Administrative region codes (行政区划代码, GB/T 2260) are 6 digits: province, city, county.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from ledger.custody.catalogue import HW_CATEGORY_CODES, normalise_waste_code
from ledger.custody.uscc import USCC_LENGTH, validate_uscc
from ledger.errors import InvalidInput

__all__ = [
    "BATCH_CODE_LENGTH",
    "MANIFEST_NUMBER_LENGTH",
    "PROVINCES",
    "BatchCode",
    "ManifestNumber",
    "format_batch_code_groups",
    "make_manifest_number",
    "parse_batch_code",
    "parse_manifest_number",
    "check_manifest_issued_for",
    "region_contains",
    "region_level",
    "trace_url",
    "validate_region",
]

_DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)
_ALNUM_RE = re.compile(r"[0-9A-Z]+", re.ASCII)
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _digits(text: str, length: int) -> bool:
    return len(text) == length and _DIGITS_RE.fullmatch(text) is not None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _restate(exc: InvalidInput, field: str, where: str) -> InvalidInput:
    """The same error (class and code) restated for the field the caller actually sent."""
    return type(exc)(f"{where}: {exc.message}", code=exc.code, field=field, **exc.params)


# ---------------------------------------------------------------------------------------------
# Administrative region codes (GB/T 2260)

#: Province-level divisions (省级行政区) by the first two digits of a region code.
PROVINCES: dict[str, str] = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
    "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省",
    "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
    "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}  # fmt: skip

RegionLevel = Literal["province", "city", "county"]


def validate_region(code: str) -> str:
    """Return a 6-digit region code (行政区划代码) if well formed, else raise InvalidInput.

    Checks the form and the province, not that the city or county exists today: region codes
    change every year and old ones stay on historical records.
    """
    text = code.strip() if isinstance(code, str) else ""
    if not _digits(text, 6):
        raise InvalidInput(
            f"region code must be 6 digits, got {code!r}", code="region_malformed", field="region"
        )
    if text[:2] not in PROVINCES:
        raise InvalidInput(
            f"region code {text} starts with {text[:2]}, which is not a province code (11-82)",
            code="region_province_unknown",
            field="region",
        )
    if text[2:4] == "00" and text[4:] != "00":
        # Counties directly under a province use city digits 90 (e.g. 429004), never 00.
        raise InvalidInput(
            f"region code {text} names a county but no city",
            code="region_city_missing",
            field="region",
        )
    return text


def region_level(code: str) -> RegionLevel:
    """Province (xx0000), city (xxxx00) or county."""
    text = validate_region(code)
    if text.endswith("0000"):
        return "province"
    return "city" if text.endswith("00") else "county"


def region_contains(parent: str, child: str) -> bool:
    """Whether region ``child`` lies within ``parent`` (a region contains itself).

    330000 (浙江省) contains 331000 (台州市), which contains 331002 (椒江区).
    """
    outer, inner = validate_region(parent), validate_region(child)
    level = region_level(outer)
    if level == "province":
        return inner[:2] == outer[:2]
    if level == "city":
        return inner[:4] == outer[:4]
    return inner == outer


# ---------------------------------------------------------------------------------------------
# Batch codes (数字识别码)

BATCH_CODE_LENGTH = 37
_WASTE = slice(USCC_LENGTH, USCC_LENGTH + 8)
_DAY = slice(USCC_LENGTH + 8, USCC_LENGTH + 16)
_SERIAL = slice(USCC_LENGTH + 16, BATCH_CODE_LENGTH)
_FIELD = "batch_code"


@dataclass(frozen=True)
class BatchCode:
    """The 37-character identification code of one batch of waste (危险废物数字识别码).

    Constructing one validates and normalises its parts: the USCC is uppercased and
    check-verified, the waste code may be given with or without hyphens and is kept as
    "900-039-49". Catalogue membership is not checked here.
    """

    uscc: str
    waste_code: str
    day: dt.date
    serial: int

    def __post_init__(self) -> None:
        # Frozen: normalised values are written once, here, and never again.
        object.__setattr__(self, "uscc", validate_uscc(self.uscc))
        object.__setattr__(self, "waste_code", normalise_waste_code(self.waste_code))
        # A datetime is a date too, but would make equal codes compare unequal.
        if not isinstance(self.day, dt.date) or isinstance(self.day, dt.datetime):
            raise InvalidInput(
                f"day must be a date, got {type(self.day).__name__}",
                code="batch_date_invalid",
                field="day",
            )
        if not _is_int(self.serial) or not 1 <= self.serial <= 999:
            raise InvalidInput(
                f"batch serial must be 1-999, got {self.serial!r}",
                code="batch_serial_invalid",
                field="serial",
            )

    @property
    def text(self) -> str:
        """The 37 characters, as encoded on the label."""
        day = f"{self.day.year:04d}{self.day.month:02d}{self.day.day:02d}"
        return f"{self.uscc}{self.waste_code.replace('-', '')}{day}{self.serial:03d}"

    @property
    def region(self) -> str:
        """The region code inside the unit's USCC."""
        return self.uscc[2:8]

    def __str__(self) -> str:
        return self.text


def parse_batch_code(s: str, *, hazardous_only: bool = True) -> BatchCode:
    """Parse a batch code, bare or as a trace URL ``<anything>/t/<code>[/][?query]``.

    Whitespace anywhere is ignored (so the grouped form reads back) and letters uppercased.
    By default the waste code's last two digits must be a hazardous-waste category (HW01-HW50
    without HW41-HW44); membership in the catalogue is the caller's check. Pass
    ``hazardous_only=False`` for general industrial solid waste, whose codes the organisation
    supplies. Each defect has its own error code: ``batch_url_invalid``,
    ``batch_code_length_invalid``, ``batch_code_character_invalid``, the ``uscc_*`` codes,
    ``batch_waste_code_invalid``, ``batch_waste_category_invalid``, ``batch_date_invalid``,
    ``batch_serial_invalid``.
    """
    if not isinstance(s, str):
        raise InvalidInput(
            "batch code must be a string", code="batch_code_type_invalid", field=_FIELD
        )
    text = s.strip()
    if "/" in text:
        text = _code_from_url(text)
    text = "".join(text.split()).translate(_ASCII_UPPER)
    _check_shape(text)
    return BatchCode(
        uscc=_uscc_part(text),
        waste_code=_waste_part(text, hazardous_only),
        day=_day_part(text),
        serial=_serial_part(text),
    )


def _code_from_url(url: str) -> str:
    """The last path segment of a URL ending in /t/<code>; scheme, host, query don't matter."""
    segments = urlsplit(url).path.rstrip("/").split("/")
    # QR codes often carry URLs uppercased (alphanumeric mode is denser), so /T/ counts too.
    if len(segments) < 2 or segments[-2].lower() != "t" or not segments[-1]:
        raise InvalidInput(
            f"a trace URL must end in /t/<batch code>, got {url!r}",
            code="batch_url_invalid",
            field=_FIELD,
        )
    return unquote(segments[-1])


def _check_shape(text: str) -> None:
    if len(text) != BATCH_CODE_LENGTH:
        raise InvalidInput(
            f"batch code must be {BATCH_CODE_LENGTH} characters "
            f"(USCC 18 + waste code 8 + date 8 + serial 3), got {len(text)}",
            code="batch_code_length_invalid",
            field=_FIELD,
        )
    if not _ALNUM_RE.fullmatch(text):
        bad = next(char for char in text if not _ALNUM_RE.fullmatch(char))
        raise InvalidInput(
            f"batch code may contain only letters and digits, found {bad!r}",
            code="batch_code_character_invalid",
            field=_FIELD,
        )


def _uscc_part(text: str) -> str:
    try:
        return validate_uscc(text[:USCC_LENGTH])
    except InvalidInput as exc:
        raise _restate(exc, _FIELD, "batch code characters 1-18 (the unit's USCC)") from exc


def _waste_part(text: str, hazardous_only: bool) -> str:
    waste = text[_WASTE]
    if not _digits(waste, 8):
        raise InvalidInput(
            f"batch code characters 19-26 must be the 8-digit waste code, got {waste!r}",
            code="batch_waste_code_invalid",
            field=_FIELD,
        )
    if hazardous_only and f"HW{waste[-2:]}" not in HW_CATEGORY_CODES:
        raise InvalidInput(
            f"waste code {waste} ends in {waste[-2:]}, which is not a hazardous waste category "
            "(HW01-HW40, HW45-HW50)",
            code="batch_waste_category_invalid",
            field=_FIELD,
        )
    return waste


def _day_part(text: str) -> dt.date:
    day = text[_DAY]
    try:
        if not _digits(day, 8):
            raise ValueError(day)
        return dt.date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        raise InvalidInput(
            f"batch code characters 27-34 must be a real date YYYYMMDD, got {day!r}",
            code="batch_date_invalid",
            field=_FIELD,
        ) from None


def _serial_part(text: str) -> int:
    serial = text[_SERIAL]
    if not _digits(serial, 3) or serial == "000":
        raise InvalidInput(
            f"batch code characters 35-37 must be a serial 001-999, got {serial!r}",
            code="batch_serial_invalid",
            field=_FIELD,
        )
    return int(serial)


def _as_batch_code(code: BatchCode | str) -> BatchCode:
    # Presentation accepts any well-formed code, including general industrial solid waste.
    return code if isinstance(code, BatchCode) else parse_batch_code(code, hazardous_only=False)


def format_batch_code_groups(code: BatchCode | str) -> str:
    """The code grouped for people: "USCC WASTECODE YYYYMMDD SERIAL" (18 8 8 3)."""
    text = _as_batch_code(code).text
    return " ".join((text[:USCC_LENGTH], text[_WASTE], text[_DAY], text[_SERIAL]))


def trace_url(base_url: str, code: BatchCode | str) -> str:
    """The URL a label's QR code encodes: ``<base_url>/t/<code>``."""
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.query
        or parts.fragment
    ):
        raise InvalidInput(
            f"base URL must be http(s)://host[/path] without query or fragment, got {base_url!r}",
            code="trace_base_url_invalid",
            field="base_url",
        )
    return f"{base_url.rstrip('/')}/t/{_as_batch_code(code).text}"


# ---------------------------------------------------------------------------------------------
# Transfer manifest numbers (转移联单编号)

MANIFEST_NUMBER_LENGTH = 14


@dataclass(frozen=True)
class ManifestNumber:
    """A transfer manifest number (转移联单编号): year 4 + province 2 + city 2 + serial 6."""

    year: int
    province: str  # "33"
    city: str  # "10", the city digits of the issuing region ("00" at province level)
    serial: int

    def __post_init__(self) -> None:
        if not _is_int(self.year) or not 1000 <= self.year <= 9999:
            raise InvalidInput(
                f"manifest year must be a four-digit year, got {self.year!r}",
                code="manifest_year_invalid",
                field="year",
            )
        if not isinstance(self.province, str) or self.province not in PROVINCES:
            raise InvalidInput(
                f"manifest province {self.province!r} is not a province code (11-82)",
                code="manifest_region_invalid",
                field="region",
            )
        if not isinstance(self.city, str) or not _digits(self.city, 2):
            raise InvalidInput(
                f"manifest city must be 2 digits, got {self.city!r}",
                code="manifest_region_invalid",
                field="region",
            )
        if not _is_int(self.serial) or not 1 <= self.serial <= 999_999:
            raise InvalidInput(
                f"manifest serial must be 1-999999, got {self.serial!r}",
                code="manifest_serial_invalid",
                field="serial",
            )

    @property
    def text(self) -> str:
        """The 14 digits."""
        return f"{self.year:04d}{self.province}{self.city}{self.serial:06d}"

    @property
    def region(self) -> str:
        """The issuing region as a 6-digit code: a city (331000) or a province (330000)."""
        return f"{self.province}{self.city}00"

    def __str__(self) -> str:
        return self.text


def make_manifest_number(year: int, region_code: str, serial: int) -> ManifestNumber:
    """A manifest number for a 6-digit region code; only its province and city digits count."""
    region = validate_region(region_code)
    return ManifestNumber(year=year, province=region[:2], city=region[2:4], serial=serial)


def parse_manifest_number(s: str) -> ManifestNumber:
    """Parse 14 digits (surrounding whitespace ignored) into a `ManifestNumber`."""
    text = s.strip() if isinstance(s, str) else ""
    if not _digits(text, MANIFEST_NUMBER_LENGTH):
        raise InvalidInput(
            f"manifest number must be {MANIFEST_NUMBER_LENGTH} digits "
            f"(year 4 + province 2 + city 2 + serial 6), got {s!r}",
            code="manifest_number_malformed",
            field="manifest_number",
        )
    try:
        return ManifestNumber(
            year=int(text[:4]), province=text[4:6], city=text[6:8], serial=int(text[8:])
        )
    except InvalidInput as exc:
        raise _restate(exc, "manifest_number", f"manifest number {text}") from exc


def check_manifest_issued_for(number: ManifestNumber, region_code: str, year: int) -> None:
    """Raise unless ``number`` could have been issued this ``year`` for a party in
    ``region_code``: the same province (the provincial system numbers by province) and the
    current year. For numbers this server did not reserve itself."""
    region = validate_region(region_code)
    if number.province != region[:2]:
        raise InvalidInput(
            f"manifest {number.text} is of province {number.province}, not {region[:2]}",
            code="manifest_region_invalid",
            field="data.manifest",
        )
    if number.year != year:
        raise InvalidInput(
            f"manifest {number.text} is of year {number.year}, not {year}",
            code="manifest_year_invalid",
            field="data.manifest",
        )

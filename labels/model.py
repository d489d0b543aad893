"""What a label says: the plain data a renderer needs, checked once at the edge.

A label ties a physical container to its ledger stream, so a label that contradicts itself
(a QR pointing at another batch, a waste code that does not match its category) is refused
here with a clear ``InvalidInput`` naming the field, before anything is drawn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import IntEnum
from typing import Final, Literal

from ledger.errors import InvalidInput

LabelKind = Literal["hazardous", "general"]
KINDS: Final = ("hazardous", "general")

#: 危险特性 letters in the order they are drawn, with the caption printed under each pictogram.
HAZARD_CAPTIONS: Final[dict[str, str]] = {
    "T": "毒性",
    "C": "腐蚀性",
    "I": "易燃性",
    "R": "反应性",
    "In": "感染性",
}

#: 废物形态 as HJ 1276-2022 lists them.
PHYSICAL_FORMS: Final = ("固态", "半固态", "液态", "气态")

#: Field titles exactly as printed (HJ 1276-2022, 附录 A).
TITLES: Final[dict[str, str]] = {
    "waste_name": "废物名称",
    "category": "废物类别",
    "waste_code": "废物代码",
    "physical_form": "废物形态",
    "hazards": "危险特性",
    "main_components": "主要成分",
    "harmful_components": "有害成分",
    "precautions": "注意事项",
    "identification_code": "数字识别码",
    "unit_name": "产生/收集单位",
    "contact_person": "联系人",
    "phone": "联系方式",
    "generated_on": "产生日期",
    "mass_g": "废物重量",
    "notes": "备注",
}

IDENTIFICATION_CODE_LENGTH: Final = 37
#: How the 37 characters split for reading aloud: USCC, waste code, date, serial.
IDENTIFICATION_CODE_GROUPS: Final = (18, 8, 8, 3)

_HW_CATEGORY = re.compile(r"HW\d{2}")
_HW_WASTE_CODE = re.compile(r"\d{3}-\d{3}-\d{2}")
_CODE_CHARS = re.compile(r"[0-9A-Z]{37}")
_WHITESPACE = re.compile(r"\s+")
#: Longer input is cut before layout: nothing near this length fits on a 200 mm label anyway.
_MAX_TEXT = 1000


class LabelSize(IntEnum):
    """Side of a square label in millimetres (HJ 1276-2022 表 1)."""

    S100 = 100
    S150 = 150
    S200 = 200

    @property
    def min_text_height_mm(self) -> float:
        """最低文字高度 for this size: 3, 5 and 6 mm."""
        return {100: 3.0, 150: 5.0, 200: 6.0}[self.value]


def size_for_volume(litres: float) -> LabelSize:
    """The smallest label the standard allows for a container of ``litres`` (≤50, ≤450, more)."""
    if litres < 0:
        raise InvalidInput("container volume cannot be negative", field="volume")
    if litres <= 50:
        return LabelSize.S100
    if litres <= 450:
        return LabelSize.S150
    return LabelSize.S200


def parse_size(value: str | int | LabelSize) -> LabelSize:
    """Read a size as given in a query string: ``100``, ``"150"`` or ``"200x200"``."""
    if isinstance(value, LabelSize):
        return value
    text = str(value).strip().lower().removesuffix("mm")
    side, _, other = text.partition("x")
    try:
        size = LabelSize(int(side))
    except ValueError:
        size = None
    if size is None or (other and other != side):
        raise InvalidInput(
            f"label size must be one of 100, 150, 200 (mm), not {value!r}", field="size"
        )
    return size


def format_mass(mass_g: int | None) -> str:
    """废物重量 in kilograms, to the precision a person reads off a scale.

    Grams are kept below 10 kg; heavier containers are rounded to 10 g, 100 g or 1 kg so the
    label does not pretend a 200 kg drum was weighed to the gram. Trailing zeros are dropped.
    """
    if mass_g is None:
        return ""
    kg = Decimal(mass_g) / 1000
    places = 3 if kg < 10 else 2 if kg < 100 else 1 if kg < 1000 else 0
    rounded = kg.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{rounded:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} kg"


def group_identification_code(code: str) -> str:
    """数字识别码 split 18+8+8+3 with spaces, so a person can read it aloud in chunks."""
    groups, start = [], 0
    for length in IDENTIFICATION_CODE_GROUPS:
        groups.append(code[start : start + length])
        start += length
    return " ".join(groups)


def tracking_url(base_url: str, code: str) -> str:
    """The string a label's QR encodes: ``<public base URL>/t/<code>``."""
    return f"{base_url.rstrip('/')}/t/{code}"


def clean_text(text: str) -> str:
    """Collapse runs of whitespace (newlines included) into one space and cap the length."""
    return _WHITESPACE.sub(" ", text).strip()[:_MAX_TEXT]


@dataclass(frozen=True, slots=True)
class LabelData:
    """Everything printed on one container label (危险废物标签 or 一般工业固体废物标签).

    Plain values only, so the renderer needs neither the database nor Flask. ``hazards`` takes
    the letters T, C, I, R, In in any order; they are stored de-duplicated in drawing order.
    """

    waste_name: str  # 废物名称
    category: str  # 废物类别, e.g. HW49
    waste_code: str  # 废物代码, e.g. 900-039-49
    physical_form: str  # 废物形态
    identification_code: str  # 数字识别码, 37 characters
    unit_name: str  # 产生/收集单位
    contact_person: str  # 联系人
    phone: str  # 联系方式
    generated_on: date  # 产生日期
    qr_url: str  # what the QR encodes
    hazards: tuple[str, ...] = ()  # 危险特性
    main_components: str = ""  # 主要成分
    harmful_components: str = ""  # 有害成分
    precautions: str = ""  # 注意事项
    mass_g: int | None = None  # 废物重量 in grams
    notes: str = ""  # 备注
    kind: LabelKind = "hazardous"

    def __post_init__(self) -> None:
        for name in _TEXT_FIELDS:
            object.__setattr__(self, name, clean_text(str(getattr(self, name))))
        object.__setattr__(self, "hazards", _normalise_hazards(self.hazards))
        _check(self)

    @property
    def is_hazardous(self) -> bool:
        """True for 危险废物, False for 一般工业固体废物."""
        return self.kind == "hazardous"


_TEXT_FIELDS: Final = (
    "waste_name",
    "category",
    "waste_code",
    "physical_form",
    "identification_code",
    "unit_name",
    "contact_person",
    "phone",
    "main_components",
    "harmful_components",
    "precautions",
    "notes",
)


def _normalise_hazards(hazards: object) -> tuple[str, ...]:
    if isinstance(hazards, str) or not isinstance(hazards, Iterable):
        raise InvalidInput("hazards must be a list of letters like ['T', 'C']", field="hazards")
    given = [str(h).strip() for h in hazards]
    unknown = [h for h in given if h not in HAZARD_CAPTIONS]
    if unknown:
        raise InvalidInput(
            f"unknown hazard characteristic(s) {unknown}: use T, C, I, R, In", field="hazards"
        )
    return tuple(h for h in HAZARD_CAPTIONS if h in given)


def _check(data: LabelData) -> None:
    if data.kind not in KINDS:
        raise InvalidInput(
            f"kind must be 'hazardous' or 'general', not {data.kind!r}", field="kind"
        )
    for name in ("waste_name", "category", "waste_code", "unit_name"):
        if not getattr(data, name):
            raise InvalidInput(f"{TITLES[name]} must not be empty", field=name)
    if data.physical_form not in PHYSICAL_FORMS:
        raise InvalidInput(
            f"废物形态 must be one of {', '.join(PHYSICAL_FORMS)}", field="physical_form"
        )
    if not isinstance(data.generated_on, date):
        raise InvalidInput("产生日期 must be a date", field="generated_on")
    mass = data.mass_g
    if mass is not None and (not isinstance(mass, int) or isinstance(mass, bool) or mass < 0):
        raise InvalidInput("废物重量 must be a non-negative number of grams", field="mass_g")
    _check_identification(data)
    if data.is_hazardous:
        _check_hazardous(data)
    else:
        _check_general(data)


def _check_identification(data: LabelData) -> None:
    code = data.identification_code
    if not _CODE_CHARS.fullmatch(code):
        raise InvalidInput(
            "数字识别码 must be 37 characters of 0-9 and A-Z", field="identification_code"
        )
    if not data.qr_url.endswith(f"/t/{code}") or not data.qr_url.isascii():
        raise InvalidInput(
            "qr_url must be the ASCII URL '<public base URL>/t/<数字识别码>' of this label",
            field="qr_url",
        )


def _check_hazardous(data: LabelData) -> None:
    if not _HW_CATEGORY.fullmatch(data.category):
        raise InvalidInput("废物类别 must look like HW49", field="category")
    if not _HW_WASTE_CODE.fullmatch(data.waste_code):
        raise InvalidInput("废物代码 must look like 900-039-49", field="waste_code")
    if data.waste_code[-2:] != data.category[2:]:
        raise InvalidInput(
            f"废物代码 {data.waste_code} does not belong to 废物类别 {data.category}",
            field="waste_code",
        )
    if data.identification_code[18:26] != data.waste_code.replace("-", ""):
        raise InvalidInput(
            "数字识别码 characters 19-26 must be the 废物代码 without hyphens",
            field="identification_code",
        )
    if not data.hazards:
        raise InvalidInput("危险废物 needs at least one 危险特性", field="hazards")


def _check_general(data: LabelData) -> None:
    if data.hazards:
        raise InvalidInput("一般工业固体废物 has no 危险特性", field="hazards")
    if data.harmful_components:
        raise InvalidInput(
            "一般工业固体废物 has no 有害成分: label it as hazardous waste",
            field="harmful_components",
        )

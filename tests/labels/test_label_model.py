"""The label's input: what is accepted, what is refused, and how values are printed."""

from __future__ import annotations

from datetime import date

import pytest

from labels import (
    LabelData,
    LabelSize,
    format_mass,
    group_identification_code,
    parse_size,
    size_for_volume,
    tracking_url,
)
from ledger.errors import InvalidInput
from tests.labels.conftest import USCC, make_label


@pytest.mark.parametrize(
    ("litres", "size"),
    [(0, 100), (20, 100), (50, 100), (50.1, 150), (200, 150), (450, 150), (451, 200), (1000, 200)],
)
def test_size_follows_container_volume(litres: float, size: int) -> None:
    assert size_for_volume(litres) == LabelSize(size)


def test_negative_volume_is_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        size_for_volume(-1)
    assert error.value.field == "volume"


@pytest.mark.parametrize("given", [100, "100", "100x100", " 150mm ", LabelSize.S200, "200X200"])
def test_size_is_read_from_query_strings(given: object) -> None:
    assert int(parse_size(given)) in (100, 150, 200)  # type: ignore[arg-type]


@pytest.mark.parametrize("given", ["120", "100x150", "large", "", 0])
def test_unknown_sizes_are_refused(given: object) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_size(given)  # type: ignore[arg-type]
    assert error.value.field == "size"


def test_minimum_text_heights_follow_the_standard() -> None:
    heights = [size.min_text_height_mm for size in (LabelSize.S100, LabelSize.S150, LabelSize.S200)]
    assert heights == [3.0, 5.0, 6.0]


@pytest.mark.parametrize(
    ("grams", "printed"),
    [
        (None, ""),
        (0, "0 kg"),
        (250, "0.25 kg"),
        (1_000, "1 kg"),
        (9_999, "9.999 kg"),
        (12_345, "12.35 kg"),
        (185_400, "185.4 kg"),
        (185_449, "185.4 kg"),
        (1_250_000, "1250 kg"),
        (1_250_600, "1251 kg"),
    ],
)
def test_mass_is_printed_in_kilograms(grams: int | None, printed: str) -> None:
    assert format_mass(grams) == printed


def test_identification_code_is_grouped_for_reading_aloud() -> None:
    code = f"{USCC}9002490820261122001"
    assert group_identification_code(code) == f"{USCC} 90024908 20261122 001"


def test_tracking_url_has_one_slash_before_t() -> None:
    assert tracking_url("https://x.cn/", "ABC") == "https://x.cn/t/ABC"


def test_hazards_are_deduplicated_and_ordered() -> None:
    data = make_label(hazards=["In", "T", "C", "T"])
    assert data.hazards == ("T", "C", "In")


def test_whitespace_is_collapsed() -> None:
    data = make_label(notes="  桶装\n\n 200 L\t钢桶 ")
    assert data.notes == "桶装 200 L 钢桶"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category": "HW8"}, "category"),
        ({"waste_code": "900-249-8"}, "waste_code"),
        ({"waste_code": "900-249-49"}, "waste_code"),
        ({"physical_form": "粉末"}, "physical_form"),
        ({"hazards": ()}, "hazards"),
        ({"hazards": ("X",)}, "hazards"),
        ({"hazards": "TC"}, "hazards"),
        ({"identification_code": "SHORT"}, "identification_code"),
        ({"identification_code": f"{USCC}90024908{20261122}00a"}, "identification_code"),
        ({"identification_code": f"{USCC}90099908{20261122}001"}, "identification_code"),
        ({"qr_url": "https://waste-ledger.example.cn/t/OTHER"}, "qr_url"),
        ({"mass_g": -5}, "mass_g"),
        ({"mass_g": 1.5}, "mass_g"),
        ({"waste_name": "   "}, "waste_name"),
        ({"unit_name": ""}, "unit_name"),
        ({"generated_on": "2026-11-22"}, "generated_on"),
    ],
)
def test_inconsistent_hazardous_labels_are_refused(
    overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as error:
        make_label("hazardous", **overrides)
    assert error.value.field == field


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        make_label("radioactive")
    assert error.value.field == "kind"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"hazards": ("T",)}, "hazards"), ({"harmful_components": "铅"}, "harmful_components")],
)
def test_general_waste_has_no_hazards(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        make_label("general", **overrides)
    assert error.value.field == field


def test_label_data_is_frozen() -> None:
    data = make_label()
    with pytest.raises(AttributeError):
        data.waste_name = "其他"  # type: ignore[misc]


def test_minimal_label_needs_only_the_required_fields() -> None:
    code = f"{USCC}90024908{20261122}001"
    data = LabelData(
        waste_name="废液压油",
        category="HW08",
        waste_code="900-249-08",
        physical_form="液态",
        identification_code=code,
        unit_name="某厂",
        contact_person="",
        phone="",
        generated_on=date(2026, 11, 22),
        qr_url=tracking_url("http://localhost:5000", code),
        hazards=("T",),
    )
    assert data.is_hazardous and data.mass_g is None and data.notes == ""

"""Fixtures for label tests: realistic label data of both kinds, and renders shared per run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from labels import LabelData, LabelSize, render_png, tracking_url

BASE_URL = "https://waste-ledger.example.cn"
USCC = "91330100MA2H3KXX7Q"

SIZES = (LabelSize.S100, LabelSize.S150, LabelSize.S200)
KINDS = ("hazardous", "general")


def make_label(kind: str = "hazardous", **overrides: Any) -> LabelData:
    """A filled-in label like a small Hangzhou workshop would print, with ``overrides``."""
    if kind == "hazardous":
        fields: dict[str, Any] = {
            "waste_name": "废矿物油与含矿物油废物（废液压油）",
            "category": "HW08",
            "waste_code": "900-249-08",
            "physical_form": "液态",
            "hazards": ("T", "I"),
            "main_components": "矿物油 85%，水 10%，杂质 5%",
            "harmful_components": "多环芳烃、重金属（铅、锌）",
            "precautions": "远离火源，防止泄漏，密闭贮存",
            "identification_code": f"{USCC}90024908{20261122}001",
        }
    else:
        fields = {
            "waste_name": "废金属边角料",
            "category": "SW17",
            "waste_code": "900-001-S17",
            "physical_form": "固态",
            "main_components": "铝合金 70%，钢 30%",
            "precautions": "防雨防潮，分类堆放",
            "identification_code": f"{USCC}90000117{20261122}002",
        }
    fields.update(
        unit_name="杭州某某精密机械有限公司",
        contact_person="王建国",
        phone="0571-8888 6666",
        generated_on=date(2026, 11, 22),
        mass_g=185_400,
        notes="桶装，200 L 钢桶",
        kind=kind,
    )
    fields.update(overrides)
    fields.setdefault("qr_url", tracking_url(BASE_URL, fields["identification_code"]))
    return LabelData(**fields)


@pytest.fixture
def label_factory() -> Callable[..., LabelData]:
    """``make_label`` as a fixture, for tests that build their own variants."""
    return make_label


_PNG_CACHE: dict[tuple[str, int], bytes] = {}


@pytest.fixture
def rendered_png() -> Callable[[str, LabelSize], bytes]:
    """The standard label of a kind and size as PNG bytes, rendered once per test run."""

    def render(kind: str, size: LabelSize) -> bytes:
        key = (kind, int(size))
        if key not in _PNG_CACHE:
            _PNG_CACHE[key] = render_png(make_label(kind), size)
        return _PNG_CACHE[key]

    return render

"""The longest names a label meets — the catalogue's (the names the declare form fills in) and
the demo district's companies and wastes — print whole at every size, or the size is refused
before printing; what prints scans to its URL with the real decoder (zxing-cpp)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from PIL import Image

from api.demo.seed import PLACES, TRADES, WASTES
from labels import LabelSize, LabelTextTooLong, fits, label_layout, render_pdf, render_png
from labels.layout import NO_BREAK_SPACE, _items
from tests.labels.conftest import SIZES, make_label
from tests.labels.phone import DEGRADATIONS, decoded, pdf_pages

NAMES = Path(__file__).resolve().parents[2] / "ledger" / "data" / "declare" / "names.csv"


def longest_catalogue_names(n: int = 3) -> list[str]:
    with NAMES.open(encoding="utf-8") as f:
        names = [row["name"] for row in csv.DictReader(f)]
    return sorted(names, key=len, reverse=True)[:n]


def longest_demo_companies() -> list[str]:
    """The demo's longest enterprise name (place + trade + number) and its other units'."""
    trade = max(TRADES, key=len)
    return [f"台州市椒江{max(PLACES, key=len)}{trade}（30号）", "台州市路桥区再生资源利用有限公司",
            "椒江区小微危废集中收集中转站"]


DEMO_WASTE = max((w[1] for w in WASTES), key=len)
# What the API puts in 备注 for a drum of a lot: the container, then the catalogue edition.
NOTES = "铁桶 200 L 第 2/3 件；名录2021年版"


def drum(waste_name: str, unit_name: str):  # type: ignore[no-untyped-def]
    return make_label(waste_name=waste_name, unit_name=unit_name, contact_person="王师傅",
                      phone="13857600012", main_components="活性炭 90%，吸附的有机物",
                      precautions="密闭贮存，远离火源", notes=NOTES)


def whole(layout, data) -> None:  # type: ignore[no-untyped-def]
    for item in _items(data):
        for piece in item:
            got = "".join(line.text for line in layout.placed if line.key == piece.key)
            assert got.replace(" ", "").replace(NO_BREAK_SPACE, "") == piece.text.replace(
                " ", "").replace(NO_BREAK_SPACE, ""), piece.key


CASES = [(w, u) for w in [*longest_catalogue_names(), DEMO_WASTE]
         for u in longest_demo_companies()]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
@pytest.mark.parametrize(("waste_name", "unit_name"), CASES)
def test_the_longest_names_print_whole_or_the_size_is_refused(
    size: LabelSize, waste_name: str, unit_name: str
) -> None:
    data = drum(waste_name, unit_name)
    try:
        layout = label_layout(data, size)
    except LabelTextTooLong as exc:
        assert "文字过长" in exc.message and exc.fields
        # Only the catalogue's longest names may be too long, and never at 200 mm.
        assert size != LabelSize.S200 and waste_name != DEMO_WASTE
        return
    whole(layout, data)
    image = Image.open(io.BytesIO(render_png(data, size)))
    assert decoded(image) == [data.qr_url]
    assert decoded(DEGRADATIONS["300px"](image)) == [data.qr_url]


@pytest.mark.parametrize("unit_name", longest_demo_companies())
def test_the_demo_names_print_whole_on_the_150_mm_label_of_a_200_l_drum(unit_name: str) -> None:
    """The 150 mm label used to end the company and waste names in "…" (台州市椒江…)."""
    data = drum(DEMO_WASTE, unit_name)
    layout = label_layout(data, LabelSize.S150)
    whole(layout, data)
    assert layout.text_height == LabelSize.S150.min_text_height_mm
    (page,) = pdf_pages(render_pdf(data, LabelSize.S150), dpi=300)
    assert decoded(page) == [data.qr_url]


def test_a_container_over_450_l_gets_two_identical_pages() -> None:
    data = drum(DEMO_WASTE, longest_demo_companies()[0])
    pages = pdf_pages(render_pdf(data, LabelSize.S200, copies=2), dpi=150)
    assert len(pages) == 2
    assert [decoded(p) for p in pages] == [[data.qr_url]] * 2


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
@pytest.mark.parametrize(("waste_name", "unit_name"), CASES[:4])
def test_fits_says_what_the_layout_does(size: LabelSize, waste_name: str, unit_name: str) -> None:
    """The cheap check the automatic size uses agrees with the full layout."""
    data = drum(waste_name, unit_name)
    try:
        label_layout(data, size)
        laid_out = True
    except LabelTextTooLong:
        laid_out = False
    assert fits(data, size) is laid_out

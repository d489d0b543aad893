"""Sheets: A4 with as many labels as fit and cut marks, thermal rolls one label a page."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest
from PIL import Image

from labels import LabelData, LabelSize, render_sheet_pdf, tracking_url
from labels.sheet import MARK_GAP, MARK_LENGTH, cut_lines, sheet_grid
from ledger.errors import InvalidInput
from tests.labels.conftest import BASE_URL, USCC, make_label
from tests.labels.phone import decoded, pdf_pages

MM = 72 / 25.4


def batch(count: int, kind: str = "hazardous") -> list[LabelData]:
    """``count`` labels with distinct codes, as one generator prints them in a day."""
    labels = []
    for serial in range(count):
        segment = "90024908" if kind == "hazardous" else "90000117"
        code = f"{USCC}{segment}20261122{serial:03d}"
        labels.append(
            make_label(kind, identification_code=code, qr_url=tracking_url(BASE_URL, code))
        )
    return labels


def page_sizes_mm(pdf: bytes) -> list[tuple[float, float]]:
    document = pdfium.PdfDocument(pdf)
    try:
        return [(round(w / MM, 1), round(h / MM, 1)) for w, h in (p.get_size() for p in document)]
    finally:
        document.close()


@pytest.mark.parametrize(("size", "per_page"), [(100, 4), (150, 1), (200, 1)])
def test_a4_holds_as_many_labels_as_fit(size: int, per_page: int) -> None:
    assert sheet_grid("a4", size).per_page == per_page
    pdf = render_sheet_pdf(batch(9), "a4", size)
    pages = -(-9 // per_page)
    assert page_sizes_mm(pdf) == [(210.0, 297.0)] * pages


def test_every_label_on_an_a4_page_scans_to_its_own_url() -> None:
    labels = batch(5)
    first, second = pdf_pages(render_sheet_pdf(labels, "a4"), dpi=200)
    assert sorted(decoded(first)) == sorted(label.qr_url for label in labels[:4])
    assert decoded(second) == [labels[4].qr_url]


def dark(image: Image.Image, x_mm: float, y_mm: float, dpi: int) -> bool:
    """Whether there is ink within 0.3 mm of a point."""
    scale = dpi / 25.4
    x, y, r = round(x_mm * scale), round(y_mm * scale), max(1, round(0.3 * scale))
    return image.convert("L").crop((x - r, y - r, x + r + 1, y + r + 1)).getextrema()[0] < 128


def test_cut_marks_continue_every_cut_line_in_the_margin() -> None:
    dpi = 200
    grid = sheet_grid("a4", 100)
    (page,) = pdf_pages(render_sheet_pdf(batch(4), "a4"), dpi=dpi)
    xs, ys = cut_lines(grid, used=4)
    assert len(xs) == 3 and len(ys) == 3
    middle = MARK_GAP + MARK_LENGTH / 2
    for x in xs:
        assert dark(page, x, ys[0] - middle, dpi) and dark(page, x, ys[-1] + middle, dpi)
    for y in ys:
        assert dark(page, xs[0] - middle, y, dpi) and dark(page, xs[-1] + middle, y, dpi)
    # ... and nowhere else in the margin: between two marks the paper is blank.
    assert not dark(page, (xs[0] + xs[1]) / 2, ys[0] - middle, dpi)
    assert not dark(page, xs[0] - middle, (ys[0] + ys[1]) / 2, dpi)


def test_a_partly_filled_page_marks_only_the_labels_it_has() -> None:
    grid = sheet_grid("a4", 100)
    xs, ys = cut_lines(grid, used=1)
    assert len(xs) == 2 and len(ys) == 2


@pytest.mark.parametrize(
    ("sheet", "page"), [("roll-100x100", (100.0, 100.0)), ("roll-100x150", (100.0, 150.0))]
)
def test_rolls_print_one_label_per_page_of_the_roll_size(
    sheet: str, page: tuple[float, float]
) -> None:
    labels = batch(3, "general")
    pdf = render_sheet_pdf(labels, sheet, LabelSize.S100)
    assert page_sizes_mm(pdf) == [page] * 3
    assert decoded(pdf_pages(pdf, dpi=300)[2]) == [labels[2].qr_url]


def test_a_label_wider_than_the_roll_is_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        render_sheet_pdf(batch(1), "roll-100x150", LabelSize.S150)
    assert error.value.field == "size"


def test_unknown_sheets_and_empty_sheets_are_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        render_sheet_pdf(batch(1), "letter")
    assert error.value.field == "sheet"
    with pytest.raises(InvalidInput) as error:
        render_sheet_pdf([], "a4")
    assert error.value.field == "labels"

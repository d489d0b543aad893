"""Every label must scan to exactly its URL, as printed and as a cheap phone sees it.

A real decoder (zxing-cpp) reads real renders: PNG from Pillow, PDF rasterised by PDFium and
by poppler, SVG rasterised by librsvg. Nothing is mocked.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable

import pytest
from PIL import Image

from labels import LabelSize, render_pdf, render_png, render_svg, tracking_url
from tests.labels.conftest import BASE_URL, KINDS, SIZES, USCC, make_label
from tests.labels.phone import DEGRADATIONS, decoded, pdf_pages, poppler_page, svg_raster
from tests.tools import unless_ci


@pytest.mark.parametrize("degradation", list(DEGRADATIONS))
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
@pytest.mark.parametrize("kind", KINDS)
def test_png_label_scans_to_its_url(
    kind: str,
    size: LabelSize,
    degradation: str,
    rendered_png: Callable[[str, LabelSize], bytes],
) -> None:
    image = Image.open(io.BytesIO(rendered_png(kind, size)))
    seen = DEGRADATIONS[degradation](image)
    assert decoded(seen) == [make_label(kind).qr_url]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
@pytest.mark.parametrize("kind", KINDS)
def test_pdf_label_scans_after_pdfium_rasterises_it(kind: str, size: LabelSize) -> None:
    data = make_label(kind)
    (page,) = pdf_pages(render_pdf(data, size), dpi=300)
    assert decoded(page) == [data.qr_url]
    assert decoded(DEGRADATIONS["300px"](page)) == [data.qr_url]


@unless_ci(shutil.which("pdftoppm") is None, "poppler-utils not installed")
@pytest.mark.parametrize("kind", KINDS)
def test_pdf_label_scans_after_poppler_rasterises_it(kind: str) -> None:
    data = make_label(kind)
    page = poppler_page(render_pdf(data, LabelSize.S100), dpi=300)
    assert decoded(page) == [data.qr_url]
    assert decoded(DEGRADATIONS["cheap-phone"](page)) == [data.qr_url]


@unless_ci(
    shutil.which("rsvg-convert") is None,
    "rsvg-convert missing: apt-get install librsvg2-bin",
)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
@pytest.mark.parametrize("kind", KINDS)
def test_svg_label_scans_after_librsvg_rasterises_it(kind: str, size: LabelSize) -> None:
    data = make_label(kind)
    image = svg_raster(render_svg(data, size), dpi=300)
    assert abs(image.width - int(size) / 25.4 * 300) <= 1
    assert decoded(image) == [data.qr_url]
    assert decoded(DEGRADATIONS["300px"](image)) == [data.qr_url]


@pytest.mark.parametrize(
    "base_url",
    ["http://localhost:5000", "https://waste-ledger.zjhb.gov.cn/ledger/public"],
    ids=["short-base", "long-base"],
)
def test_labels_of_many_codes_scan_from_a_distance(base_url: str) -> None:
    """Different codes give different masks and, for a long base URL, a bigger symbol."""
    for serial in range(3):
        code = f"{USCC}90024908{20261120 + serial}{serial:03d}"
        data = make_label(identification_code=code, qr_url=tracking_url(base_url, code))
        image = Image.open(io.BytesIO(render_png(data, LabelSize.S100)))
        assert decoded(DEGRADATIONS["300px"](image)) == [data.qr_url]
        assert decoded(DEGRADATIONS["cheap-phone"](image)) == [data.qr_url]


def test_decoder_can_fail_on_a_label_without_a_readable_code() -> None:
    """Guards the tests above: a label whose QR is painted over must not decode."""
    image = Image.open(io.BytesIO(render_png(make_label(), LabelSize.S100))).convert("RGB")
    side = image.width
    image.paste((255, 255, 255), (side // 2, side // 2, side, side))
    assert decoded(image) == []
    assert BASE_URL in make_label().qr_url

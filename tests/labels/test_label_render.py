"""The three outputs: right sizes and colours, fonts embedded, and the same picture in each."""

from __future__ import annotations

import io
import shutil
import xml.etree.ElementTree as ET

import pytest
from PIL import Image, ImageChops, ImageStat

from labels import LabelSize, label_layout, render_pdf, render_png, render_svg
from labels.layout import GEOMETRY, HAZARDOUS
from ledger.errors import InvalidInput
from tests.labels.conftest import KINDS, SIZES, make_label
from tests.labels.phone import pdf_pages, svg_raster
from tests.tools import unless_ci

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
def test_png_is_300_dpi_at_the_label_size(size: LabelSize) -> None:
    image = Image.open(io.BytesIO(render_png(make_label(), size)))
    assert image.size == (round(int(size) / 25.4 * 300),) * 2
    assert [round(v) for v in image.info["dpi"]] == [300, 300]


def test_png_can_be_finer_but_not_coarser_than_300_dpi() -> None:
    image = Image.open(io.BytesIO(render_png(make_label(), LabelSize.S100, dpi=600)))
    assert image.width == round(100 / 25.4 * 600)
    with pytest.raises(InvalidInput):
        render_png(make_label(), LabelSize.S100, dpi=150)


@pytest.mark.parametrize("kind", KINDS)
def test_colours_tell_the_two_kinds_apart(kind: str, rendered_png) -> None:  # type: ignore[no-untyped-def]
    image = Image.open(io.BytesIO(rendered_png(kind, LabelSize.S100))).convert("RGB")
    scale = 300 / 25.4
    geo = GEOMETRY[LabelSize.S100]
    ground = image.getpixel((round(geo.content * scale), round(50 * scale)))  # left of the text
    outside = image.getpixel((round(1 * scale), round(50 * scale)))
    frame = image.getpixel((round((geo.margin + geo.border / 2) * scale), round(50 * scale)))
    assert outside == (255, 255, 255)
    if kind == "hazardous":
        assert ground == HAZARDOUS.background == (255, 150, 0)
        assert frame == (0, 0, 0)
    else:
        red, green, blue = ground
        assert green > 100 and red < 60 and blue < 100
        assert frame == ground  # the white rule sits inside a ground-coloured edge


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
def test_pdf_page_is_the_label_size_with_the_font_embedded(size: LabelSize) -> None:
    import pypdfium2 as pdfium

    pdf = render_pdf(make_label(), size)
    assert b"/FontFile2" in pdf  # the TrueType CJK font travels with the file
    document = pdfium.PdfDocument(pdf)
    try:
        width, height = document[0].get_size()
    finally:
        document.close()
    assert round(width / 72 * 25.4, 2) == round(height / 72 * 25.4, 2) == float(size)


def test_svg_keeps_text_as_text_with_chinese_font_fallbacks() -> None:
    data = make_label()
    root = ET.fromstring(render_svg(data, LabelSize.S150))
    assert root.get("width") == "150mm" and root.get("viewBox") == "0 0 150 150"
    group = root.find(f"{SVG}g")
    assert group is not None
    families = group.get("font-family", "")
    assert "WenQuanYi Micro Hei" in families and "Noto Sans CJK SC" in families
    texts = [t for t in root.iter(f"{SVG}text")]
    assert all(t.get("textLength") for t in texts)
    joined = "".join(t.text or "" for t in texts)
    assert "危" in joined and "废物名称" in joined and data.identification_code[:18] in joined


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two renders, 0-255 (rasterisers may round up a pixel)."""
    assert abs(a.width - b.width) <= 1 and abs(a.height - b.height) <= 1
    b = b.crop((0, 0, a.width, a.height))
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("L"), b.convert("L"))).mean)


@pytest.mark.parametrize("kind", KINDS)
def test_pdf_looks_like_the_png(kind: str, rendered_png) -> None:  # type: ignore[no-untyped-def]
    png = Image.open(io.BytesIO(rendered_png(kind, LabelSize.S100)))
    (pdf,) = pdf_pages(render_pdf(make_label(kind), LabelSize.S100), dpi=300)
    assert difference(png, pdf) < 8  # edges anti-alias differently; shifted 1 mm it scores ~38
    blank = Image.new("RGB", png.size, (255, 255, 255))
    assert difference(png, blank) > 60  # the measure can tell a label from a blank page


@unless_ci(shutil.which("rsvg-convert") is None, "apt-get install librsvg2-bin")
@pytest.mark.parametrize("kind", KINDS)
def test_svg_looks_like_the_png(kind: str, rendered_png) -> None:  # type: ignore[no-untyped-def]
    png = Image.open(io.BytesIO(rendered_png(kind, LabelSize.S100)))
    svg = svg_raster(render_svg(make_label(kind), LabelSize.S100), dpi=300)
    assert difference(png, svg) < 6


def test_layout_is_deterministic() -> None:
    data = make_label()
    assert label_layout(data, 100).shapes == label_layout(data, 100).shapes
    assert render_pdf(data, 100).startswith(b"%PDF-")

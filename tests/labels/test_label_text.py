"""Text on labels: tall enough for the standard, Chinese as Chinese, never out of its field."""

from __future__ import annotations

import io
import string

import pypdfium2 as pdfium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from labels import (
    LabelData,
    LabelSize,
    LabelTextTooLong,
    find_cjk_font,
    label_layout,
    render_pdf,
    render_png,
)
from labels.fit import TIGHTEST_PITCH
from labels.layout import NO_BREAK_SPACE, Layout, _items
from labels.shapes import TextRun
from labels.text import TextStyle, atoms, take_line
from tests.labels.conftest import KINDS, SIZES, USCC, make_label

LONG_CHINESE = "含油废抹布、废手套及沾染矿物油的包装物，" * 30
LONG_MIXED = (
    "Waste hydraulic oil ISO VG 46 (Shell Tellus S2 M) 与切削液 CL-200 混合物，含水率约 12%；" * 12
)
FULL_HEIGHT_CJK = "国"  # the reference ideograph: others are as tall or taller, not shorter


def fullest(kind: str, size: LabelSize, unit: str = "含油废抹布、废手套及包装物，") -> LabelData:
    """The label with the longest 备注 (``unit`` repeated) that still prints whole at ``size``:
    its text is at the minimum height."""
    best = None
    for n in range(1, 80):
        data = make_label(kind, notes=unit * n)
        try:
            label_layout(data, size)
        except LabelTextTooLong:
            assert best is not None
            return best
        best = data
    raise AssertionError("the label never filled up")


def pdf_glyph_heights(pdf: bytes) -> list[tuple[str, float]]:
    """(character, ink height in mm) for every glyph PDFium finds on the first page."""
    document = pdfium.PdfDocument(pdf)
    try:
        text = document[0].get_textpage()
        heights = []
        for i in range(text.count_chars()):
            char = text.get_text_range(i, 1)
            _, bottom, _, top = text.get_charbox(i, loose=False)
            heights.append((char, (top - bottom) / 72 * 25.4))
        return heights
    finally:
        document.close()


def pdf_text(pdf: bytes) -> str:
    """All text PDFium extracts from the first page."""
    document = pdfium.PdfDocument(pdf)
    try:
        return str(document[0].get_textpage().get_text_range())
    finally:
        document.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
@pytest.mark.parametrize("kind", KINDS)
def test_glyphs_in_the_pdf_are_at_least_the_minimum_height(kind: str, size: LabelSize) -> None:
    data = fullest(kind, size, "Tellus S2 M 46 与切削液 CL-200，")  # text at its smallest
    assert label_layout(data, size).text_height == size.min_text_height_mm
    heights = pdf_glyph_heights(render_pdf(data, size))
    checked = [
        (char, height)
        for char, height in heights
        if char in string.ascii_uppercase or char in string.digits or char == FULL_HEIGHT_CJK
    ]
    assert {char for char, _ in checked} >= {"国", "H", "W", "0", "9"}
    too_small = [(c, round(h, 3)) for c, h in checked if h < size.min_text_height_mm]
    assert too_small == []


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
def test_digits_in_the_png_are_at_least_the_minimum_height(size: LabelSize) -> None:
    """Measured on pixels: the ink of the 数字识别码's first group, from its top to the baseline."""
    data = fullest("hazardous", size)
    layout = label_layout(data, size)
    run = next(s for s in layout.shapes if isinstance(s, TextRun) and s.text.startswith(USCC))
    scale = 300 / 25.4
    image = Image.open(io.BytesIO(render_png(data, size))).convert("L")
    style = TextStyle(layout.font, layout.text_height)
    box = (
        round(run.x * scale),
        round((run.baseline - 1.25 * layout.text_height) * scale),
        round((run.x + style.width(run.text)) * scale),
        round(run.baseline * scale) + 2,
    )
    crop = image.crop(box)
    inked = [
        y for y in range(crop.height) if crop.crop((0, y, crop.width, y + 1)).getextrema()[0] < 128
    ]
    height_mm = (max(inked) - min(inked) + 1) / scale
    assert height_mm >= size.min_text_height_mm - 1 / scale
    assert height_mm < size.min_text_height_mm * 1.4  # it measured the digits, not a neighbour


@pytest.mark.parametrize("kind", KINDS)
def test_chinese_is_printed_as_chinese_text(kind: str) -> None:
    data = make_label(kind)
    text = pdf_text(render_pdf(data, LabelSize.S100)).replace("\r", "").replace("\n", "")
    text = text.replace("\u00a0", " ")
    title = "危 险 废 物" if kind == "hazardous" else "一 般 工 业 固 体 废 物"
    assert title.replace(" ", "") in text.replace(" ", "")
    for field in (
        "废物名称",
        "废物类别",
        "废物代码",
        "废物形态",
        "主要成分",
        "注意事项",
        "数字识别码",
        "收集单位",
        "联系人",
        "联系方式",
        "产生日期",
        "废物重量",
        "备注",
    ):
        assert field in text
    assert ("有害成分" in text) == (kind == "hazardous")
    assert ("危险特性" in text) == (kind == "hazardous")
    assert f"{USCC}" in text and "185.4 kg" in text


def check_no_overflow(layout: Layout) -> None:
    """Every line inside its column, clear of the right-hand boxes and of every other line."""
    column = layout.column
    style = TextStyle(layout.font, layout.text_height)
    boxes = [b for b in (layout.qr_box, layout.hazard_box) if b is not None]
    extents = []
    for line in layout.placed:
        right = line.x + style.width(line.text)
        assert column.left - 1e-6 <= line.x and right <= line.right + 1e-6
        assert column.top - 1e-6 <= line.top and line.top + layout.pitch <= column.bottom + 1e-6
        for box in boxes:
            if line.top < box.y + box.h and line.top + layout.pitch > box.y:
                assert right <= box.x + 1e-6, (line.text, box)
        extents.append((line.top, line.x, right))
    for i, (top, left, right) in enumerate(extents):
        for other_top, other_left, other_right in extents[i + 1 :]:
            same_line = abs(top - other_top) < layout.pitch - 1e-6
            assert not same_line or right <= other_left + 1e-6 or other_right <= left + 1e-6


def printed(layout: Layout, key: str) -> str:
    """What the label prints for one field, its lines joined (spaces at breaks left out)."""
    return "".join(line.text for line in layout.placed if line.key == key).replace(
        " ", "").replace(NO_BREAK_SPACE, "")


def check_every_field_is_whole(layout: Layout, data: LabelData) -> None:
    """Every field, title and value, printed in full: nothing cut, nothing left out."""
    for item in _items(data):
        for piece in item:
            assert printed(layout, piece.key) == piece.text.replace(" ", "").replace(
                NO_BREAK_SPACE, ""), piece.key


@pytest.mark.parametrize("text", [LONG_CHINESE, LONG_MIXED, "x" * 400, "1" * 400, "（" * 200])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
@pytest.mark.parametrize("kind", KINDS)
def test_text_too_long_for_the_size_is_refused_naming_the_fields(
    kind: str, size: LabelSize, text: str
) -> None:
    data = make_label(
        kind, waste_name=text, main_components=text, precautions=text, unit_name=text, notes=text
    )
    with pytest.raises(LabelTextTooLong) as err:
        label_layout(data, size)
    assert err.value.code == "label_text_too_long" and err.value.missing_lines > 0
    assert f"文字过长：{int(size)} mm 标签" in err.value.message
    assert "或改用更大的标签" in err.value.message
    assert {"main_components", "precautions", "notes"} <= set(err.value.fields)
    assert "identification_code" not in err.value.fields


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
@pytest.mark.parametrize("kind", KINDS)
def test_a_full_label_shrinks_and_closes_up_but_cuts_nothing(kind: str, size: LabelSize) -> None:
    data = fullest(kind, size)
    layout = label_layout(data, size)
    check_no_overflow(layout)
    check_every_field_is_whole(layout, data)
    assert layout.text_height == size.min_text_height_mm
    assert layout.pitch >= TIGHTEST_PITCH * layout.text_height - 1e-9


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
def test_short_labels_use_taller_text_and_cut_nothing(size: LabelSize) -> None:
    data = make_label("general", main_components="铁", precautions="", notes="", unit_name="某厂")
    layout = label_layout(data, size)
    check_no_overflow(layout)
    check_every_field_is_whole(layout, data)
    assert layout.text_height > size.min_text_height_mm


cjk = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
ascii_text = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
punctuation = st.sampled_from(list("，。、；：（）【】「」%…—"))
texts = st.text(alphabet=st.one_of(cjk, ascii_text, punctuation), max_size=300)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=texts,
    main=texts,
    precautions=texts,
    notes=texts,
    unit=texts.filter(lambda t: t.strip() != ""),
    size=st.sampled_from(SIZES),
    kind=st.sampled_from(KINDS),
)
def test_any_text_stays_inside_its_field(
    name: str, main: str, precautions: str, notes: str, unit: str, size: LabelSize, kind: str
) -> None:
    data = make_label(
        kind,
        waste_name=name if name.strip() else "废液",
        main_components=main,
        precautions=precautions,
        notes=notes,
        unit_name=unit,
    )
    try:
        layout = label_layout(data, size)
    except LabelTextTooLong as exc:  # refused before printing, saying what to shorten
        assert exc.fields and exc.missing_lines > 0
        return
    check_no_overflow(layout)
    check_every_field_is_whole(layout, data)
    assert layout.text_height >= size.min_text_height_mm


def test_the_qr_box_is_untouched_by_long_text() -> None:
    """Raster check: with the label full, the QR area is pixel for pixel the same."""
    short = make_label(notes="")
    long = fullest("hazardous", LabelSize.S100, "Tellus S2 M 46 与切削液 CL-200，")
    layout = label_layout(long, LabelSize.S100)
    scale = 300 / 25.4
    box = layout.qr_box
    area = (
        round(box.x * scale) - 2,
        round(box.y * scale) - 2,
        round((box.x + box.w) * scale) + 2,
        round((box.y + box.h) * scale) + 2,
    )
    images = [
        Image.open(io.BytesIO(render_png(d, LabelSize.S100))).crop(area) for d in (short, long)
    ]
    assert images[0].tobytes() == images[1].tobytes()


def test_latin_words_are_not_broken_when_they_fit() -> None:
    style = TextStyle(find_cjk_font(), 3.0)
    pieces = atoms("主要成分：Shell Tellus hydraulic oil")
    width = style.width("主要成分：Shell Tellus hydrau")
    line, rest = take_line(style, pieces, 0, width)
    assert line == "主要成分：Shell Tellus"
    assert pieces[rest:][0:2] == ["hydraulic", " "] or pieces[rest] == "hydraulic"


def test_closing_punctuation_never_starts_a_line() -> None:
    style = TextStyle(find_cjk_font(), 3.0)
    text = "远离火源，防止泄漏。密闭贮存、分类存放；" * 5
    pieces, start, lines = atoms(text), 0, []
    while start < len(pieces):
        line, start = take_line(style, pieces, start, style.width("远离火源防"))
        lines.append(line)
    assert "".join(lines) == text
    assert not any(line[0] in "，。、；" for line in lines)


def test_a_word_longer_than_the_line_is_split_not_dropped() -> None:
    style = TextStyle(find_cjk_font(), 3.0)
    word = "X" * 80
    pieces, start, lines = atoms(word), 0, []
    while start < len(pieces):
        line, start = take_line(style, pieces, start, 40.0)
        lines.append(line)
    assert "".join(lines) == word
    assert all(style.width(line) <= 40.0 for line in lines)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{int(s)}mm")
def test_phone_numbers_and_masses_are_never_split_over_two_lines(size: LabelSize) -> None:
    data = make_label("general", phone="138 0013 8000 转 8021", mass_g=1_250_000)
    layout = label_layout(data, size)
    phone = "".join(line.text for line in layout.placed if line.key == "phone")
    assert "138\u00a00013\u00a08000\u00a0转\u00a08021" in phone
    masses = [line.text for line in layout.placed if line.key == "mass_g"]
    assert len(masses) == 1 and masses[0].endswith("1250\u00a0kg")

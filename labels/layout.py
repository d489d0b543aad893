"""Where everything on a label goes: one layout in millimetres, shared by PNG, SVG and PDF.

The page follows the HJ 1276-2022 label: a title band (危险废物), then the fields on the left
and, on the right, a column holding the 危险特性 box above the QR code. The general
industrial solid waste label (一般工业固体废物) has the same structure without hazards.

How text is fitted to the fields is :mod:`labels.fit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from labels.fit import BASELINE, PITCH, Column, FieldText, Item, Placed, fit_text
from labels.fonts import CJKFont, check_printable
from labels.model import (
    HAZARD_CAPTIONS,
    TITLES,
    LabelData,
    LabelSize,
    format_mass,
    group_identification_code,
)
from labels.pictograms import pictogram
from labels.qr import QUIET_ZONE, QRMatrix, qr_matrix
from labels.shapes import BLACK, WHITE, Box, Color, QRSymbol, Shape, TextRun, transform
from labels.text import TextStyle, script_runs

NO_BREAK_SPACE: Final = "\u00a0"
#: Side of the QR box (quiet zone included) as a share of the content width; chosen so the
#: scannability tests pass with margin (docs/labels.md, "QR code").
QR_FRACTION: Final = 0.36


@dataclass(frozen=True)
class Palette:
    """Colours of one kind of label."""

    background: Color
    ink: Color
    frame: Color
    title_size: float  # title text height as a multiple of the minimum text height


#: 危险废物: 醒目的橘黄色 ground, black text and frame (HJ 1276-2022 附录 A).
HAZARDOUS: Final = Palette(background=(255, 150, 0), ink=BLACK, frame=BLACK, title_size=1.9)
#: 一般工业固体废物: GB 15562.2 提示标志 colours, green ground with white text and frame.
GENERAL: Final = Palette(background=(0, 122, 61), ink=WHITE, frame=WHITE, title_size=1.9)


@dataclass(frozen=True)
class Geometry:
    """Fixed dimensions of one label size, in mm."""

    side: float
    border: float  # black frame width (≥ 1 mm per HJ 1276-2022)
    pad: float  # between the frame and the content
    min_text: float  # 最低文字高度
    margin: float = 3.0  # blank outside the frame (HJ 1276-2022: ≥ 3 mm)

    @property
    def content(self) -> float:
        """Left/top edge of the content area."""
        return self.margin + self.border + self.pad

    @property
    def width(self) -> float:
        """Width (and height) of the content area."""
        return self.side - 2 * self.content


GEOMETRY: Final = {
    LabelSize.S100: Geometry(side=100, border=1.0, pad=1.5, min_text=3.0),
    LabelSize.S150: Geometry(side=150, border=1.5, pad=2.25, min_text=5.0),
    LabelSize.S200: Geometry(side=200, border=2.0, pad=3.0, min_text=6.0),
}


@dataclass(frozen=True)
class Layout:
    """A rendered-to-shapes label plus the facts tests and callers ask about."""

    side: float
    shapes: tuple[Shape, ...]
    text_height: float
    pitch: float
    placed: tuple[Placed, ...]
    column: Column
    qr_box: Box
    hazard_box: Box | None
    qr: QRMatrix
    font: CJKFont


def layout_label(data: LabelData, size: LabelSize, font: CJKFont) -> Layout:
    """Lay out ``data`` on a label of ``size``: every shape, in mm."""
    geo = GEOMETRY[size]
    palette = HAZARDOUS if data.is_hazardous else GENERAL
    items = _items(data)
    for item in items:
        for piece in item:
            check_printable(font, piece.key, piece.text)
    matrix = qr_matrix(data.qr_url)
    shapes: list[Shape] = _frame(geo, palette)
    body_top = _title(shapes, geo, palette, font, data) + geo.pad

    def column_for(style: TextStyle) -> Column:
        return _right_column(geo, body_top, data.hazards, style).column

    style, flowed, _ = fit_text(items, column_for, geo.min_text, font, int(geo.side))
    right = _right_column(geo, body_top, data.hazards, style)
    shapes += _text_shapes(flowed.placed, style, palette.ink)
    if right.hazard_box is not None:
        shapes += _hazard_shapes(right, data.hazards, style, palette, geo)
    shapes += _qr_shapes(right.qr_box, matrix)
    return Layout(
        side=geo.side,
        shapes=tuple(shapes),
        text_height=style.height,
        pitch=flowed.pitch,
        placed=tuple(flowed.placed),
        column=right.column,
        qr_box=right.qr_box,
        hazard_box=right.hazard_box,
        qr=matrix,
        font=font,
    )


def check_fits(data: LabelData, size: LabelSize, font: CJKFont) -> None:
    """Whether every field of ``data`` fits whole on a label of ``size``: the text fitting of
    :func:`layout_label` without drawing anything (``LabelTextTooLong`` if not)."""
    geo = GEOMETRY[size]
    palette = HAZARDOUS if data.is_hazardous else GENERAL
    body_top = _title([], geo, palette, font, data) + geo.pad

    def column_for(style: TextStyle) -> Column:
        return _right_column(geo, body_top, data.hazards, style).column

    fit_text(_items(data), column_for, geo.min_text, font, int(geo.side))


def _items(data: LabelData) -> list[Item]:
    def f(key: str, value: str) -> FieldText:
        return FieldText(key, TITLES[key], value)

    def whole(key: str, value: str) -> FieldText:
        # A phone number or "185.4 kg" split over two lines is misread: keep it whole.
        return f(key, value.replace(" ", NO_BREAK_SPACE))

    items: list[Item] = [
        (f("waste_name", data.waste_name),),
        (
            whole("category", data.category),
            whole("waste_code", data.waste_code),
            whole("physical_form", data.physical_form),
        ),
        (f("main_components", data.main_components),),
    ]
    if data.is_hazardous:
        items.append((f("harmful_components", data.harmful_components),))
    items += [
        (f("precautions", data.precautions),),
        (f("identification_code", group_identification_code(data.identification_code)),),
        (f("unit_name", data.unit_name),),
        (f("contact_person", data.contact_person), whole("phone", data.phone)),
        (
            whole("generated_on", data.generated_on.isoformat()),
            whole("mass_g", format_mass(data.mass_g)),
        ),
        (f("notes", data.notes),),
    ]
    return items


def _frame(geo: Geometry, palette: Palette) -> list[Shape]:
    """White margin, the frame, and the coloured ground inside it."""
    outer = geo.side - 2 * geo.margin
    inner = outer - 2 * geo.border
    ground = geo.margin + geo.border
    shapes: list[Shape] = [Box(0, 0, geo.side, geo.side, WHITE)]
    if palette.frame == WHITE:  # a white frame needs ground colour outside it to be seen
        shapes.append(Box(geo.margin, geo.margin, outer, outer, palette.background))
        shapes.append(Box(ground, ground, inner, inner, palette.frame))
        inset = geo.border * 0.75
        shapes.append(
            Box(
                ground + inset,
                ground + inset,
                inner - 2 * inset,
                inner - 2 * inset,
                palette.background,
            )
        )
    else:
        shapes.append(Box(geo.margin, geo.margin, outer, outer, palette.frame))
        shapes.append(Box(ground, ground, inner, inner, palette.background))
    return shapes


def _title(
    shapes: list[Shape], geo: Geometry, palette: Palette, font: CJKFont, data: LabelData
) -> float:
    """Draw the letter-spaced title and the rule under it; return the rule's bottom edge."""
    title = "危险废物" if data.is_hazardous else "一般工业固体废物"
    style = TextStyle(font, geo.min_text * palette.title_size)
    plain = style.width(title)
    spacing = min(0.5 * style.cjk_em, (geo.width * 0.9 - plain) / (len(title) - 1))
    x = geo.content + (geo.width - plain - spacing * (len(title) - 1)) / 2
    band = style.height * 1.55
    baseline = geo.content + band / 2 + style.height / 2
    for char in title:
        shapes.append(TextRun(x, baseline, char, style.cjk_em, palette.ink, bold=True))
        x += style.width(char) + spacing
    rule_top = geo.content + band
    ground = geo.margin + geo.border
    rule = max(geo.border * 0.6, 0.6)
    shapes.append(Box(ground, rule_top, geo.side - 2 * ground, rule, palette.frame))
    return rule_top + rule


@dataclass(frozen=True)
class RightColumn:
    """The 危险特性 box (top) and the QR box (bottom) at one text height, and the text area."""

    column: Column
    qr_box: Box
    hazard_box: Box | None
    pictogram: float  # diamond size in mm
    grid: tuple[int, int]  # pictogram columns, rows


def _right_column(
    geo: Geometry, top: float, hazards: tuple[str, ...], style: TextStyle
) -> RightColumn:
    """Size the right-hand boxes; the 危险特性 box is only as tall as its pictograms need.

    Below a short 危险特性 box the text runs the full width again until the QR box.
    """
    side = QR_FRACTION * geo.width
    gap = geo.min_text * 0.5
    right = geo.content + geo.width
    bottom = right
    qr_box = Box(right - side, bottom - side, side, side, WHITE)
    obstacles = [(qr_box.y - gap, bottom)]
    hazard_box, size, grid = None, 0.0, (0, 0)
    if hazards:
        cols = 1 if len(hazards) == 1 else 2
        rows = math.ceil(len(hazards) / cols)
        rule = _hazard_rule(geo)
        pitch = PITCH * style.height
        cell_w = (side - 2 * rule) / cols
        room = qr_box.y - gap - top - 2 * rule - pitch
        size = min(cell_w * 0.86, side * 0.5, room / rows - pitch - style.height * 0.3)
        height = 2 * rule + pitch + rows * (size + pitch + style.height * 0.3)
        hazard_box = Box(right - side, top, side, height, BLACK)
        obstacles.append((top, top + height + gap))
        grid = (cols, rows)
    column = Column(
        left=geo.content,
        top=top,
        bottom=bottom,
        right=right,
        narrow_right=right - side - gap,
        obstacles=tuple(obstacles),
    )
    return RightColumn(column, qr_box, hazard_box, size, grid)


def _hazard_rule(geo: Geometry) -> float:
    return max(geo.border * 0.4, 0.35)


def _text_shapes(placed: list[Placed], style: TextStyle, ink: Color) -> list[Shape]:
    shapes: list[Shape] = []
    for line in placed:
        x = line.x
        baseline = line.top + BASELINE * style.height
        for part, bold in ((line.text[: line.bold], True), (line.text[line.bold :], False)):
            for run, cjk in script_runs(part):
                em = style.cjk_em if cjk else style.latin_em
                shapes.append(TextRun(x, baseline, run, em, ink, bold=bold, cjk=cjk))
                x += style.width(run)
    return shapes


def _hazard_shapes(
    right: RightColumn, hazards: tuple[str, ...], style: TextStyle, palette: Palette, geo: Geometry
) -> list[Shape]:
    """The framed 危险特性 box: heading, then the pictograms with captions in a grid."""
    box = right.hazard_box
    assert box is not None
    rule = _hazard_rule(geo)
    shapes: list[Shape] = [
        Box(box.x, box.y, box.w, box.h, palette.frame),
        Box(box.x + rule, box.y + rule, box.w - 2 * rule, box.h - 2 * rule, palette.background),
    ]
    pitch = PITCH * style.height
    heading = TITLES["hazards"]
    x = box.x + (box.w - style.width(heading)) / 2
    baseline = box.y + rule + BASELINE * style.height
    shapes.append(TextRun(x, baseline, heading, style.cjk_em, palette.ink, True))
    cols, _ = right.grid
    size = right.pictogram
    cell_w = (box.w - 2 * rule) / cols
    cell_h = size + pitch + style.height * 0.3
    for i, letter in enumerate(hazards):
        row, col = divmod(i, cols)
        alone = row * cols + cols > len(hazards)  # the odd one out on the last row is centred
        cx = box.x + rule + cell_w * (col + 0.5) + (cell_w / 2 if alone else 0)
        y = box.y + rule + pitch + row * cell_h
        shapes += transform(pictogram(letter), cx - size / 2, y, size)
        caption = HAZARD_CAPTIONS[letter]
        baseline = y + size + BASELINE * style.height
        shapes.append(
            TextRun(cx - style.width(caption) / 2, baseline, caption, style.cjk_em, palette.ink)
        )
    return shapes


def _qr_shapes(box: Box, matrix: QRMatrix) -> list[Shape]:
    module = box.w / (matrix.size + 2 * QUIET_ZONE)
    origin_x = box.x + QUIET_ZONE * module
    origin_y = box.y + QUIET_ZONE * module
    return [box, QRSymbol(origin_x, origin_y, module, matrix)]

"""Many labels in one PDF: A4 sheets with cut marks, or one label per page on thermal rolls.

On A4 the labels are butted edge to edge in a centred grid (each label already carries its
own 3 mm blank margin inside its square), and crop marks in the page margin continue every
cut line, so a guillotine or a ruler and knife cut them apart. Thermal roll printers feed
die-cut labels, so roll pages carry one label and no marks.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from labels.fonts import find_cjk_font
from labels.layout import layout_label
from labels.model import LabelData, LabelSize, parse_size
from labels.render import FontArg, PdfPainter, SizeArg, save_pdf
from ledger.errors import InvalidInput

A4: Final = (210.0, 297.0)
#: Room kept free at the page edge: most office printers cannot print the outer ~4 mm.
PAGE_MARGIN: Final = 5.0
MARK_LENGTH: Final = 3.5
MARK_GAP: Final = 1.0  # marks stop short of the labels so a slightly off cut leaves no line
MARK_WIDTH: Final = 0.2


@dataclass(frozen=True)
class SheetFormat:
    """A page size and how labels are arranged on it."""

    name: str
    page: tuple[float, float]  # width, height in mm
    cut_marks: bool


SHEETS: Final = {
    "a4": SheetFormat("a4", A4, cut_marks=True),
    "roll-100x100": SheetFormat("roll-100x100", (100.0, 100.0), cut_marks=False),
    "roll-100x150": SheetFormat("roll-100x150", (100.0, 150.0), cut_marks=False),
}


@dataclass(frozen=True)
class Grid:
    """Label positions on one page: columns, rows and the top-left of the grid, in mm."""

    cols: int
    rows: int
    left: float
    top: float
    side: float

    @property
    def per_page(self) -> int:
        """Labels on one full page."""
        return self.cols * self.rows


def sheet_grid(sheet: str, size: SizeArg = LabelSize.S100) -> Grid:
    """How labels of ``size`` sit on ``sheet`` (``InvalidInput`` if none fits)."""
    fmt = _format(sheet)
    side = float(parse_size(size))
    width, height = fmt.page
    margin = PAGE_MARGIN if fmt.cut_marks else 0.0
    cols = math.floor((width - 2 * margin) / side + 1e-9)
    rows = math.floor((height - 2 * margin) / side + 1e-9)
    if cols < 1 or rows < 1:
        raise InvalidInput(f"a {side:g} mm label does not fit on a {fmt.name} page", field="size")
    if not fmt.cut_marks:
        cols = rows = 1
    return Grid(cols, rows, (width - cols * side) / 2, (height - rows * side) / 2, side)


def render_sheet_pdf(
    labels: Sequence[LabelData],
    sheet: str = "a4",
    size: SizeArg = LabelSize.S100,
    *,
    font: FontArg = None,
) -> bytes:
    """A PDF of ``labels`` on ``sheet`` ("a4", "roll-100x100" or "roll-100x150")."""
    if not labels:
        raise InvalidInput("a sheet needs at least one label", field="labels")
    fmt = _format(sheet)
    grid = sheet_grid(sheet, size)
    label_size = parse_size(size)
    cjk = find_cjk_font(font)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(fmt.page[0] * mm, fmt.page[1] * mm), pageCompression=1)
    canvas.setTitle(f"废物标签 {len(labels)} 张")
    painter = PdfPainter(canvas, cjk, page_height=fmt.page[1])
    for start in range(0, len(labels), grid.per_page):
        page = labels[start : start + grid.per_page]
        for i, data in enumerate(page):
            row, col = divmod(i, grid.cols)
            drawn = layout_label(data, label_size, cjk)
            painter.draw(drawn.shapes, grid.left + col * grid.side, grid.top + row * grid.side)
        if fmt.cut_marks:
            _cut_marks(canvas, grid, fmt.page, used=len(page))
        canvas.showPage()
    save_pdf(canvas)
    return out.getvalue()


def cut_lines(grid: Grid, used: int) -> tuple[list[float], list[float]]:
    """The x positions of vertical cuts and y positions of horizontal cuts, in mm."""
    rows = max(1, math.ceil(used / grid.cols))
    cols = grid.cols if used >= grid.cols else max(used, 1)
    xs = [grid.left + i * grid.side for i in range(cols + 1)]
    ys = [grid.top + j * grid.side for j in range(rows + 1)]
    return xs, ys


def _cut_marks(canvas: Canvas, grid: Grid, page: tuple[float, float], used: int) -> None:
    """Crop marks in the page margin on the continuation of every cut line."""
    width, height = page
    xs, ys = cut_lines(grid, used)
    canvas.setStrokeColorRGB(0, 0, 0)
    canvas.setLineWidth(MARK_WIDTH * mm)
    top, bottom = ys[0], ys[-1]
    left, right = xs[0], xs[-1]
    for x in xs:
        _line(canvas, height, x, top - MARK_GAP, x, top - MARK_GAP - MARK_LENGTH)
        _line(canvas, height, x, bottom + MARK_GAP, x, bottom + MARK_GAP + MARK_LENGTH)
    for y in ys:
        _line(canvas, height, left - MARK_GAP, y, left - MARK_GAP - MARK_LENGTH, y)
        _line(canvas, height, right + MARK_GAP, y, right + MARK_GAP + MARK_LENGTH, y)


def _line(canvas: Canvas, page_height: float, x1: float, y1: float, x2: float, y2: float) -> None:
    canvas.line(x1 * mm, (page_height - y1) * mm, x2 * mm, (page_height - y2) * mm)


def _format(sheet: str) -> SheetFormat:
    try:
        return SHEETS[sheet]
    except KeyError:
        raise InvalidInput(
            f"sheet must be one of {', '.join(SHEETS)}, not {sheet!r}", field="sheet"
        ) from None

"""Fitting titled fields into a column: wrap, shrink, close up — never cut, never overflow.

All body text on a label shares one *text height*, so the label reads evenly:

1. The largest of :data:`HEIGHT_STEPS` (1.3× the size's minimum down to the minimum) at which
   every field fits is taken; fields wrap at that height.
2. If nothing fits at the minimum (HJ 1276-2022 表 1's 最低文字高度), the lines close up, down to
   :data:`TIGHTEST_PITCH` times the text height.
3. If it still does not fit, nothing is printed: :class:`LabelTextTooLong` names the fields that
   fill the label and how many lines are missing. No field is ever cut short — a label whose
   company or waste name ends in "…" identifies nothing (a larger size, or shorter text, does).
4. Spare height is spread between the lines so the text block fills its column.

The column is narrower beside the right-hand boxes (危险特性, QR), which is why a field's
line breaks depend on where it lands and every pass re-flows from the top.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from labels.fonts import CJKFont
from labels.text import TextStyle, atoms, take_line
from ledger.errors import InvalidInput

COLON: Final = "："
#: Line pitch as a multiple of the text height: Latin descenders and ideographs clear.
PITCH: Final = 1.4
#: Baseline below the top of a line box, as a multiple of the text height.
BASELINE: Final = 1.04
HEIGHT_STEPS: Final = (1.3, 1.25, 1.2, 1.15, 1.1, 1.05, 1.0)
#: Spare height is spread up to this multiple of the normal pitch.
MAX_SPREAD: Final = 1.3
#: At the minimum text height, the line pitch may close up to these multiples of the height
#: (an ideograph's ink is the text height, so 1.2 still leaves a fifth of it between lines).
CLOSER_PITCHES: Final = (1.3, 1.2)
TIGHTEST_PITCH: Final = CLOSER_PITCHES[-1]
#: Field titles, for the message that names what to shorten.
FIELD_NAMES: Final = {
    "waste_name": "废物名称", "main_components": "主要成分", "harmful_components": "有害成分",
    "precautions": "注意事项", "unit_name": "产生/收集单位", "contact_person": "联系人",
    "phone": "联系方式", "notes": "备注", "identification_code": "数字识别码",
}


class LabelTextTooLong(InvalidInput):
    """The fields do not fit on this label size even at the minimum text height: the label is
    refused before printing (never printed with a field cut short)."""

    code = "label_text_too_long"

    def __init__(self, size_mm: int, missing_lines: int, fields: tuple[str, ...]) -> None:
        names = "、".join(FIELD_NAMES.get(f, f) for f in fields)
        super().__init__(
            f"文字过长：{size_mm} mm 标签在最低文字高度下还差 {missing_lines} 行，"
            f"请缩短{names}，或改用更大的标签"
            f"（label text too long for {size_mm} mm: {missing_lines} line(s) short; "
            f"shorten {', '.join(fields)} or print a larger label)",
            field=fields[0] if fields else None)
        self.size_mm = size_mm
        self.missing_lines = missing_lines
        self.fields = fields


@dataclass(frozen=True)
class FieldText:
    """One titled field: ``title：value``."""

    key: str
    title: str
    value: str

    @property
    def text(self) -> str:
        """What is printed, title included."""
        return f"{self.title}{COLON}{self.value}"

    @property
    def head(self) -> str:
        """The bold title with its colon."""
        return f"{self.title}{COLON}"


#: A paragraph of one field, or short fields that share a line when they all fit on it.
Item = tuple[FieldText, ...]


@dataclass(frozen=True)
class Placed:
    """Where one piece of field text went: the left of its line and the line's top."""

    key: str
    x: float
    top: float
    text: str
    bold: int  # leading characters in bold (the title)
    right: float  # the right edge this line was fitted to


@dataclass
class Flowed:
    """The result of flowing all fields at one text height."""

    placed: list[Placed] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # lines each field takes
    bottom: float = 0.0
    pitch: float = 0.0


@dataclass(frozen=True)
class Column:
    """The text area: full width, except beside the right-hand boxes (``obstacles``)."""

    left: float
    top: float
    bottom: float
    right: float
    narrow_right: float
    obstacles: tuple[tuple[float, float], ...]  # vertical extents of the right-hand boxes

    def right_at(self, top: float, pitch: float) -> float:
        """Right edge available to a line occupying [top, top + pitch]."""
        for start, end in self.obstacles:
            if top < end and top + pitch > start:
                return self.narrow_right
        return self.right


#: The column to fit into at a given text height (the right-hand boxes depend on it).
ColumnFor = Callable[[TextStyle], Column]
Fit = tuple[TextStyle, Flowed, Column]


def fit_text(items: list[Item], column_for: ColumnFor, min_text: float, font: CJKFont,
             size_mm: int = 0) -> Fit:
    """Choose the text height and line breaks so every field fits whole (see the module
    notes); :class:`LabelTextTooLong` when it cannot."""
    tallest, fits = _attempt(items, column_for, font, min_text * HEIGHT_STEPS[0])
    if not fits:
        found = _search_height(items, column_for, font, min_text, tallest)
        if found is None:
            return _closed_up(items, column_for, font, min_text, size_mm)
        tallest = found
    style, flowed, column = tallest
    return style, _spread(items, column, style, flowed), column


def _closed_up(items: list[Item], column_for: ColumnFor, font: CJKFont, min_text: float,
               size_mm: int) -> Fit:
    """At the minimum height, the first closer line pitch at which everything fits."""
    style = TextStyle(font, min_text)
    column = column_for(style)
    flowed = Flowed()
    for factor in CLOSER_PITCHES:
        flowed = flow(items, column, style, factor * min_text)
        if flowed.bottom <= column.bottom + 1e-9:
            return style, flowed, column
    pitch = TIGHTEST_PITCH * min_text
    missing = math.ceil((flowed.bottom - column.bottom) / pitch - 1e-9)
    free = [piece.key for item in items for piece in item
            if piece.key in FIELD_NAMES and piece.key != "identification_code"]
    longest = sorted(free, key=lambda k: -flowed.lines.get(k, 0))
    fields = tuple(k for k in longest if flowed.lines.get(k, 0) > 1) or tuple(longest[:2])
    raise LabelTextTooLong(size_mm, missing, fields)


def _attempt(
    items: list[Item], column_for: ColumnFor, font: CJKFont, height: float
) -> tuple[Fit, bool]:
    """Flow everything at one text height; say whether it fits."""
    style = TextStyle(font, height)
    column = column_for(style)
    flowed = flow(items, column, style, PITCH * height)
    return (style, flowed, column), flowed.bottom <= column.bottom


def _search_height(
    items: list[Item],
    column_for: ColumnFor,
    font: CJKFont,
    min_text: float,
    tallest: Fit,
) -> Fit | None:
    """The largest of :data:`HEIGHT_STEPS` (after the first) at which everything fits.

    Text area grows with the square of the height, so the overflow at the tallest height
    predicts the height that fits: the search starts there, steps down until it fits, and
    if the guess itself fitted, steps up while it still fits. Usually one or two flows.
    """
    column = tallest[2]
    needed = (tallest[1].bottom - column.top) / (column.bottom - column.top)
    guess = HEIGHT_STEPS[0] / needed**0.5
    last = len(HEIGHT_STEPS) - 1
    start = next((i for i, f in enumerate(HEIGHT_STEPS) if i and f <= guess), last)
    for index in range(start, last + 1):
        found, fits = _attempt(items, column_for, font, min_text * HEIGHT_STEPS[index])
        if fits:
            break
    else:
        return None
    if index == start:
        for higher in range(start - 1, 0, -1):
            taller, fits = _attempt(items, column_for, font, min_text * HEIGHT_STEPS[higher])
            if not fits:
                break
            found = taller
    return found


def _spread(items: list[Item], column: Column, style: TextStyle, flowed: Flowed) -> Flowed:
    """Open up the line pitch when there is room, so the text fills its column evenly."""
    pitch = PITCH * style.height
    lines = max(1.0, (flowed.bottom - column.top) / pitch)
    room = (column.bottom - column.top) / (lines * pitch)
    for factor in (min(room, MAX_SPREAD), 1 + (min(room, MAX_SPREAD) - 1) / 2):
        if factor <= 1.02:
            break
        wider = flow(items, column, style, pitch * factor)
        if wider.bottom <= column.bottom and wider.lines == flowed.lines:
            return wider
    return flowed


def flow(
    items: list[Item], column: Column, style: TextStyle, pitch: float
) -> Flowed:
    """Place the fields line by line from the top of ``column`` at one text height.

    Lines past the bottom are still placed, so ``bottom`` tells how much is missing.
    """
    result = Flowed(pitch=pitch)
    gap = style.height * 1.2
    top = column.top
    for item in items:
        used: float | None = None  # width used on a line shared by short fields
        for piece in item:
            if used is not None:
                right = column.right_at(top - pitch, pitch)
                x = column.left + used + gap
                width = style.width(piece.text)
                if x + width <= right:
                    result.placed.append(
                        Placed(piece.key, x, top - pitch, piece.text, len(piece.head), right)
                    )
                    result.lines[piece.key] = 1
                    used += gap + width
                    continue
            top = _paragraph(result, piece, column, style, pitch, top)
            last = result.placed[-1]
            used = style.width(last.text) if result.lines[piece.key] == 1 else None
    result.bottom = top
    return result


def _paragraph(
    result: Flowed,
    piece: FieldText,
    column: Column,
    style: TextStyle,
    pitch: float,
    top: float,
) -> float:
    """Wrap one field from ``top``; return the top of the next free line."""
    pieces = [piece.head, *atoms(piece.value)]
    start, count = 0, 0
    while True:
        right = column.right_at(top, pitch)
        width = right - column.left
        line, start = take_line(style, pieces, start, width)
        count += 1
        more = start < len(pieces) and any(p != " " for p in pieces[start:])
        bold = min(len(piece.head), len(line)) if count == 1 else 0
        result.placed.append(Placed(piece.key, column.left, top, line, bold, right))
        top += pitch
        if not more:
            break
    result.lines[piece.key] = count
    return top

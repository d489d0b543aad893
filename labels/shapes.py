"""The few drawing primitives a label is made of, in millimetres from the top-left corner.

Layout produces these once; the PNG, SVG and PDF renderers only translate them. Every shape
is filled, never stroked: stroke joins, caps and alignment differ between Pillow, SVG and
PDF, fills do not, so the three outputs agree to the pixel.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from labels.qr import QRMatrix

Color = tuple[int, int, int]
Point = tuple[float, float]

BLACK: Color = (0, 0, 0)
WHITE: Color = (255, 255, 255)


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned filled rectangle (also used for straight rules and borders)."""

    x: float
    y: float
    w: float
    h: float
    fill: Color


@dataclass(frozen=True, slots=True)
class Polygon:
    """A filled polygon (pictogram outlines, flames, bones)."""

    points: tuple[Point, ...]
    fill: Color


@dataclass(frozen=True, slots=True)
class Circle:
    """A filled disc."""

    cx: float
    cy: float
    r: float
    fill: Color


@dataclass(frozen=True, slots=True)
class TextRun:
    """Text of one script at one em size, its origin on the baseline at the left."""

    x: float
    baseline: float
    text: str
    em: float
    fill: Color
    bold: bool = False
    cjk: bool = True


@dataclass(frozen=True, slots=True)
class QRSymbol:
    """The dark modules of a QR matrix; its white quiet-zone box is a separate :class:`Box`."""

    x: float  # left edge of module column 0
    y: float  # top edge of module row 0
    module: float
    matrix: QRMatrix
    fill: Color = BLACK


Shape = Box | Polygon | Circle | TextRun | QRSymbol


def thick_segment(a: Point, b: Point, width: float) -> Polygon:
    """A straight bar of ``width`` from ``a`` to ``b`` as a filled quadrilateral."""
    (x1, y1), (x2, y2) = a, b
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    nx, ny = -(y2 - y1) / length * width / 2, (x2 - x1) / length * width / 2
    return Polygon(
        ((x1 + nx, y1 + ny), (x2 + nx, y2 + ny), (x2 - nx, y2 - ny), (x1 - nx, y1 - ny)), BLACK
    )


def transform(shapes: Iterable[Shape], x: float, y: float, scale: float) -> list[Shape]:
    """Move unit-square drawings (pictograms) to (x, y) at ``scale`` mm per unit."""
    placed: list[Shape] = []
    for shape in shapes:
        if isinstance(shape, Polygon):
            points = tuple((x + px * scale, y + py * scale) for px, py in shape.points)
            placed.append(Polygon(points, shape.fill))
        elif isinstance(shape, Circle):
            placed.append(
                Circle(x + shape.cx * scale, y + shape.cy * scale, shape.r * scale, shape.fill)
            )
        elif isinstance(shape, Box):
            placed.append(
                Box(
                    x + shape.x * scale,
                    y + shape.y * scale,
                    shape.w * scale,
                    shape.h * scale,
                    shape.fill,
                )
            )
        else:
            raise TypeError(f"cannot transform {type(shape).__name__}")
    return placed

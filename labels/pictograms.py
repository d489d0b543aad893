"""危险特性 pictograms, drawn here from plain shapes (no copied artwork).

Each is a diamond in the GHS manner — red frame, white ground, black symbol — in a unit
square; the layout scales it. The symbols are deliberately simple so they stay recognisable
at 9 mm on a 100 mm label: skull and crossbones (毒性 T), dripping tubes eating a slab and a
hand (腐蚀性 C), a flame (易燃性 I), a burst (反应性 R), the biohazard trefoil (感染性 In).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from labels.shapes import BLACK, WHITE, Box, Circle, Color, Polygon, Shape, thick_segment

FRAME_RED: Color = (214, 32, 38)
_FRAME = 0.075  # frame width as a fraction of the diamond's half-diagonal


def diamond(fill: Color, inset: float = 0.0) -> Polygon:
    """The unit diamond (corners at the edge midpoints), optionally shrunk by ``inset``."""
    lo, hi = inset, 1 - inset
    return Polygon(((0.5, lo), (hi, 0.5), (0.5, hi), (lo, 0.5)), fill)


def pictogram(letter: str) -> list[Shape]:
    """Shapes for hazard ``letter`` (T, C, I, R, In) in the unit square."""
    frame = [diamond(FRAME_RED), diamond(WHITE, inset=_FRAME)]
    return frame + _SYMBOLS[letter]()


def _toxic() -> list[Shape]:
    bone = 0.045
    shapes: list[Shape] = [
        thick_segment((0.33, 0.585), (0.67, 0.715), bone),
        thick_segment((0.33, 0.715), (0.67, 0.585), bone),
    ]
    for x, y in ((0.33, 0.585), (0.67, 0.715), (0.33, 0.715), (0.67, 0.585)):
        dy = 0.018 if y < 0.65 else -0.018
        shapes += [Circle(x - 0.012, y - dy, 0.026, BLACK), Circle(x + 0.012, y + dy, 0.026, BLACK)]
    shapes += [
        Circle(0.5, 0.415, 0.125, BLACK),  # cranium
        Box(0.435, 0.47, 0.13, 0.085, BLACK),  # jaw
        Circle(0.452, 0.42, 0.038, WHITE),
        Circle(0.548, 0.42, 0.038, WHITE),
        Polygon(((0.5, 0.458), (0.518, 0.492), (0.482, 0.492)), WHITE),  # nose
    ]
    shapes += [Box(0.455 + 0.03 * i, 0.525, 0.009, 0.03, WHITE) for i in range(4)]  # teeth
    return shapes


def _corrosive() -> list[Shape]:
    shapes: list[Shape] = [
        thick_segment((0.31, 0.30), (0.44, 0.39), 0.065),  # left tube, mouth at lower right
        thick_segment((0.69, 0.30), (0.56, 0.39), 0.065),  # right tube, mouth at lower left
        Circle(0.455, 0.455, 0.022, BLACK),
        Circle(0.455, 0.52, 0.016, BLACK),
        Circle(0.545, 0.455, 0.022, BLACK),
        Circle(0.545, 0.52, 0.016, BLACK),
        Box(0.29, 0.585, 0.19, 0.07, BLACK),  # slab
        Circle(0.455, 0.585, 0.03, WHITE),  # ... eaten where the drop falls
        Box(0.53, 0.585, 0.15, 0.07, BLACK),  # hand: palm
        Polygon(((0.68, 0.585), (0.72, 0.605), (0.72, 0.635), (0.68, 0.655)), BLACK),  # thumb
        Circle(0.545, 0.585, 0.03, WHITE),
        Box(0.27, 0.68, 0.46, 0.03, BLACK),  # ground
    ]
    return shapes


def _flame() -> list[Shape]:
    outer = (
        (0.50, 0.670),
        (0.58, 0.660),
        (0.630, 0.620),
        (0.655, 0.560),
        (0.650, 0.500),
        (0.630, 0.450),
        (0.600, 0.400),
        (0.580, 0.350),
        (0.560, 0.300),
        (0.530, 0.255),
        (0.535, 0.310),
        (0.520, 0.350),
        (0.490, 0.385),
        (0.460, 0.410),
        (0.440, 0.395),
        (0.425, 0.350),
        (0.405, 0.400),
        (0.380, 0.450),
        (0.355, 0.500),
        (0.350, 0.560),
        (0.370, 0.620),
        (0.420, 0.660),
    )
    inner = (
        (0.50, 0.645),
        (0.55, 0.625),
        (0.575, 0.575),
        (0.565, 0.520),
        (0.535, 0.470),
        (0.515, 0.430),
        (0.500, 0.465),
        (0.470, 0.505),
        (0.435, 0.550),
        (0.430, 0.600),
        (0.460, 0.635),
    )
    return [Polygon(outer, BLACK), Polygon(inner, WHITE), Box(0.32, 0.69, 0.36, 0.04, BLACK)]


def _burst() -> list[Shape]:
    # An exploding ball: an uneven star of blast with fragments flying off.
    reach = (0.23, 0.16, 0.21, 0.14, 0.24, 0.15, 0.2, 0.13, 0.22, 0.16, 0.19, 0.14)
    points = []
    for i, r in enumerate(reach):
        for radius, offset in ((r, 0.0), (0.085, 0.5)):
            angle = 2 * math.pi * (i + offset) / len(reach) - math.pi / 2
            points.append((0.5 + radius * math.cos(angle), 0.52 + radius * math.sin(angle)))
    shapes: list[Shape] = [Polygon(tuple(points), BLACK), Circle(0.5, 0.52, 0.075, WHITE)]
    shapes.append(Circle(0.5, 0.52, 0.055, BLACK))
    for angle, distance in ((-2.3, 0.27), (-0.7, 0.27), (0.4, 0.25), (2.6, 0.25)):
        x, y = 0.5 + distance * math.cos(angle), 0.52 + distance * math.sin(angle)
        shapes.append(
            Polygon(((x, y - 0.02), (x + 0.02, y + 0.012), (x - 0.018, y + 0.015)), BLACK)
        )
    return shapes


def _biohazard() -> list[Shape]:
    centre = (0.5, 0.53)
    shapes: list[Shape] = []
    for k in range(3):  # three lobes, each a disc with an offset white disc cut out
        angle = -math.pi / 2 + 2 * math.pi * k / 3
        shapes.append(_around(centre, angle, 0.11, 0.13, BLACK))
    for k in range(3):
        angle = -math.pi / 2 + 2 * math.pi * k / 3
        shapes.append(_around(centre, angle, 0.15, 0.095, WHITE))
    shapes += [Circle(*centre, 0.08, BLACK), Circle(*centre, 0.052, WHITE)]
    for k in range(3):  # the ring is cut where it meets each lobe's hollow
        angle = -math.pi / 2 + 2 * math.pi * k / 3
        tip = (centre[0] + 0.1 * math.cos(angle), centre[1] + 0.1 * math.sin(angle))
        bar = thick_segment(centre, tip, 0.022)
        shapes.append(Polygon(bar.points, WHITE))
    shapes.append(Circle(*centre, 0.03, BLACK))
    return shapes


def _around(
    centre: tuple[float, float], angle: float, distance: float, r: float, fill: Color
) -> Circle:
    return Circle(
        centre[0] + distance * math.cos(angle), centre[1] + distance * math.sin(angle), r, fill
    )


_SYMBOLS: dict[str, Callable[[], list[Shape]]] = {
    "T": _toxic,
    "C": _corrosive,
    "I": _flame,
    "R": _burst,
    "In": _biohazard,
}

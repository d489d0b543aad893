"""Turning a laid-out label into PNG, SVG or PDF bytes.

Each renderer only translates the shapes from :mod:`labels.layout`; none decides where
anything goes, which is why the three outputs look the same.
"""

from __future__ import annotations

import io
import os
from xml.sax.saxutils import escape, quoteattr

from PIL import Image, ImageDraw
from reportlab import rl_config
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from labels.fit import LabelTextTooLong
from labels.fonts import CJKFont, find_cjk_font
from labels.layout import Layout, check_fits, layout_label
from labels.model import LabelData, LabelSize, parse_size
from labels.shapes import Box, Circle, Color, Polygon, QRSymbol, Shape, TextRun
from ledger.errors import InvalidInput

#: Raster resolution: HJ 1276-2022 labels are printed, 300 dpi is the print floor.
DEFAULT_DPI = 300
#: Fake bold (the CJK fonts we find have no bold face): outline width as a share of the em.
BOLD_STROKE = 0.022
#: Fallbacks for SVG viewers that lack the font the layout was measured with.
SVG_FONT_FALLBACKS = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Microsoft YaHei",
    "PingFang SC",
    "sans-serif",
)

FontArg = str | os.PathLike[str] | None
SizeArg = LabelSize | int | str


def label_layout(
    data: LabelData, size: SizeArg = LabelSize.S100, *, font: FontArg = None
) -> Layout:
    """The label's layout (shapes in mm): what every renderer draws, and what tests inspect."""
    return layout_label(data, parse_size(size), find_cjk_font(font))


def fits(data: LabelData, size: SizeArg = LabelSize.S100, *, font: FontArg = None) -> bool:
    """Whether every field of ``data`` prints whole at ``size`` (the text fitting alone, much
    cheaper than a layout: no QR code, no shapes)."""
    try:
        check_fits(data, parse_size(size), find_cjk_font(font))
    except LabelTextTooLong:
        return False
    return True


def render_png(
    data: LabelData, size: SizeArg = LabelSize.S100, *, dpi: int = DEFAULT_DPI, font: FontArg = None
) -> bytes:
    """The label as a PNG at ``dpi`` (≥ 300 for print), with the dpi recorded in the file."""
    if dpi < 300:
        raise InvalidInput("labels are rendered at 300 dpi or more", field="dpi")
    image = rasterise(label_layout(data, size, font=font), dpi)
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(dpi, dpi))
    return out.getvalue()


def render_svg(data: LabelData, size: SizeArg = LabelSize.S100, *, font: FontArg = None) -> bytes:
    """The label as SVG, sized in mm, text kept as text (searchable, selectable)."""
    return svg_document(label_layout(data, size, font=font)).encode("utf-8")


def render_pdf(data: LabelData, size: SizeArg = LabelSize.S100, *, font: FontArg = None,
               copies: int = 1) -> bytes:
    """The label as a PDF of exactly the label's size, the CJK font embedded: one page, or
    ``copies`` pages (2 for a container over 450 L, labelled on two opposite faces)."""
    if not 1 <= copies <= 4:
        raise InvalidInput("copies must be 1 to 4", field="copies")
    drawn = label_layout(data, size, font=font)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(drawn.side * mm, drawn.side * mm), pageCompression=1)
    title = "危险废物标签" if data.is_hazardous else "一般工业固体废物标签"
    faces = f"（{copies} 张，贴在容器相对的两面）" if copies == 2 else (
        f"（{copies} 张）" if copies > 1 else "")
    canvas.setTitle(f"{title} {data.identification_code}{faces}")
    painter = PdfPainter(canvas, drawn.font, page_height=drawn.side)
    for _ in range(copies):
        painter.draw(drawn.shapes, 0, 0)
        canvas.showPage()
    save_pdf(canvas)
    return out.getvalue()


def save_pdf(canvas: Canvas) -> None:
    """Save without reportlab's ASCII85 layer over compressed streams.

    ASCII85 only makes binary streams 7-bit clean (a 1990s mail concern); reportlab encodes it
    in pure Python, which took a third of a 1,000-label sheet's time. The switch is global in
    reportlab, so it is flipped only around the save; a concurrent save may still get ASCII85,
    which is equally valid PDF.
    """
    previous = rl_config.useA85
    rl_config.useA85 = 0
    try:
        canvas.save()
    finally:
        rl_config.useA85 = previous


# --- PNG -----------------------------------------------------------------------------------


def rasterise(drawn: Layout, dpi: int) -> Image.Image:
    """Paint the layout into an RGB image at ``dpi``."""
    scale = dpi / 25.4
    side = round(drawn.side * scale)
    image = Image.new("RGB", (side, side), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for shape in drawn.shapes:
        _paint(draw, shape, scale, drawn.font)
    return image


def _paint(draw: ImageDraw.ImageDraw, shape: Shape, scale: float, font: CJKFont) -> None:
    if isinstance(shape, Box):
        _box(draw, shape.x, shape.y, shape.w, shape.h, shape.fill, scale)
    elif isinstance(shape, Polygon):
        draw.polygon([(x * scale, y * scale) for x, y in shape.points], fill=shape.fill)
    elif isinstance(shape, Circle):
        r = shape.r * scale
        cx, cy = shape.cx * scale, shape.cy * scale
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=shape.fill)
    elif isinstance(shape, TextRun):
        em = shape.em * scale
        stroke = em * BOLD_STROKE if shape.bold else 0
        draw.text(
            (shape.x * scale, shape.baseline * scale),
            shape.text,
            font=font.pil(em),
            fill=shape.fill,
            anchor="ls",
            stroke_width=stroke,
            stroke_fill=shape.fill,
        )
    elif isinstance(shape, QRSymbol):
        for row, col, length in shape.matrix.dark_runs:
            x, y = shape.x + col * shape.module, shape.y + row * shape.module
            _box(draw, x, y, length * shape.module, shape.module, shape.fill, scale)


def _box(
    draw: ImageDraw.ImageDraw, x: float, y: float, w: float, h: float, fill: Color, scale: float
) -> None:
    # Round edges, not sizes: neighbouring boxes (QR modules) then meet without gaps.
    x0, y0 = round(x * scale), round(y * scale)
    x1, y1 = round((x + w) * scale), round((y + h) * scale)
    if x1 > x0 and y1 > y0:
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)


# --- SVG -----------------------------------------------------------------------------------


def svg_document(drawn: Layout) -> str:
    """An SVG document for the layout; user units are millimetres."""
    families = [drawn.font.family, *(f for f in SVG_FONT_FALLBACKS if f != drawn.font.family)]
    family = ", ".join(f if f == "sans-serif" else f"'{f}'" for f in families)
    side = f"{drawn.side:g}"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}mm" height="{side}mm" '
        f'viewBox="0 0 {side} {side}">',
        f"<g font-family={quoteattr(family)}>",
    ]
    parts += [_svg_shape(shape, drawn) for shape in drawn.shapes]
    parts += ["</g>", "</svg>", ""]
    return "\n".join(parts)


def pictogram_svg(letter: str) -> bytes:
    """One hazard pictogram (T, C, I, R, In) as a standalone SVG, for web pages."""
    from labels.pictograms import pictogram

    shapes = [s for s in pictogram(letter) if not isinstance(s, TextRun)]
    body = "".join(_svg_shape(shape, None) for shape in shapes)  # type: ignore[arg-type]  # no layout: no text
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1" width="64" height="64">'
            f"{body}</svg>\n").encode()


def _hex(color: Color) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def _n(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _svg_shape(shape: Shape, drawn: Layout) -> str:
    if isinstance(shape, Box):
        return (
            f'<rect x="{_n(shape.x)}" y="{_n(shape.y)}" width="{_n(shape.w)}" '
            f'height="{_n(shape.h)}" fill="{_hex(shape.fill)}"/>'
        )
    if isinstance(shape, Polygon):
        points = " ".join(f"{_n(x)},{_n(y)}" for x, y in shape.points)
        return f'<polygon points="{points}" fill="{_hex(shape.fill)}"/>'
    if isinstance(shape, Circle):
        return (
            f'<circle cx="{_n(shape.cx)}" cy="{_n(shape.cy)}" r="{_n(shape.r)}" '
            f'fill="{_hex(shape.fill)}"/>'
        )
    if isinstance(shape, TextRun):
        return _svg_text(shape, drawn)
    if isinstance(shape, QRSymbol):
        path = "".join(
            f"M{col} {row}h{length}v1h-{length}z" for row, col, length in shape.matrix.dark_runs
        )
        return (
            f'<path transform="translate({_n(shape.x)} {_n(shape.y)}) scale({shape.module:.5f})" '
            f'd="{path}" fill="{_hex(shape.fill)}" shape-rendering="crispEdges"/>'
        )
    raise TypeError(type(shape).__name__)


def _svg_text(shape: TextRun, drawn: Layout) -> str:
    advance = sum(drawn.font.advance(c) for c in shape.text) * shape.em
    bold = ""
    if shape.bold:
        bold = f' stroke="{_hex(shape.fill)}" stroke-width="{_n(2 * BOLD_STROKE * shape.em)}"'
    # textLength pins the width measured with our font, so a viewer falling back to another
    # CJK font squeezes the run instead of letting it overflow its field.
    return (
        f'<text x="{_n(shape.x)}" y="{_n(shape.baseline)}" font-size="{_n(shape.em)}" '
        f'fill="{_hex(shape.fill)}"{bold} textLength="{_n(advance)}" '
        f'lengthAdjust="spacingAndGlyphs" xml:space="preserve">{escape(shape.text)}</text>'
    )


# --- PDF -----------------------------------------------------------------------------------


#: Bézier control distance for a quarter circle.
_KAPPA = 0.5522847498


class PdfPainter:
    """Draws layout shapes on a reportlab canvas, flipping y (PDF counts from the bottom).

    Shapes are written as raw PDF path operators through ``Canvas.addLiteral``: reportlab's
    path API formats every number in pure Python and was most of a sheet's drawing time.
    Text still goes through reportlab, which subsets and embeds the CJK font; all of a
    label's text is drawn last, in one text object per em size, so nothing covers it.
    """

    def __init__(self, canvas: Canvas, font: CJKFont, page_height: float) -> None:
        self.canvas = canvas
        self.font_name = font.pdf_name
        self.page_height = page_height

    def draw(self, shapes: tuple[Shape, ...], left: float, top: float) -> None:
        """Draw ``shapes`` with the label's top-left corner at (left, top) mm on the page."""
        ops: list[str] = []
        color: Color | None = None
        texts: list[TextRun] = []
        for shape in shapes:
            if isinstance(shape, TextRun):
                texts.append(shape)
                continue
            if shape.fill != color:
                color = shape.fill
                ops.append("{:.4f} {:.4f} {:.4f} rg".format(*(c / 255 for c in color)))
            ops.append(self._path(shape, left * mm, (self.page_height - top) * mm))
        self.canvas.addLiteral("\n".join(ops))
        self._texts(texts, left, top)

    def _path(self, shape: Shape, x0: float, y0: float) -> str:
        """PDF operators filling one shape; (x0, y0) is the label's top-left in points."""
        if isinstance(shape, Box):
            return (
                f"{x0 + shape.x * mm:.3f} {y0 - (shape.y + shape.h) * mm:.3f} "
                f"{shape.w * mm:.3f} {shape.h * mm:.3f} re f"
            )
        if isinstance(shape, Polygon):
            (first_x, first_y), *rest = shape.points
            ops = [f"{x0 + first_x * mm:.3f} {y0 - first_y * mm:.3f} m"]
            ops += [f"{x0 + x * mm:.3f} {y0 - y * mm:.3f} l" for x, y in rest]
            return " ".join([*ops, "h f"])
        if isinstance(shape, Circle):
            return _circle(x0 + shape.cx * mm, y0 - shape.cy * mm, shape.r * mm)
        if isinstance(shape, QRSymbol):
            # In module units (1 = one module, y down) the path is integers, and one path
            # filled once is a union: no seams between modules.
            m = shape.module * mm
            left, top = x0 + shape.x * mm, y0 - shape.y * mm
            return f"q {m:.4f} 0 0 {-m:.4f} {left:.3f} {top:.3f} cm\n{_module_rects(shape)}\nf Q"
        raise TypeError(type(shape).__name__)

    def _texts(self, runs: list[TextRun], left: float, top: float) -> None:
        sizes = sorted({run.em for run in runs if run.bold}, reverse=True)
        # The render mode and outline width outlive BT/ET (they are graphics state), so each
        # bold group is fenced with q/Q: otherwise the regular text after it is stroked too.
        for em in sizes:  # bold runs of one size share the outline width set outside BT/ET
            self.canvas.addLiteral(f"q {2 * BOLD_STROKE * em * mm:.3f} w")
            self._text_object([r for r in runs if r.bold and r.em == em], left, top)
            self.canvas.addLiteral("Q")
        self._text_object([r for r in runs if not r.bold], left, top)

    def _text_object(self, runs: list[TextRun], left: float, top: float) -> None:
        if not runs:
            return
        text = self.canvas.beginText()
        size, color, mode = 0.0, None, -1
        for run in runs:
            if run.em != size:
                size = run.em
                text.setFont(self.font_name, size / 25.4 * 72)
            if run.fill != color:
                color = run.fill
                rgb = tuple(c / 255 for c in color)
                text.setFillColorRGB(*rgb)
                text.setStrokeColorRGB(*rgb)
            if int(run.bold) * 2 != mode:
                mode = int(run.bold) * 2  # 2 = fill, then stroke the outline: fake bold
                text.setTextRenderMode(mode)
            text.setTextOrigin((left + run.x) * mm, (self.page_height - top - run.baseline) * mm)
            text.textOut(run.text)
        self.canvas.drawText(text)


def _module_rects(shape: QRSymbol) -> str:
    """The dark runs as PDF rectangles in module units (row 0 at the top)."""
    return "\n".join(f"{col} {row} {length} 1 re" for row, col, length in shape.matrix.dark_runs)


def _circle(cx: float, cy: float, r: float) -> str:
    k = r * _KAPPA
    return (
        f"{cx + r:.3f} {cy:.3f} m "
        f"{cx + r:.3f} {cy + k:.3f} {cx + k:.3f} {cy + r:.3f} {cx:.3f} {cy + r:.3f} c "
        f"{cx - k:.3f} {cy + r:.3f} {cx - r:.3f} {cy + k:.3f} {cx - r:.3f} {cy:.3f} c "
        f"{cx - r:.3f} {cy - k:.3f} {cx - k:.3f} {cy - r:.3f} {cx:.3f} {cy - r:.3f} c "
        f"{cx + k:.3f} {cy - r:.3f} {cx + r:.3f} {cy - k:.3f} {cx + r:.3f} {cy:.3f} c f"
    )

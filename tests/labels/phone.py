"""What a cheap phone camera does to a label photo, done with Pillow, and a real QR decoder.

The camera is assumed to frame the whole label, so every degradation is scaled to the image
width: a 200 mm label photographed whole is no sharper per module than a 100 mm one.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium
import zxingcpp
from PIL import Image, ImageChops, ImageFilter

WHITE = (255, 255, 255)


def decoded(image: Image.Image) -> list[str]:
    """Every QR code zxing-cpp finds in ``image``, as text."""
    results = zxingcpp.read_barcodes(image.convert("RGB"), formats=zxingcpp.BarcodeFormat.QRCode)
    return [result.text for result in results]


def downscale_300(image: Image.Image) -> Image.Image:
    """The whole label 300 px across: a distant shot, or a thumbnail sent over chat."""
    return image.resize((300, round(300 * image.height / image.width)), Image.Resampling.BILINEAR)


def rotate_15(image: Image.Image) -> Image.Image:
    """Held 15° off straight."""
    return image.rotate(15, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=WHITE)


def perspective(image: Image.Image) -> Image.Image:
    """Photographed from below and to the left: the label's top and right edge recede."""
    w, h = image.size
    corners = [(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))]
    seen = [(0.10 * w, 0.06 * h), (0.92 * w, 0.0), (float(w), float(h)), (0.0, 0.90 * h)]
    return image.transform(
        image.size,
        Image.Transform.PERSPECTIVE,
        _perspective_coefficients(corners, seen),
        Image.Resampling.BICUBIC,
        fillcolor=WHITE,
    )


def blur(image: Image.Image) -> Image.Image:
    """Out of focus: Gaussian blur with σ = 0.35 % of the width (0.35 mm on a 100 mm label)."""
    return image.filter(ImageFilter.GaussianBlur(radius=0.0035 * image.width))


def jpeg_30(image: Image.Image) -> Image.Image:
    """Saved as JPEG at quality 30, as messaging apps do."""
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=30)
    return Image.open(io.BytesIO(out.getvalue()))


def uneven_light(image: Image.Image) -> Image.Image:
    """A dim store room lit from one corner: brightness falls from 100 % to 30 % diagonally."""
    w, h = image.size
    ramp = Image.linear_gradient("L").resize((w, h)).rotate(45, fillcolor=0)
    light = ramp.point(lambda v: 255 - round(v * 0.7)).convert("RGB")
    return ImageChops.multiply(image.convert("RGB"), light)


def cheap_phone(image: Image.Image) -> Image.Image:
    """All of it at once, milder each: 800 px, angle, tilt, light, blur, JPEG."""
    small = image.resize((800, round(800 * image.height / image.width)), Image.Resampling.BILINEAR)
    steps = (
        uneven_light,
        perspective,
        lambda i: i.rotate(10, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=WHITE),
        lambda i: i.filter(ImageFilter.GaussianBlur(radius=0.002 * i.width)),
        jpeg_30,
    )
    for step in steps:
        small = step(small)
    return small


DEGRADATIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "as-rendered": lambda image: image,
    "300px": downscale_300,
    "rotated-15": rotate_15,
    "perspective": perspective,
    "blurred": blur,
    "jpeg-30": jpeg_30,
    "uneven-light": uneven_light,
    "cheap-phone": cheap_phone,
}


def pdf_pages(pdf: bytes, dpi: int = 300) -> list[Image.Image]:
    """Every page of ``pdf`` rasterised by PDFium."""
    document = pdfium.PdfDocument(pdf)
    try:
        return [page.render(scale=dpi / 72).to_pil().convert("RGB") for page in document]
    finally:
        document.close()


def poppler_page(pdf: bytes, dpi: int = 300) -> Image.Image:
    """The first page of ``pdf`` rasterised by poppler's pdftoppm."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "label.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                str(dpi),
                "-png",
                "-singlefile",
                str(source),
                str(source.with_suffix("")),
            ],
            capture_output=True,
            check=True,
        )
        with Image.open(source.with_suffix(".png")) as page:
            return page.convert("RGB")


def svg_raster(svg: bytes, dpi: int = 300) -> Image.Image:
    """``svg`` rasterised by librsvg (rsvg-convert), which resolves fonts via fontconfig."""
    png = subprocess.run(
        ["rsvg-convert", "--dpi-x", str(dpi), "--dpi-y", str(dpi), "--format", "png"],
        input=svg,
        capture_output=True,
        check=True,
    ).stdout
    return Image.open(io.BytesIO(png)).convert("RGB")


def _perspective_coefficients(
    source: list[tuple[float, float]], target: list[tuple[float, float]]
) -> tuple[float, ...]:
    """Pillow PERSPECTIVE coefficients: output point ``target[i]`` shows input ``source[i]``."""
    rows: list[list[float]] = []
    rhs: list[float] = []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.append(v)
    return tuple(_solve(rows, rhs))


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (8×8: no numpy needed)."""
    n = len(rhs)
    a = [row[:] + [value] for row, value in zip(matrix, rhs, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(n):
            if r != col:
                factor = a[r][col] / a[col][col]
                a[r] = [x - factor * y for x, y in zip(a[r], a[col], strict=True)]
    return [a[i][n] / a[i][i] for i in range(n)]

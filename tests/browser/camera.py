"""A fake camera for Chromium: a still picture (a rendered label) as a YUV4MPEG2 video file.

Chromium started with ``--use-fake-device-for-media-stream
--use-file-for-fake-video-capture=<file>.y4m`` answers ``getUserMedia({video: true})`` with a
camera that plays that file in a loop, at the file's own resolution. So a page's scanning code
sees the label as a phone held square-on to it would, through the real capture pipeline.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

#: A mid grey, as a workshop wall or a drum behind the label might be.
BACKGROUND = (128, 128, 128)


def frame(picture: Image.Image, size: tuple[int, int] = (640, 480), *, fill: float = 0.9,
          background: tuple[int, int, int] = BACKGROUND) -> Image.Image:
    """``picture`` scaled to ``fill`` of the frame's shorter side, centred on ``background``."""
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"4:2:0 needs even dimensions, got {width}x{height}")
    picture = picture.convert("RGB")
    scale = fill * min(width / picture.width, height / picture.height)
    scaled = picture.resize((max(1, round(picture.width * scale)),
                             max(1, round(picture.height * scale))), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", size, background)
    canvas.paste(scaled, ((width - scaled.width) // 2, (height - scaled.height) // 2))
    return canvas


def y4m_bytes(picture: Image.Image, *, frames: int = 3, fps: int = 10) -> bytes:
    """``picture`` (even width and height) as ``frames`` identical 4:2:0 frames of a .y4m file.

    Pillow's YCbCr is JPEG's (BT.601, full range), hence ``C420jpeg``; chroma is averaged over
    each 2x2 block, as the 420jpeg siting expects.
    """
    width, height = picture.size
    if width % 2 or height % 2:
        raise ValueError(f"4:2:0 needs even dimensions, got {width}x{height}")
    y, cb, cr = picture.convert("RGB").convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = (y.tobytes()
              + cb.resize(half, Image.Resampling.BOX).tobytes()
              + cr.resize(half, Image.Resampling.BOX).tobytes())
    out = io.BytesIO()
    out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
    for _ in range(frames):
        out.write(b"FRAME\n")
        out.write(planes)
    return out.getvalue()


def png_to_y4m(png: bytes | Path, out: Path, *, size: tuple[int, int] = (640, 480),
               fill: float = 0.9, frames: int = 3) -> Path:
    """Write a .y4m of the PNG (bytes or a file) centred on a grey frame of ``size``; return
    ``out``. ``fill`` is how much of the frame's shorter side the picture takes."""
    data = png.read_bytes() if isinstance(png, Path) else png
    with Image.open(io.BytesIO(data)) as picture:
        out.write_bytes(y4m_bytes(frame(picture, size, fill=fill), frames=frames))
    return out

"""Finding one CJK font that draws every character of a label in PNG, SVG and PDF alike.

A label printed with tofu boxes (□□□□) is worse than no label: it looks valid and says
nothing. So the font is looked up once, checked for Chinese glyphs and for TrueType outlines
(reportlab cannot embed CFF/PostScript outlines, which rules out Noto CJK's .ttc), and every
character of every label is checked against its character map before drawing. When no usable
font exists the renderer stops with :class:`CJKFontMissing` instead of printing boxes.

Look-up order: the ``font`` argument, then ``$WASTE_LEDGER_CJK_FONT`` (a file, ``file#index``
for a collection, or a directory to search), then well-known paths, then
``fc-list :lang=zh``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

from PIL import ImageFont
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont, TTFontFile

from ledger.errors import ConfigurationError, InvalidInput

ENV_VAR: Final = "WASTE_LEDGER_CJK_FONT"

WELL_KNOWN_FONTS: Final = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian/Ubuntu fonts-wqy-microhei
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",  # Fedora
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",  # Arch
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian fonts-wqy-zenhei
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # Debian fonts-arphic-uming
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)

#: Characters every label prints; a font lacking any of them is not a CJK font for us.
PROBE: Final = (
    "危险废物一般工业固体名称类别代码形态特性主要成分有害注意事项"
    "数字识别码产生收集单位联系人方式日期重量备注毒腐蚀易燃反应感染：…"
)

#: Full-frame ideographs whose ink height defines the height of Chinese text (字高).
CJK_REFERENCE: Final = "国"
#: Capitals and digits must reach the minimum text height too: they carry codes and phones.
LATIN_REFERENCE: Final = "HET0123456789"

_FONT_SUFFIXES: Final = (".ttf", ".ttc", ".otf", ".otc")
_MEASURE_PX: Final = 4096
_HEIGHT_MARGIN: Final = 0.99

INSTALL_HINT: Final = (
    "install a TrueType CJK font: `apt-get install fonts-wqy-microhei` on Debian/Ubuntu "
    "(fonts-noto-cjk alone is not enough: its CFF outlines cannot be embedded in PDF by "
    f"reportlab), or point {ENV_VAR} at a .ttf/.ttc file (file.ttc#N picks a face)"
)


class CJKFontMissing(ConfigurationError):
    """No font that can print Chinese was found, so no label can be rendered."""

    code = "cjk_font_missing"


class UnprintableText(InvalidInput):
    """A label field holds a character the CJK font cannot draw (it would print as a box)."""

    code = "unprintable_text"


class _Unusable(Exception):
    """Why one candidate font was rejected (collected into the final error message)."""


@dataclass(frozen=True, eq=False)
class CJKFont:
    """A checked font face plus the metrics layout needs, shared by all three renderers."""

    path: str
    index: int
    family: str
    advances: dict[int, float]  # code point -> advance in em
    cjk_height: float  # ink height of full-frame ideographs, in em
    latin_height: float  # smallest ink height of capitals and digits, in em

    def advance(self, char: str) -> float:
        """Advance width of ``char`` in em (0 for characters the font lacks)."""
        return self.advances.get(ord(char), 0.0)

    def missing(self, text: str) -> list[str]:
        """Characters of ``text`` this font cannot draw (space is always drawable)."""
        return sorted({c for c in text if c != " " and ord(c) not in self.advances})

    def pil(self, size_px: float) -> ImageFont.FreeTypeFont:
        """A Pillow font at ``size_px`` pixels per em, cached because loading a TTC is slow."""
        return _pil_font(self.path, self.index, round(size_px, 2))

    @property
    def pdf_name(self) -> str:
        """The reportlab font name, registering the face (with its subfont index) on first use."""
        return _register_pdf_font(self.path, self.index)


def find_cjk_font(override: str | os.PathLike[str] | None = None) -> CJKFont:
    """The CJK font to draw labels with; raises :class:`CJKFontMissing` if there is none.

    An explicit override (argument or environment) is never silently replaced by another
    font: if it does not work, that is reported.
    """
    spec = os.fspath(override) if override is not None else os.environ.get(ENV_VAR) or None
    return _resolve(spec)


def check_printable(font: CJKFont, field: str, text: str) -> None:
    """Refuse text containing characters that would come out as tofu boxes."""
    missing = font.missing(text)
    if missing:
        raise UnprintableText(
            f"the label font {Path(font.path).name} cannot print {''.join(missing)!r}",
            field=field,
        )


@lru_cache(maxsize=16)
def _resolve(spec: str | None) -> CJKFont:
    candidates = _override_candidates(spec) if spec else _system_candidates()
    reasons: list[str] = []
    for path, index in candidates:
        try:
            return _load(path, index)
        except _Unusable as why:
            reasons.append(f"{path}#{index}: {why}")
    where = f"{ENV_VAR}/override {spec!r}" if spec else "well-known paths and fc-list"
    tried = "; ".join(reasons) if reasons else "no font files found"
    raise CJKFontMissing(
        f"no usable CJK font for labels in {where} ({tried}); {INSTALL_HINT}",
        field="font",
    )


def _override_candidates(spec: str) -> list[tuple[str, int]]:
    path, _, index = spec.partition("#")
    if Path(path).is_dir():
        files = sorted(p for p in Path(path).rglob("*") if p.suffix.lower() in _FONT_SUFFIXES)
        return [(str(p), 0) for p in files]
    return [(path, int(index) if index.isdigit() else 0)]


def _system_candidates() -> list[tuple[str, int]]:
    seen: dict[tuple[str, int], None] = {}
    for path in WELL_KNOWN_FONTS:
        if Path(path).is_file():
            seen[(path, 0)] = None
    for found in _fc_list_chinese():
        seen[found] = None
    return list(seen)


def _fc_list_chinese() -> list[tuple[str, int]]:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        out = subprocess.run(
            [fc_list, "-f", "%{file}#%{index}\n", ":lang=zh"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in sorted(out.splitlines()):
        path, _, index = line.strip().rpartition("#")
        if path:
            found.append((path, int(index) if index.isdigit() else 0))
    return found


def _load(path: str, index: int) -> CJKFont:
    if not Path(path).is_file():
        raise _Unusable("no such file")
    try:
        face = TTFontFile(path, subfontIndex=index)
    except TTFError as why:
        raise _Unusable(str(why).replace(path, "").strip(' :"')) from None
    except Exception as why:  # a corrupt or non-font file: report it, try the next one
        raise _Unusable(f"not a readable font ({type(why).__name__})") from None
    advances = {code: width / 1000 for code, width in face.charWidths.items()}
    lacking = [c for c in PROBE if ord(c) not in advances]
    if lacking:
        raise _Unusable(f"has no Chinese glyphs (lacks {''.join(lacking[:6])})")
    reference = _pil_font(path, index, float(_MEASURE_PX))
    family = face.familyName
    return CJKFont(
        path=path,
        index=index,
        family=family.decode("utf-8", "replace") if isinstance(family, bytes) else str(family),
        advances=advances,
        cjk_height=_ink_height(reference, CJK_REFERENCE),
        latin_height=_ink_height(reference, LATIN_REFERENCE),
    )


def _ink_height(font: ImageFont.FreeTypeFont, chars: str) -> float:
    """Smallest ink height among ``chars`` in em, less a 1 % safety margin.

    Measured on the outlines at 4096 px; the margin absorbs the few font units by which
    renderers and PDF text extraction round glyph boxes differently, so printed text never
    comes out a hair under the minimum height.
    """
    heights = []
    for char in chars:
        _, top, _, bottom = font.getbbox(char, anchor="ls")
        heights.append((bottom - top) / _MEASURE_PX)
    return min(heights) * _HEIGHT_MARGIN


@lru_cache(maxsize=256)
def _pil_font(path: str, index: int, size_px: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size_px, index=index)


@lru_cache(maxsize=8)
def _register_pdf_font(path: str, index: int) -> str:
    name = f"LabelCJK-{zlib.crc32(f'{path}#{index}'.encode()):08x}"
    pdfmetrics.registerFont(TTFont(name, path, subfontIndex=index))
    return name

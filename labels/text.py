"""Measuring and breaking mixed Chinese/Latin text into lines that fit a width.

Chinese text is measured by the height of its characters (字高), Latin capitals and digits by
their cap height. In most CJK fonts a digit is only ~80 % as tall as an ideograph at the same
font size, so a label whose 数字识别码 and phone number must be as legible as its Chinese uses
two em sizes: one for ideographs and one, larger, for everything below U+2E80 (Latin, digits,
punctuation). Both are derived from the one *text height* the layout chooses.

Lines break between any two ideographs and at spaces, never inside a Latin word unless the
word alone is wider than the line, never before closing punctuation (，。、）…) nor after
opening punctuation (（【「).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from labels.fonts import CJKFont

ELLIPSIS: Final = "…"
_NO_LINE_START: Final = set("，。、；：？！）】」』》〉,.;:?!)]}%…—·")
_NO_LINE_END: Final = set("（【「『《〈([{")
#: Code points from here on are drawn at the ideograph em size.
_CJK_START: Final = 0x2E80


def is_cjk(char: str) -> bool:
    """True for characters drawn at the ideograph em size (CJK blocks and full-width forms)."""
    return ord(char) >= _CJK_START


@dataclass(frozen=True)
class TextStyle:
    """One text height turned into the two em sizes that give it, for one font."""

    font: CJKFont
    height: float  # mm: ink height of ideographs and of capitals/digits alike

    @property
    def cjk_em(self) -> float:
        """Em size (mm) at which ideographs are ``height`` tall."""
        return self.height / self.font.cjk_height

    @property
    def latin_em(self) -> float:
        """Em size (mm) at which capitals and digits are ``height`` tall."""
        return self.height / self.font.latin_height

    def char_width(self, char: str) -> float:
        """Advance of one character in mm."""
        em = self.cjk_em if is_cjk(char) else self.latin_em
        return self.font.advance(char) * em

    def width(self, text: str) -> float:
        """Advance of ``text`` in mm (the fonts used have no kerning to account for)."""
        cjk, latin = _advances(self.font, text)
        return cjk * self.cjk_em + latin * self.latin_em


@lru_cache(maxsize=1 << 13)
def _advances(font: CJKFont, text: str) -> tuple[float, float]:
    """Summed advances (em) of the ideographs and of the rest of ``text``.

    Cached because layout measures the same titles, words and characters over and over while
    it searches for the text height; the sums do not depend on that height.
    """
    cjk, latin = 0.0, 0.0
    advance = font.advances.get
    for char in text:
        if ord(char) >= _CJK_START:
            cjk += advance(ord(char), 0.0)
        else:
            latin += advance(ord(char), 0.0)
    return cjk, latin


def script_runs(text: str) -> Iterator[tuple[str, bool]]:
    """Split ``text`` into maximal runs of (text, is_cjk), each drawn at one em size."""
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or is_cjk(text[i]) != is_cjk(text[start]):
            yield text[start:i], is_cjk(text[start])
            start = i


def atoms(text: str) -> list[str]:
    """Unbreakable pieces of ``text`` (a fresh list: :func:`take_line` may split pieces)."""
    return list(_atoms(text))


@lru_cache(maxsize=4096)
def _atoms(text: str) -> tuple[str, ...]:
    """Unbreakable pieces of ``text``: single ideographs, Latin words, and single spaces.

    Closing punctuation is glued to the piece before it and opening punctuation to the piece
    after it, so neither can end up alone at the wrong end of a line.
    """
    pieces: list[str] = []
    word = ""
    for char in text:
        if char == " " or is_cjk(char):
            if word:
                pieces.append(word)
                word = ""
            pieces.append(char)
        else:
            word += char
    if word:
        pieces.append(word)
    return tuple(_glue_punctuation(pieces))


def _glue_punctuation(pieces: list[str]) -> list[str]:
    glued: list[str] = []
    for piece in pieces:
        if glued and piece[0] in _NO_LINE_START and glued[-1] != " ":
            glued[-1] += piece
        elif glued and glued[-1][-1] in _NO_LINE_END and piece != " ":
            glued[-1] += piece
        else:
            glued.append(piece)
    return glued


def take_line(style: TextStyle, pieces: list[str], start: int, width: float) -> tuple[str, int]:
    """The longest line from ``pieces[start:]`` that fits ``width``, and where the next begins.

    A piece wider than a whole line is split by characters so nothing is ever dropped or
    allowed to overflow; at least one character is always taken to guarantee progress.
    """
    while start < len(pieces) and pieces[start] == " ":
        start += 1
    line, used, i = "", 0.0, start
    while i < len(pieces):
        piece = pieces[i]
        piece_width = style.width(piece)
        if used + piece_width <= width:
            line += piece
            used += piece_width
            i += 1
            continue
        if not line.strip():
            head = fit_prefix(style, piece, width - used)
            pieces[i] = piece[len(head) :]
            return line + head, i
        break
    return line.rstrip(), i


def fit_prefix(style: TextStyle, text: str, width: float) -> str:
    """The longest prefix of ``text`` no wider than ``width`` (at least one character)."""
    used = 0.0
    for i, char in enumerate(text):
        used += style.char_width(char)
        if used > width:
            return text[: max(i, 1)]
    return text

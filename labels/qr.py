"""QR matrices for label URLs: the smallest symbol that still survives a dirty drum.

Two choices matter for a phone in a dim store room, both made here:

* **Mixed-mode segments.** The URL's 37-character code is uppercase letters and digits, which
  QR's alphanumeric mode packs in 5.5 bits a character instead of 8. Encoding the base URL in
  byte mode and the code in alphanumeric mode keeps a typical URL in version 4 (33×33
  modules) instead of 5 (37×37): on a fixed-size label that is 12 % bigger modules.
* **Error correction M, boosted.** Level M (15 % recoverable) is the floor; if the data also
  fits the same version at Q or H, the higher level is taken for free (segno's
  ``boost_error``), because a bigger symbol would shrink the modules while a higher level in
  the same symbol costs nothing.

segno builds the symbol. Choosing the data mask (ISO/IEC 18004 7.8.3: eight candidates, each
scored for runs, blocks, finder-like patterns and balance) is most of segno's time, in pure
Python per module, and a 1,000-label sheet must render in seconds. So :func:`qr_matrix` asks
segno for the mask-0 symbol and re-scores the eight masks here a whole row at a time (bit
operations, regular expressions). The scoring is segno's, rule for rule: the tests check the
result is identical to plain ``segno.make`` (:func:`qr_matrix_segno`). The bench compares
both with the ``qrcode`` package (docs/labels.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Final, cast

import segno
from segno import consts
from segno import encoder as segno_encoder

#: Characters QR alphanumeric mode can carry (ISO/IEC 18004 table 5).
_ALNUM_RUN: Final = re.compile(r"[0-9A-Z $%*+\-./:]+")
#: Below this length an alphanumeric segment costs more in headers than it saves.
_MIN_ALNUM_RUN: Final = 11
MIN_ERROR_LEVEL: Final = "M"
#: Light modules around the symbol (ISO/IEC 18004 asks for 4).
QUIET_ZONE: Final = 4

_TO_DIGITS: Final = bytes.maketrans(b"\x00\x01", b"01")
_FROM_DIGITS: Final = bytes.maketrans(b"01", b"\x00\x01")
_FINDER_LIKE: Final = "1011101"


@dataclass(frozen=True)
class QRMatrix:
    """A QR symbol as rows of modules (1 = dark), without its quiet zone."""

    rows: tuple[bytes, ...]
    version: int
    error: str

    @property
    def size(self) -> int:
        """Modules per side."""
        return len(self.rows)

    @property
    def designator(self) -> str:
        """Version and level, e.g. ``4-M``."""
        return f"{self.version}-{self.error}"

    @cached_property
    def dark_runs(self) -> tuple[tuple[int, int, int], ...]:
        """Horizontal runs of dark modules as (row, first column, length).

        Drawing runs instead of single modules cuts the PDF and SVG operators about fivefold
        and leaves no hairline seams between neighbouring modules when rasterised.
        """
        runs = []
        for y, row in enumerate(self.rows):
            for match in re.finditer(b"\x01+", row):
                runs.append((y, match.start(), match.end() - match.start()))
        return tuple(runs)


def url_segments(url: str) -> list[tuple[str, int]]:
    """Split ``url`` into byte-mode and alphanumeric-mode segments (see the module notes)."""
    segments: list[tuple[str, int]] = []
    pending = 0
    for match in _ALNUM_RUN.finditer(url):
        if match.end() - match.start() < _MIN_ALNUM_RUN:
            continue
        if match.start() > pending:
            segments.append((url[pending : match.start()], consts.MODE_BYTE))
        segments.append((match.group(), consts.MODE_ALPHANUMERIC))
        pending = match.end()
    if pending < len(url):
        segments.append((url[pending:], consts.MODE_BYTE))
    return segments


def qr_matrix(url: str) -> QRMatrix:
    """The QR matrix encoding exactly ``url``: identical to :func:`qr_matrix_segno`, faster."""
    code = _segno_symbol(url, mask=0)
    version, error = int(code.version), str(code.error)
    plan = _plan(version)
    symbol = plan.pack(bytes(row).translate(_TO_DIGITS).decode() for row in code.matrix)
    # Undo mask 0 on the data region and blank the areas segno blanks while scoring.
    rows = (symbol & ~plan.reserved) ^ plan.mask_rows[0]
    columns = plan.pack(plan.columns(rows))
    scores = [
        _penalty(rows ^ mask_rows, columns ^ mask_columns, plan)
        for mask_rows, mask_columns in zip(plan.mask_rows, plan.mask_columns, strict=True)
    ]
    best = scores.index(min(scores))
    final = rows ^ plan.mask_rows[best] | _fixed_bits(version, consts.ERROR_MAPPING[error], best)
    return QRMatrix(
        rows=tuple(line.encode().translate(_FROM_DIGITS) for line in plan.unpack(final)),
        version=version,
        error=error,
    )


def qr_matrix_segno(url: str) -> QRMatrix:
    """The same symbol from plain ``segno.make``: the reference for tests and the bench."""
    code = _segno_symbol(url, mask=None)
    return QRMatrix(
        rows=tuple(bytes(row) for row in code.matrix),
        version=int(code.version),
        error=str(code.error),
    )


def _segno_symbol(url: str, mask: int | None) -> segno.QRCode:
    """segno's symbol for ``url`` split into segments.

    segno takes a list of (text, mode) segments as content; its type hints do not say so,
    but its maintainer documents the use in heuer/segno#76, hence the cast.
    """
    content = cast(str, url_segments(url))
    return segno.make(content, error=MIN_ERROR_LEVEL, boost_error=True, micro=False, mask=mask)


def qr_matrix_qrcode(url: str, version: int | None = None, error: str = "M") -> QRMatrix:
    """The symbol built with the ``qrcode`` package, for the bench's comparison only."""
    import qrcode
    from qrcode import constants

    levels = {
        "L": constants.ERROR_CORRECT_L,
        "M": constants.ERROR_CORRECT_M,
        "Q": constants.ERROR_CORRECT_Q,
        "H": constants.ERROR_CORRECT_H,
    }
    builder = qrcode.QRCode(version=version, error_correction=levels[error], border=0)
    builder.add_data(url, optimize=_MIN_ALNUM_RUN)
    builder.make(fit=version is None)
    rows = tuple(bytes(1 if module else 0 for module in row) for row in builder.modules)
    return QRMatrix(rows=rows, version=int(builder.version), error=error)


#: Light modules packed between lines, so runs and patterns never cross from one line to the
#: next and the four-module look-around of rule N3 sees light beyond a line's ends.
_GAP: Final = 4


@dataclass(frozen=True)
class _MaskPlan:
    """One version's bit masks, with all lines of a symbol packed into one integer.

    Line ``i`` (a row, or a column) sits at the bits for string position ``i * stride`` of
    ``"0000".join(lines)``, module 0 of a line being its most significant bit. A penalty rule
    then costs a handful of big-integer operations for the whole symbol, not one Python loop
    iteration per module.
    """

    size: int
    mask_rows: tuple[int, ...]  # each data mask, over the data region only, packed by rows
    mask_columns: tuple[int, ...]  # the same, packed by columns
    reserved: int  # format and version information, dark module (blank while scoring)
    pairs: int  # bit p set if p and p + 1 are neighbours on one line
    starts: int  # bit p set if a 7-module pattern can start at p on its line
    ends: int  # ... and does so touching either end of its line
    not_last: int  # every line but the last
    line_bits: tuple[int, ...]  # all bits of line i

    @property
    def stride(self) -> int:
        """Bits from one line to the next."""
        return self.size + _GAP

    @property
    def length(self) -> int:
        """Bits in a packed symbol."""
        return self.size * self.stride - _GAP

    def pack(self, lines: Iterable[str]) -> int:
        """Lines of "0"/"1" characters as one integer (see the class notes)."""
        return int(("0" * _GAP).join(lines), 2)

    def unpack(self, packed: int) -> list[str]:
        """The inverse of :meth:`pack`."""
        text = format(packed, f"0{self.length}b")
        return [text[i : i + self.size] for i in range(0, self.length, self.stride)]

    def columns(self, packed_rows: int) -> list[str]:
        """The symbol's columns as lines, from its rows."""
        return ["".join(column) for column in zip(*self.unpack(packed_rows), strict=True)]

    def line_mask(self, selected: Callable[[int, int], bool]) -> int:
        """A packed mask with the bit for (line, module) set where ``selected`` says so."""
        return self.pack(
            "".join("1" if selected(i, j) else "0" for j in range(self.size))
            for i in range(self.size)
        )


@lru_cache(maxsize=40)
def _plan(version: int) -> _MaskPlan:
    """Built once per version from segno's own function-pattern map."""
    size = segno_encoder.calc_matrix_size(version)
    function = segno_encoder.make_matrix(size, size)
    segno_encoder.add_finder_patterns(function, size, size)
    segno_encoder.add_alignment_patterns(function, size, size)
    function[-8][8] = 0x1
    blank = segno_encoder.make_matrix(size, size, reserve_regions=True, add_timing=False)
    mask_functions = segno_encoder.get_data_mask_functions(False)
    empty = _MaskPlan(size, (), (), 0, 0, 0, 0, 0, ())

    def data_mask(mask: Callable[[int, int], bool], transposed: bool) -> int:
        if transposed:
            return empty.line_mask(lambda i, j: function[j][i] > 0x1 and bool(mask(j, i)))
        return empty.line_mask(lambda i, j: function[i][j] > 0x1 and bool(mask(i, j)))

    return _MaskPlan(
        size=size,
        mask_rows=tuple(data_mask(mask, False) for mask in mask_functions),
        mask_columns=tuple(data_mask(mask, True) for mask in mask_functions),
        # Row and column 6 are timing pattern, even where the format areas cross them.
        reserved=empty.line_mask(lambda i, j: blank[i][j] == 0x0 and 6 not in (i, j)),
        pairs=empty.line_mask(lambda i, j: j < size - 1),
        starts=empty.line_mask(lambda i, j: j <= size - 7),
        ends=empty.line_mask(lambda i, j: j in (0, size - 7)),
        not_last=empty.line_mask(lambda i, j: i < size - 1),
        line_bits=tuple(empty.line_mask(_on_line(k)) for k in range(size)),
    )


def _on_line(line: int) -> Callable[[int, int], bool]:
    """A selector of every module on one line, for :meth:`_MaskPlan.line_mask`."""

    def selected(i: int, j: int) -> bool:
        return i == line

    return selected


@lru_cache(maxsize=320)
def _fixed_bits(version: int, error: int, mask: int) -> int:
    """Format information (which names the mask), dark module and version information."""
    size = segno_encoder.calc_matrix_size(version)
    matrix = tuple(bytearray(size) for _ in range(size))
    segno_encoder.add_format_info(matrix, version, error, mask)
    segno_encoder.add_version_info(matrix, version)
    return _plan(version).pack(bytes(row).translate(_TO_DIGITS).decode() for row in matrix)


def _penalty(rows: int, columns: int, plan: _MaskPlan) -> int:
    """ISO/IEC 18004 7.8.3.1 penalty (N1 + N2 + N3 + N4), exactly as segno computes it."""
    n1 = _runs_penalty(rows, plan) + _runs_penalty(columns, plan)
    # Shifting left by one brings the next module on the line to a bit, by a stride the one
    # on the next line (module 0 of a line is its most significant bit).
    below = ~(rows ^ (rows << plan.stride)) & plan.not_last
    right = ~(rows ^ (rows << 1)) & plan.pairs
    n2 = 3 * (below & (below << 1) & right).bit_count()
    n3 = _finder_like(rows, plan) + _finder_like(columns, plan)
    percent = float(rows.bit_count()) / (plan.size**2)
    n4 = 10 * int(abs(percent * 100 - 50) / 5)
    return n1 + n2 + n3 + n4


def _runs_penalty(lines: int, plan: _MaskPlan) -> int:
    """N1: a run of L ≥ 5 same-coloured modules on a line costs L - 2."""
    equal = ~(lines ^ (lines << 1)) & plan.pairs  # module j agrees with module j + 1
    four = equal & (equal << 1) & (equal << 2) & (equal << 3)  # L - 4 bits per run
    runs = four & ~(four << 1)  # one bit per run
    return four.bit_count() + 2 * runs.bit_count()


def _finder_like(lines: int, plan: _MaskPlan) -> int:
    """N3: 1:1:3:1:1 patterns with four light modules before or after, 40 points each.

    Like segno, a pattern touching a line's end counts (beyond it is quiet zone). Where two
    patterns overlap (…10111011101…), segno's left-to-right scan skips some, so such lines
    (about one per symbol) are counted by :func:`_finder_like_scan`, which mirrors it.
    """
    a = lines
    found = a & ~(a << 1) & (a << 2) & (a << 3) & (a << 4) & ~(a << 5) & (a << 6) & plan.starts
    scanned = 0
    overlapping = found & ((found >> 4) | (found >> 6))
    if overlapping:
        text = plan.unpack(a)
    while overlapping:
        line = (plan.length - overlapping.bit_length()) // plan.stride
        found &= ~plan.line_bits[line]
        overlapping &= ~plan.line_bits[line]
        scanned += _finder_like_scan(text[line], plan.size)
    before = (a >> 1) | (a >> 2) | (a >> 3) | (a >> 4)  # modules j-4 .. j-1 (gap: light)
    after = (a << 7) | (a << 8) | (a << 9) | (a << 10)  # modules j+7 .. j+10
    return scanned + 40 * (found & (plan.ends | ~before | ~after)).bit_count()


def _finder_like_scan(line: str, size: int) -> int:
    """N3 on one line exactly as segno scans it, resuming inside a pattern that did not count."""
    count = 0
    idx = line.find(_FINDER_LIKE)
    while idx != -1:
        after = idx + 7
        if (
            idx in (0, size - 7)
            or "1" not in line[max(idx - 4, 0) : idx]
            or "1" not in line[after : after + 4]
        ):
            count += 40
        else:
            after = idx + 4
        idx = line.find(_FINDER_LIKE, after)
    return count

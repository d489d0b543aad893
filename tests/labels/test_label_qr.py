"""QR matrices: the fast mask selection is segno's, bit for bit; the symbol stays small."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from segno import consts

from labels.qr import QUIET_ZONE, qr_matrix, qr_matrix_qrcode, qr_matrix_segno, url_segments
from tests.labels.conftest import make_label
from tests.labels.phone import decoded

CODE_CHARS = string.digits + string.ascii_uppercase
codes = st.text(alphabet=CODE_CHARS, min_size=37, max_size=37)
bases = st.sampled_from(
    [
        "http://localhost:5000",
        "https://waste-ledger.example.cn",
        "https://waste-ledger.zjhb.gov.cn/ledger/public",
        "https://a-very-long-host-name.for-a-provincial-platform.example.gov.cn/x/y/z",
    ]
)


def matrix_image(rows: tuple[bytes, ...], module: int = 8) -> Image.Image:
    """A plain black-on-white picture of a matrix with its quiet zone."""
    side = (len(rows) + 2 * QUIET_ZONE) * module
    image = Image.new("L", (side, side), 255)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                left, top = (x + QUIET_ZONE) * module, (y + QUIET_ZONE) * module
                image.paste(0, (left, top, left + module, top + module))
    return image


@settings(max_examples=150, deadline=None)
@given(base=bases, code=codes)
def test_fast_mask_choice_is_identical_to_segno(base: str, code: str) -> None:
    url = f"{base}/t/{code}"
    assert qr_matrix(url) == qr_matrix_segno(url)


@settings(max_examples=60, deadline=None)
@given(text=st.text(min_size=1, max_size=300))
def test_fast_mask_choice_matches_segno_for_any_text(text: str) -> None:
    assert qr_matrix(text) == qr_matrix_segno(text)


def test_the_code_goes_in_alphanumeric_mode() -> None:
    url = make_label().qr_url
    segments = url_segments(url)
    assert "".join(text for text, _ in segments) == url
    code_text, code_mode = segments[-1]
    assert code_text.endswith(url.rsplit("/", 1)[1]) and code_mode == consts.MODE_ALPHANUMERIC
    assert segments[0][1] == consts.MODE_BYTE


def test_short_alphanumeric_runs_stay_in_byte_mode() -> None:
    assert url_segments("https://x.cn/t/ABC123") == [("https://x.cn/t/ABC123", consts.MODE_BYTE)]


def test_typical_label_url_fits_version_4_at_level_m() -> None:
    matrix = qr_matrix(make_label().qr_url)
    assert matrix.designator == "4-M"
    assert matrix.size == 33


def test_mixed_segments_make_a_smaller_symbol_than_plain_bytes() -> None:
    import segno

    url = make_label().qr_url
    plain = segno.make(url, error="M", boost_error=True, micro=False)
    assert qr_matrix(url).version < plain.version


def test_error_level_is_boosted_when_it_costs_no_modules() -> None:
    import segno

    url = "https://x.cn/t/abcd"
    unboosted = segno.make(url, error="M", boost_error=False, micro=False)
    matrix = qr_matrix(url)
    assert unboosted.error == "M"
    assert matrix.version == unboosted.version and matrix.error in ("Q", "H")


def test_qrcode_package_builds_the_same_size_symbol() -> None:
    url = make_label().qr_url
    ours = qr_matrix(url)
    theirs = qr_matrix_qrcode(url)
    assert (theirs.version, theirs.size) == (ours.version, ours.size)
    assert decoded(matrix_image(theirs.rows)) == [url]


def test_matrix_decodes_and_runs_cover_exactly_the_dark_modules() -> None:
    url = make_label().qr_url
    matrix = qr_matrix(url)
    assert decoded(matrix_image(matrix.rows)) == [url]
    painted = {(row, col + i) for row, col, length in matrix.dark_runs for i in range(length)}
    dark = {(y, x) for y, row in enumerate(matrix.rows) for x, value in enumerate(row) if value}
    assert painted == dark

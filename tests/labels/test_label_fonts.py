"""CJK font discovery: a usable font or a clear error, never boxes instead of Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest

from labels import CJKFontMissing, LabelSize, UnprintableText, find_cjk_font, render_png
from labels.fonts import ENV_VAR, PROBE
from ledger.errors import ConfigurationError
from tests.labels.conftest import make_label
from tests.tools import unless_ci

WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def test_a_system_font_covers_everything_a_label_prints() -> None:
    font = find_cjk_font()
    assert font.missing(PROBE) == []
    assert font.cjk_height > font.latin_height > 0.5


def test_the_error_is_a_configuration_error_that_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))  # an empty directory: no font at all
    with pytest.raises(CJKFontMissing) as error:
        render_png(make_label(), LabelSize.S100)
    assert isinstance(error.value, ConfigurationError)
    assert "fonts-wqy-microhei" in str(error.value) and "fonts-noto-cjk" in str(error.value)
    assert ENV_VAR in str(error.value)


@unless_ci(not DEJAVU.exists(), "DejaVu Sans not installed")
def test_a_font_without_chinese_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(DEJAVU))
    with pytest.raises(CJKFontMissing) as error:
        render_png(make_label(), LabelSize.S100)
    assert "has no Chinese glyphs" in str(error.value)


def test_a_file_that_is_not_a_font_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "chinese.ttf"
    fake.write_text("not a font")
    with pytest.raises(CJKFontMissing) as error:
        find_cjk_font(fake)
    assert str(fake) in str(error.value) and "TrueType" in str(error.value)


def test_a_missing_override_is_not_replaced_by_a_system_font(tmp_path: Path) -> None:
    with pytest.raises(CJKFontMissing) as error:
        find_cjk_font(tmp_path / "nowhere.ttc")
    assert "no such file" in str(error.value)


@unless_ci(not WQY.exists(), "fonts-wqy-microhei not installed")
def test_the_override_picks_a_face_of_a_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_cjk_font(f"{WQY}#1").family == "WenQuanYi Micro Hei Mono"
    monkeypatch.setenv(ENV_VAR, f"{WQY}#0")
    assert find_cjk_font().family == "WenQuanYi Micro Hei"


@unless_ci(not WQY.exists(), "fonts-wqy-microhei not installed")
def test_a_directory_override_is_searched(tmp_path: Path) -> None:
    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts" / "wqy.ttc").symlink_to(WQY)
    assert find_cjk_font(tmp_path).path.endswith("wqy.ttc")


def test_a_character_the_font_lacks_is_refused_naming_its_field() -> None:
    with pytest.raises(UnprintableText) as error:
        render_png(make_label(notes="易燃 🔥"), LabelSize.S100)
    assert error.value.field == "notes"
    assert "🔥" in str(error.value)

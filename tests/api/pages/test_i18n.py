"""The English catalogue is complete, compiled, and up to date with the sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
PO = ROOT / "api" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")


def _catalog(path: Path):
    with path.open("rb") as fh:
        return read_mo(fh) if path.suffix == ".mo" else read_po(fh)


def test_every_string_has_an_english_translation():
    missing = [m.id for m in _catalog(PO) if m.id and (not m.string or m.fuzzy)]
    assert missing == []


def test_every_string_in_the_sources_is_in_the_catalogue(tmp_path):
    """A string added to a page without `scripts/i18n.py update` would show in Chinese only."""
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    "babel.cfg", "-k", "N_", "-k", "_l", "--no-location", "-o", str(pot), "."],
                   cwd=ROOT, check=True)
    source_ids = {m.id for m in _catalog(pot) if m.id}
    catalogue_ids = {m.id for m in _catalog(PO) if m.id}
    assert sorted(map(str, source_ids - catalogue_ids)) == []


def test_the_compiled_catalogue_matches_the_source_catalogue():
    """messages.mo is committed (installs need no build step); it must not be stale."""
    po = {m.id: m.string for m in _catalog(PO) if m.id}
    mo = {m.id: m.string for m in _catalog(MO) if m.id}
    assert mo == po

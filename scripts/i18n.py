"""Extract the pages' strings and merge them into the English catalogue, or compile it.

    python scripts/i18n.py update   # after changing strings: then translate the new entries
    python scripts/i18n.py compile  # writes messages.mo (committed, so installs need no step)
    python scripts/i18n.py check    # fails listing entries without an English translation

Message ids are the Chinese texts, so Chinese needs no catalogue.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "api" / "translations"
PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"


def pybabel(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], check=True,
                   cwd=ROOT)


def untranslated() -> list[str]:
    with PO.open("rb") as fh:
        catalog = read_po(fh)
    return [str(m.id) for m in catalog if m.id and (not m.string or m.fuzzy)]


def main(command: str) -> int:
    if command == "update":
        pot = Path(tempfile.mkdtemp()) / "messages.pot"
        pybabel("extract", "-F", "babel.cfg", "-k", "N_", "-k", "_l", "--no-location",
                "--sort-output", "-o", str(pot), ".")
        if PO.exists():
            pybabel("update", "-i", str(pot), "-d", str(TRANSLATIONS), "-l", "en",
                    "--no-fuzzy-matching", "--ignore-obsolete")
        else:
            pybabel("init", "-i", str(pot), "-d", str(TRANSLATIONS), "-l", "en")
        missing = untranslated()
        print(f"{len(missing)} strings to translate in {PO.relative_to(ROOT)}")
        return 0
    if command == "compile":
        pybabel("compile", "-d", str(TRANSLATIONS), "-l", "en")
        return 0
    if command == "check":
        missing = untranslated()
        for msgid in missing:
            print(f"untranslated: {msgid}")
        return 1 if missing else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))

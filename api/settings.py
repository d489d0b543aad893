"""Configuration defaults. Each can be overridden by an environment variable with the prefix
``WASTE_LEDGER_`` (e.g. ``WASTE_LEDGER_DATABASE_URL``) or by the mapping given to create_app."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def defaults(instance_path: str) -> dict[str, Any]:
    inst = Path(instance_path)
    return {
        "DATABASE_URL": f"sqlite:///{inst / 'waste-ledger.db'}",
        "OPERATOR_KEY_FILE": str(inst / "operator.key"),
        "LOG_ORIGIN": "waste-ledger.local/log",
        # The platform operator's own organisation (USCC) and name, registered at index 0.
        "OPERATOR_ORG": "91331001MA2AXXXX0X",
        "OPERATOR_NAME": "废物台账平台运营方",
        "MAX_NOTE_BYTES": 64 * 1024,
        "MAX_SKEW_SECONDS": 300,
        "CHECKPOINT_EVERY_ENTRIES": 1000,
        "CHECKPOINT_EVERY_SECONDS": 60,
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
        "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
        "SECRET_KEY": None,
    }

"""Test helpers shared across packages."""

from __future__ import annotations

import os

import pytest


def unless_ci(missing: bool, reason: str) -> pytest.MarkDecorator:
    """Skip when a machine tool is missing on a developer's machine; on CI (CI set) run anyway,
    so a missing install step fails loudly instead of skipping."""
    return pytest.mark.skipif(missing and not os.environ.get("CI"), reason=reason)

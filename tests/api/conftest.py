"""Fixtures shared by the API, page and CLI tests: regions of organisations that talk to the
app over HTTP (``tests.api.lifecycle``), each named for what it holds."""

from __future__ import annotations

import pytest

from tests.api.lifecycle import HttpRegion, build_region


@pytest.fixture
def one_generator(app) -> HttpRegion:
    """A county with one small enterprise, a collector, a station, a disposer, a regulator."""
    return build_region(app, generators=1)


@pytest.fixture
def two_generators(app) -> HttpRegion:
    """The same with two small enterprises (one to act, one to be refused)."""
    return build_region(app, generators=2)


@pytest.fixture
def district(app) -> HttpRegion:
    """The same with twenty small enterprises: enough batches for reports and paging."""
    return build_region(app, generators=20)

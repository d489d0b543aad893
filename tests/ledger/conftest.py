"""Fixtures shared by the domain tests: organisations on a real database (SQLite and PostgreSQL)
appending through the log's own append path (``tests.ledger.custody_world``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ledger.custody_world import Region, make_region


@pytest.fixture
def parties(database) -> Iterator[Region]:
    """Three small enterprises, a collector, a station, a licensed and an unlicensed disposer,
    with keys and permits (Taizhou's 椒江区 and 黄岩区)."""
    engine = database.engine()
    r = make_region(engine)
    yield r
    r.world.session.close()
    engine.dispose()

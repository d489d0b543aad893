"""Storage-time limits (固废法 第八十一条: one year for hazardous waste unless approved; a
region may set less; an organisation may have an approved period for a code or category)
feed the stored_overdue gap, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ledger.audit.gaps import DAY, GapQuery, GapSettings, StorageLimit, find_gaps
from tests.ledger.custody_world import COLLECTOR, GENERATORS, STATION, Region, make_region

GEN = GENERATORS[0]


@pytest.fixture
def stored(database):
    engine = database.engine()
    r = make_region(engine)
    yield r
    r.world.session.close()
    engine.dispose()


def overdue(r: Region, settings: GapSettings) -> set[tuple[str, str]]:
    r.world.session.rollback()
    found = find_gaps(r.world.session, GapQuery(now_ms=r.world.clock.ms), settings)
    return {(g.batches[0], g.organisations[0]) for g in found if g.type == "stored_overdue"}


def test_the_most_specific_storage_limit_applies(stored):
    carbon = stored.declare(GEN, serial=1)  # 900-039-49, HW49
    oil = stored.declare(GEN, serial=2, waste="900-249-08")
    at_station = stored.declare(GEN, serial=3)
    stored.hand_over(carbon, GEN, COLLECTOR, 120_000)
    stored.hand_over(oil, GEN, COLLECTOR, 120_000)
    stored.hand_over(at_station, GEN, STATION, 120_000, manifest="20263310000009")
    stored.world.clock.ms += 200 * DAY
    year = GapSettings()
    assert overdue(stored, year) == set()  # the statutory year has not passed
    region = GapSettings(regions={"331002": {"stored_days": 180}})
    assert overdue(stored, region) == {(carbon, COLLECTOR), (oil, COLLECTOR),
                                       (at_station, STATION)}
    # an approved longer period for the collector's HW49, a shorter one for one code
    approved = GapSettings(regions={"331002": {"stored_days": 180}}, storage_limits=(
        StorageLimit(540, org=COLLECTOR, code="HW49"),
        StorageLimit(90, code="900-249-08"),
        StorageLimit(365, org=STATION)))
    assert overdue(stored, approved) == {(oil, COLLECTOR)}
    stored.world.clock.ms += 400 * DAY
    assert overdue(stored, approved) == {(carbon, COLLECTOR), (oil, COLLECTOR),
                                         (at_station, STATION)}


def test_storage_limits_come_from_the_app_configuration(app):
    from api.scoping import gap_settings

    app.config["STORAGE_LIMITS"] = [{"org": COLLECTOR, "code": "HW49", "days": 540}]
    assert gap_settings(app).storage_limits == (StorageLimit(540, COLLECTOR, "HW49"),)

"""rebuild recomputes every projection from index 0 and finds what differs."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger.custody.projections import Batch
from ledger.tlog.rebuild import rebuild
from tests.ledger.custody_world import (
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    STATION,
    add_generators,
    make_region,
)
from tests.ledger.factories import make_world


@pytest.fixture
def busy(database):
    engine = database.engine()
    r = make_region(engine)
    add_generators(r, GENERATORS[:5])
    codes = []
    for i, g in enumerate(GENERATORS[:5]):
        code = r.declare(g, mass_g=10_000 + i)
        r.hand_over(code, g, COLLECTOR, 10_000 + i, accepted=9_000 + i,
                    manifest=f"202633100001{i:02d}")
        codes.append((code, 9_000 + i))
    drum = r.consolidate(COLLECTOR, codes[:3], serial=1)
    r.hand_over(drum, COLLECTOR, DISPOSER, sum(m for _, m in codes[:3]),
                manifest="20263310000200")
    r.release(codes[3][0], COLLECTOR, STATION, codes[3][1], manifest="20263310000300")
    r.refuse(codes[3][0], COLLECTOR, STATION, manifest="20263310000300")
    yield r
    r.world.session.close()
    engine.dispose()


def test_rebuild_reproduces_exactly_what_the_database_holds(busy):
    s = busy.world.session
    report = rebuild(s, busy.world.config, commit=False)
    assert report.entries > 40
    assert report.identical, report.differences


def test_rebuild_finds_a_tampered_projection_and_repairs_it(busy):
    s = busy.world.session
    code = GENERATORS[4] + "90003949" + "20260921" + "001"
    s.execute(text("UPDATE batches SET mass_g = 1, holder = 'X' WHERE code = :c"), {"c": code})
    s.commit()
    report = rebuild(s, busy.world.config, commit=False)
    assert set(report.differences) == {"batches"}
    assert s.get(Batch, code).mass_g == 1  # a check changes nothing
    report = rebuild(s, busy.world.config, commit=True)
    s.rollback()
    assert s.get(Batch, code).mass_g == 9_004 and s.get(Batch, code).holder == COLLECTOR
    assert rebuild(s, busy.world.config, commit=False).identical


def test_a_key_is_usable_by_the_entry_right_after_its_registration(database):
    """The smallest ordinary log: genesis, org.registered, key.registered, and an entry signed
    by that key at the very next index. The replay must see the key as the append did."""
    engine = database.engine()
    world = make_world(engine)
    org = GENERATORS[0]
    world.register_org(org)
    key = world.register_key(org, "dev-phone")
    world.act(key, org, "test:1")
    revoked_by_itself = world.register_key(org, "old-phone")
    world.revoke_key(org, revoked_by_itself, by=key, by_org=org)
    s = world.session
    report = rebuild(s, world.config, commit=False)
    assert report.entries == 6
    assert report.identical, report.differences
    report = rebuild(s, world.config, commit=True)
    assert report.identical, report.differences
    s.close()
    engine.dispose()

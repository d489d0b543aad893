"""``lineage_imbalance`` from the lineage totals (``ledger.audit.lineage``) finds exactly what
the scan that summed every lineage row found (tests/ledger/gap_reference.py), on SQLite and
PostgreSQL: balanced drums, drums exactly at and one gram past the tolerance (above and below
what the parents gave), a drum poured from a drum, a parent poured in two parts, refused parts
taken back, a hand-off into a batch never declared, a withdrawn batch, in two regions, scanned
under several tolerances (per region, zero, negative). The totals kept entry by entry equal a
fresh computation, ``rebuild --check`` compares them, and revision 0019 fills them for a
database that had lineage before it."""

from __future__ import annotations

import itertools

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text

from ledger import migrations
from ledger.audit.gaps import DAY, GapQuery, GapSettings, Thresholds, find_gaps
from ledger.audit.lineage import lineage_total_differences, rebuild_lineage_totals
from ledger.audit.models import LineageTotal
from ledger.custody.kinds import CustodySettings
from ledger.tlog.entries import prev_field
from ledger.tlog.rebuild import rebuild
from tests.ledger.custody_world import (
    DISPOSER,
    GENERATORS,
    STATION,
    Region,
    batch_code,
    make_region,
)
from tests.ledger.gap_reference import reference_gaps

G0, G1, G2 = GENERATORS[:3]
KIND = "lineage_imbalance"
SETTINGS = (
    GapSettings(),  # 50 ‰ everywhere
    GapSettings(default=Thresholds(tolerance_permille=49)),  # the drums at 50 ‰ flagged
    GapSettings(regions={"331002": {"tolerance_permille": 0},  # any gram off, in 椒江
                         "331003": {"tolerance_permille": 200}}),
    GapSettings(default=Thresholds(tolerance_permille=-1)),  # even a balanced drum
    GapSettings(regions={"331003": {"tolerance_permille": -5}}),  # negative in one county
    GapSettings(regions={"330000": {"tolerance_permille": 1000}}),  # a province override
)
REGIONS = (None, "331000", "331002", "331003", "110000")


@pytest.fixture
def drums(database):
    engine = database.engine()
    # the ledger itself refuses a drum more than 20 % off its parents
    r = make_region(engine, CustodySettings(tolerance_permille=200))
    yield r
    r.world.session.close()
    engine.dispose()


def pour(r: Region, holder: str, parents: list[tuple[str, int]], serial: int,
         declared: int) -> str:
    return r.consolidate(holder, parents, serial=serial, mass_g=declared)


def build(r: Region) -> list[int]:
    """Every case at once; returns the clocks to scan at."""
    start = r.world.clock.ms
    serials = itertools.count(1)
    at_station = []
    for gen in (G0, G1, G2):
        for _ in range(4):
            code = r.declare(gen, serial=next(serials), mass_g=100_000)
            r.hand_over(code, gen, STATION, 100_000, manifest=f"2026331{len(at_station) + 1:07d}")
            at_station.append(code)
    a, b, c, d, e, f, g, h, i, j, k, m = at_station
    balanced = pour(r, STATION, [(a, 100_000), (b, 100_000)], 1, 200_000)
    at_limit_up = pour(r, STATION, [(c, 100_000), (d, 100_000)], 2, 210_000)  # 50 ‰ exactly
    past_down = pour(r, STATION, [(e, 100_000), (f, 100_000)], 3, 189_999)  # 50.005 ‰ under
    r.world.clock.ms += 2 * DAY
    split = pour(r, STATION, [(g, 60_000)], 4, 60_000)  # g poured in two parts
    split2 = pour(r, STATION, [(g, 40_000), (h, 100_000)], 5, 139_000)  # 1/140 off
    nested = pour(r, STATION, [(balanced, 200_000), (split, 60_000)], 6, 260_001)
    orphan_into = batch_code(STATION, 99)
    r.act(STATION, i, "custody.consolidated_out", {"into": orphan_into, "mass_g": 100_000})
    # to the disposer (黄岩), and a drum there 5 % over
    for n, code in enumerate((j, k)):
        r.hand_over(code, STATION, DISPOSER, 100_000, manifest=f"2026331{90 + n:07d}")
    over_there = pour(r, DISPOSER, [(j, 100_000), (k, 100_000)], 7, 210_000)
    # refused parts taken back by the enterprises that released them
    for n, (gen, taker) in enumerate(((G0, G0), (G1, G1))):
        code = r.declare(gen, serial=next(serials), mass_g=120_000)
        manifest = f"2026331{80 + n:07d}"
        r.release(code, gen, DISPOSER, 120_000, manifest=manifest)
        got = r.refuse(code, gen, DISPOSER, refused_mass_g=20_000, reason="两桶渗漏",
                       manifest=manifest)
        r.act(taker, batch_code(taker, 50 + n), "batch.refused_part",
              {"parent": code, "refusal": prev_field(got.leaf_hash), "mass_g": 20_000})
    gone = r.declare(G2, serial=next(serials), mass_g=100_000)
    r.act(G2, gone, "batch.withdrawn", {"reason": "录入重复"})
    middle = r.world.clock.ms
    r.world.clock.ms += 30 * DAY
    r.hand_over(m, STATION, DISPOSER, 100_000, manifest="20263310000099")
    assert {balanced, at_limit_up, past_down, split2, nested, over_there}  # all declared
    return [start + 1, middle, r.world.clock.ms + DAY]


def test_the_totals_scan_finds_what_the_lineage_scan_found(drums):
    clocks = build(drums)
    s = drums.world.session
    s.rollback()
    assert lineage_total_differences(s) == []  # kept entry by entry = computed afresh
    kept = dict(s.execute(select(LineageTotal.child, LineageTotal.given_g)).all())
    assert len(kept) == 9  # 7 drums and 2 refused parts; the never-declared child has none
    s.rollback()
    flagged: set[str] = set()
    for now, settings, region in itertools.product(clocks, SETTINGS, REGIONS):
        query = GapQuery(now_ms=now, region=region, types=frozenset({KIND}))
        new = find_gaps(s, query, settings)
        s.rollback()
        assert new == reference_gaps(s, query, settings), (now, settings, region)
        s.rollback()
        flagged |= {g.id for g in new}
        whole = GapQuery(now_ms=now, region=region)
        if region is None:  # and within the whole scan
            assert find_gaps(s, whole, settings) == reference_gaps(s, whole, settings)
            s.rollback()
    ids = {g.id for g in find_gaps(s, GapQuery(now_ms=clocks[-1], types=frozenset({KIND})),
                                   SETTINGS[0])}
    s.rollback()
    past_down, orphan = batch_code(STATION, 3), batch_code(STATION, 99)
    # at the default 50 ‰: one gram past is found, exactly at it is not; and the orphan
    assert f"{KIND}:{past_down}" in ids and f"{KIND}:{batch_code(STATION, 2)}" not in ids
    assert {i for i in ids if i.count(":") == 1} == {f"{KIND}:{past_down}"}
    assert any(orphan not in i and i.count(":") == 2 for i in ids)
    # a negative tolerance flags the balanced drums and the refused parts too
    assert f"{KIND}:{batch_code(STATION, 1)}" in flagged
    assert f"{KIND}:{batch_code(G0, 50)}" in flagged
    assert f"{KIND}:{batch_code(DISPOSER, 7)}" in flagged


def test_rebuild_compares_and_remakes_the_totals(drums):
    build(drums)
    s = drums.world.session
    s.rollback()
    report = rebuild(s, drums.world.config, commit=False)
    assert report.identical, report.differences
    s.rollback()
    # a row lost or changed is a difference rebuild --check reports, and rebuild repairs
    victim = s.get(LineageTotal, batch_code(STATION, 3))
    victim.given_g = victim.declared_g  # would hide an imbalance from the scan
    s.delete(s.get(LineageTotal, batch_code(G0, 50)))
    s.commit()
    assert len(lineage_total_differences(s)) == 3  # two rows of the change, one lost
    s.rollback()
    report = rebuild(s, drums.world.config, commit=False)
    assert set(report.differences) == {"lineage_totals"}
    s.rollback()
    rebuild(s, drums.world.config, commit=True)
    assert lineage_total_differences(s) == []
    s.rollback()
    before = sorted(map(tuple, s.execute(select(LineageTotal.child, LineageTotal.given_g,
                                                LineageTotal.declared_g))))
    s.execute(text("UPDATE lineage_totals SET given_g = 1"))
    assert rebuild_lineage_totals(s) == len(before)  # set-based: the same rows
    s.commit()
    assert sorted(map(tuple, s.execute(select(LineageTotal.child, LineageTotal.given_g,
                                              LineageTotal.declared_g)))) == before


def test_the_upgrade_fills_the_totals_of_drums_made_before_it(drums):
    """A database at revision 0018 with drums, refused parts and an orphan hand-off: revision
    0019 creates the table and fills it set-based as the append keeps it, the scan finds what
    the reference finds, and rebuild --check finds no difference."""
    clocks = build(drums)
    s = drums.world.session
    s.rollback()
    kept = sorted(map(tuple, s.execute(select(LineageTotal.child, LineageTotal.given_g,
                                              LineageTotal.declared_g))))
    s.rollback()
    engine = s.get_bind()
    s.close()
    with engine.begin() as conn:
        command.downgrade(migrations.config(conn), "0018")
    with engine.connect() as conn:
        assert "lineage_totals" not in inspect(conn).get_table_names()
    done = migrations.upgrade(engine)
    assert (done.before, done.after) == ("0018", migrations.heads()[0])
    assert sorted(map(tuple, s.execute(select(LineageTotal.child, LineageTotal.given_g,
                                              LineageTotal.declared_g)))) == kept
    assert lineage_total_differences(s) == []
    assert s.scalar(select(func.count()).select_from(LineageTotal).where(
        LineageTotal.given_g != LineageTotal.declared_g)) == 5
    s.rollback()
    for now, settings in itertools.product(clocks[-2:], SETTINGS):
        query = GapQuery(now_ms=now, types=frozenset({KIND}))
        assert find_gaps(s, query, settings) == reference_gaps(s, query, settings)
        s.rollback()
    report = rebuild(s, drums.world.config, commit=False)
    assert report.identical, report.differences

"""``generation_anomaly`` reads one row per series (its monthly totals packed in a string) and
finds exactly what the previous computation found (every monthly total read as a row, the
series rebuilt in dictionaries: tests/ledger/gap_reference.py), on SQLite and PostgreSQL:
regular, stopped, dipping, lumpy, short-history and zero-median series, months split over
several summary rows, months after the clock, per-region thresholds, several clocks and
regions."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest

from ledger.audit.gaps import GapQuery, GapSettings, Thresholds, _anomaly_series, find_gaps
from ledger.audit.models import BalanceMonth
from ledger.clock import BEIJING
from ledger.custody.uscc import make_uscc
from tests.ledger.custody_world import GENERATORS, Region, make_region
from tests.ledger.gap_reference import reference_gaps

CODES = ("900-039-49", "900-249-08", "772-006-49")
CATEGORY = {"900-039-49": "HW49", "900-249-08": "HW08", "772-006-49": "HW49"}
# three counties of 台州, a county of 杭州, and one generator that was never registered
PLACES = {g: "331002" for g in GENERATORS[:3]}
PLACES.update({make_uscc("331003", n): "331003" for n in range(1, 4)})
PLACES.update({make_uscc("331004", n): "331004" for n in range(1, 3)})
PLACES.update({make_uscc("330102", n): "330102" for n in range(1, 3)})
UNREGISTERED = make_uscc("331002", 99)
FIRST, LAST = 2025 * 12, 2027 * 12 + 2  # 2025-01 .. 2027-03, as year * 12 + month - 1
SETTINGS = (
    GapSettings(),
    GapSettings(regions={"331000": {"anomaly_months": 6, "anomaly_mads": 1.5},
                         "331004": {"anomaly_mads": 5.0, "anomaly_months": 3},
                         "330000": {"anomaly_mads": 0.0}}),
    GapSettings(default=Thresholds(anomaly_months=2, anomaly_mads=9.5)),
    GapSettings(default=Thresholds(anomaly_mads=12.0), regions={"331003": {"anomaly_mads": 2.0}}),
    GapSettings(default=Thresholds(anomaly_mads=-0.5)),  # no pruning by value possible
)
REGIONS = (None, "331000", "331003", "330000", "330100", "110000")
CLOCKS = ("2025-05", "2025-11", "2026-03", "2026-08", "2027-01", "2027-04", "2027-06")


def month_text(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def mid_month_ms(month: str) -> int:
    day = dt.datetime.strptime(month + "-15 12:00", "%Y-%m-%d %H:%M").replace(tzinfo=BEIJING)
    return int(day.timestamp() * 1000)


def shaped(rng: random.Random, shape: str) -> dict[int, int]:
    """One series' monthly grams by month number."""
    base = rng.randint(20_000, 900_000)
    start = rng.randint(FIRST, LAST - 3)
    months = range(start, LAST + 1)
    regular = {m: round(base * rng.uniform(0.9, 1.1)) for m in months}
    if shape == "regular":
        return regular
    if shape == "stopped":
        stop = rng.randint(start + 1, LAST)
        return {m: g for m, g in regular.items() if m < stop}
    if shape == "dipping":
        for m in rng.sample(list(months), k=min(3, len(months))):
            regular[m] = round(base * rng.choice((0, 0.05, 0.3, 0.5, 0.65, 0.69, 0.7, 0.71,
                                                  0.8, 0.95)))
        return regular
    if shape == "lumpy":
        return {m: base * rng.choice((1, 1, 1, 2, 8, 30)) for m in months if rng.random() < 0.8}
    if shape == "zero_median":  # declared in fewer than half of its months
        return {m: base for m in months if rng.random() < 0.3} or {start: base}
    if shape == "short":
        return {m: base for m in range(LAST - rng.randint(1, 4), LAST - rng.randint(0, 1))}
    assert shape == "zero_rows"  # rows summing to 0 g (they start the series all the same)
    return {m: (0 if rng.random() < 0.4 else base) for m in months}


def fill(r: Region) -> tuple[int, dict[str, str]]:
    """Registers the generators and writes monthly totals; returns how many series there are
    and the handcrafted ones' ids (a series id at the clock of 2026-08, default thresholds)
    with whether each is a finding."""
    s = r.world.session
    for org, place in PLACES.items():
        if org not in GENERATORS[:3]:
            r.world.register_org(org, f"单位{org[-4:]}", place, ("generator",))
    rng = random.Random(15)
    shapes = ("regular", "stopped", "dipping", "lumpy", "zero_median", "short", "zero_rows")
    series: dict[tuple[str, str], dict[int, int]] = {}
    for org, code in itertools.product([*PLACES, UNREGISTERED], CODES):
        series[(org, code)] = shaped(rng, rng.choice(shapes))
    # handcrafted, judged at 2026-07 (clock 2026-08): six months of 100 kg, then ...
    gen, half_year = GENERATORS[0], range(2026 * 12, 2026 * 12 + 6)
    july = 2026 * 12 + 6
    expected = {}
    for code, july_g, found in (("900-000-01", None, True),  # stopped
                                ("900-000-02", 70_000, False),  # on the threshold: 100 - 3 x 10
                                ("900-000-03", 69_999, True)):  # just below it
        series[(gen, code)] = {m: 100_000 for m in half_year} | (
            {} if july_g is None else {july: july_g})
        expected[f"generation_anomaly:{gen}:{code}:2026-07"] = found
    series[(gen, "900-000-04")] = {july - 2: 100_000, july - 1: 100_000}  # short history
    series[(gen, "900-000-05")] = {july - 6: 100_000, july - 3: 100_000}  # median 0
    expected[f"generation_anomaly:{gen}:900-000-04:2026-07"] = False
    expected[f"generation_anomaly:{gen}:900-000-05:2026-07"] = False
    rows = []
    for (org, code), months in series.items():
        place = PLACES.get(org, "331002")
        for m, grams in months.items():
            parts = [(place, grams)]
            if rng.random() < 0.15:  # the month's originals split over two summary rows
                other = "331004" if place != "331004" else "331003"
                parts = [(place, grams // 3), (rng.choice((place, other)), grams - grams // 3)]
            for i, (where, g) in enumerate(parts):
                category = CATEGORY.get(code, "HW01") if i == 0 or where != place else "HW99"
                rows.append(BalanceMonth(
                    generator=org, region=where, waste_code=code, category=category,
                    month=month_text(m), declared=g, collected=0, at_generator=g, returned=0,
                    in_transit=0, in_storage=0, received_at_disposers=0,
                    disposed_utilisation=0, disposed_disposal=0, refused=0, batches=1))
    s.add_all(rows)
    s.commit()
    return len(series), expected


@pytest.fixture
def monthly(database):
    engine = database.engine()
    r = make_region(engine)
    yield r
    r.world.session.close()
    engine.dispose()


def test_the_packed_series_give_what_every_monthly_row_gave(monthly):
    total, expected = fill(monthly)
    s = monthly.world.session
    only = frozenset({"generation_anomaly"})
    found_somewhere = 0
    for month, settings, region in itertools.product(CLOCKS, SETTINGS, REGIONS):
        query = GapQuery(now_ms=mid_month_ms(month), region=region, types=only)
        new = find_gaps(s, query, settings)
        s.rollback()
        old = reference_gaps(s, query, settings)
        s.rollback()
        assert new == old, (month, settings, region)
        found_somewhere += bool(new)
        print(len(new), end=" ")
    assert found_somewhere > 50  # the comparison has findings to compare in most scans

    august = GapQuery(now_ms=mid_month_ms("2026-08"), types=only)
    ids = {g.id for g in find_gaps(s, august, GapSettings())}
    assert {i for i, found in expected.items() if found} <= ids
    assert not {i for i, found in expected.items() if not found} & ids
    (stopped,) = [g for g in find_gaps(s, august, GapSettings())
                  if g.id.endswith("900-000-01:2026-07")]
    assert stopped.detail == {"waste_code": "900-000-01", "month": "2026-07", "declared_g": 0,
                              "median_g": 100_000, "mad_g": 0}

    # a series whose history is too short for every region's threshold is not read at all
    read = {(org, code) for org, code, *_ in _anomaly_series(s, august, "2026-03")}
    s.rollback()
    gen = GENERATORS[0]
    assert (gen, "900-000-01") in read and (gen, "900-000-04") not in read
    assert len(read) < total

"""Mass balance (对账) on SQLite and PostgreSQL: every figure of lifecycles built with the core,
consolidation attributed back in proportion, filters, drill-down, and the signed bundle."""

from __future__ import annotations

import base64
import datetime as dt
import random
from collections import Counter, defaultdict
from typing import Any

import pytest
from sqlalchemy import select

from ledger.audit.reconcile import (
    BREAKDOWNS,
    DRILLABLE,
    STOCK,
    Figures,
    Report,
    ReportFilters,
    balance_differences,
    batches_behind,
    month_differences,
    rebuild_balances,
    reconcile,
    reference_figures,
    report_bundle,
    report_note_text,
    scope_for,
    verify_report_bundle,
)
from ledger.custody.kinds import parent_link
from ledger.custody.principals import Principal
from ledger.custody.projections import Batch
from ledger.custody.uscc import make_uscc
from ledger.errors import InvalidInput, LedgerError, PermissionDenied, SignatureInvalid
from ledger.tlog.entries import parse_time
from ledger.tlog.log import checkpoint_at, issue_checkpoint, log_head
from ledger.tlog.notes import Signer
from tests.ledger.custody_world import (
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    STATION,
    Region,
    add_generators,
    batch_code,
    description,
    make_region,
)
from tests.ledger.factories import OPERATOR_ORG, T0
from tests.ledger.reference import as_figures, reference

GEN_A, GEN_B, GEN_C = GENERATORS[:3]
TRANSPORTER = make_uscc("331002", 301)
FAR_GENERATOR = make_uscc("330100", 401)  # 杭州: outside 331000
PERMIT = f"浙危废经第{DISPOSER[-4:]}号"


@pytest.fixture
def counted(database):
    engine = database.engine()
    r = make_region(engine)
    r.manifests = 0  # type: ignore[attr-defined]
    yield r
    r.world.session.close()
    engine.dispose()


def manifest(counted: Region) -> str:
    """A fresh manifest number per handover (each trip is one origin→destination leg)."""
    counted.manifests += 1  # type: ignore[attr-defined]
    return f"2026331{counted.manifests:07d}"


def hand_over(counted: Region, code: str, frm: str, to: str, mass: int,
              accepted: int | None = None) -> None:
    counted.hand_over(code, frm, to, mass, accepted, manifest=manifest(counted))


def dispose(counted: Region, code: str, mass: int, method: str = "disposal") -> None:
    counted.act(DISPOSER, code, "custody.disposed", {
        "method": method, "method_code": "R4" if method == "utilisation" else "D10",
        "permit": PERMIT, "mass_g": mass})


def split(counted: Region, org: str, parent: str, parts: list[tuple[int, int]]) -> list[str]:
    """Split ``parent`` into children (serial, mass): one hand-off and one child each."""
    children = []
    for serial, mass in parts:
        child = batch_code(org, serial)
        r = counted.act(org, parent, "custody.consolidated_out", {"into": child, "mass_g": mass})
        counted.act(org, child, "batch.consolidated", {
            **description("900-039-49", mass), "parents": [parent_link(parent, mass,
                                                                       r.leaf_hash)]})
        children.append(child)
    return children


def report(counted: Region, /, **filters: Any) -> Report:
    counted.world.session.rollback()  # see what was committed, as a new request would
    return reconcile(counted.world.session, **filters)


def behind(counted: Region, figure: str, /, **filters: Any) -> list[str]:
    counted.world.session.rollback()
    return batches_behind(counted.world.session, figure, **filters)


def row(rep: Report, breakdown: str, key: str) -> Figures:
    return next(r.figures for r in rep.breakdown(breakdown) if r.key == key)


def figures(**kw: int) -> dict[str, int]:
    """A full figures dict: the ones given, zero elsewhere, with the derived ones."""
    f = Figures(**kw)
    return f.as_dict()


def assert_consistent(rep: Report) -> None:
    """The identity, and every breakdown adds up to the totals."""
    t = rep.totals
    assert t.declared == sum(getattr(t, name) for name in STOCK) + t.unaccounted
    for name in BREAKDOWNS:
        assert sum((r.figures for r in rep.breakdown(name)), Figures()) == t, name


# --- single lifecycles ------------------------------------------------------------------------


def test_the_documented_example_two_batches_consolidated_partly_refused_disposed(counted):
    """docs/custody.md section 6: A and B into drum D; 9.5 kg of D refused; D disposed."""
    a = counted.declare(GEN_A, mass_g=120_000)
    b = counted.declare(GEN_B, mass_g=80_000)
    hand_over(counted, a, GEN_A, COLLECTOR, 120_000, accepted=119_500)
    hand_over(counted, b, GEN_B, COLLECTOR, 80_000)
    d = counted.consolidate(COLLECTOR, [(a, 119_500), (b, 80_000)], serial=1)
    m = manifest(counted)
    counted.release(d, COLLECTOR, DISPOSER, 199_500, manifest=m)
    counted.refuse(d, COLLECTOR, DISPOSER, refused_mass_g=9_500, manifest=m)
    dispose(counted, d, 190_000)

    rep = report(counted)
    # A gave 119 500 of D's 199 500 g: 190 000 × 119 500 // 199 500 = 113 809 disposed,
    # 9 500 × 119 500 // 199 500 = 5 690 refused; 500 g lost at the weighing + 1 g rounding.
    assert row(rep, "by_generator", GEN_A).as_dict() == figures(
        batches=1, declared=120_000, collected=119_500, disposed_disposal=113_809,
        refused=5_690)
    assert row(rep, "by_generator", GEN_A).unaccounted == 501
    assert row(rep, "by_generator", GEN_B).as_dict() == figures(
        batches=1, declared=80_000, collected=80_000, disposed_disposal=76_190, refused=3_809)
    assert rep.totals.as_dict() == figures(
        batches=2, declared=200_000, collected=199_500, disposed_disposal=189_999,
        refused=9_499)
    assert rep.totals.unaccounted == 502 and rep.totals.disposed == 189_999
    assert [r.key for r in rep.by_generator] == sorted([GEN_A, GEN_B])  # never the drum
    assert_consistent(rep)
    assert behind(counted, "disposed") == sorted([a, b])
    assert behind(counted, "refused") == sorted([a, b])
    assert behind(counted, "in_storage") == []


def test_twenty_batches_in_one_drum_each_generator_sees_its_own_mass_disposed(counted):
    gens = GENERATORS[:20]
    add_generators(counted, gens)
    parents = []
    for i, g in enumerate(gens):
        mass = 4_000 + 250 * i
        code = counted.declare(g, mass_g=mass)
        hand_over(counted, code, g, COLLECTOR, mass)
        parents.append((code, mass))
    total = sum(m for _, m in parents)
    drum = counted.consolidate(COLLECTOR, parents, serial=1)
    hand_over(counted, drum, COLLECTOR, DISPOSER, total)

    before = report(counted)  # at the disposer, not yet utilised
    for (_, mass), g in zip(parents, gens, strict=True):
        assert row(before, "by_generator", g).as_dict() == figures(
            batches=1, declared=mass, collected=mass, received_at_disposers=mass)

    dispose(counted, drum, total, method="utilisation")
    rep = report(counted)
    assert rep.totals.as_dict() == figures(batches=20, declared=total, collected=total,
                                           disposed_utilisation=total)
    assert len(rep.by_generator) == 20
    for (_, mass), g in zip(parents, gens, strict=True):
        assert row(rep, "by_generator", g).as_dict() == figures(
            batches=1, declared=mass, collected=mass, disposed_utilisation=mass)
    assert [(r.key, r.name) for r in rep.by_category] == [("HW49", "其他废物")]
    assert [r.key for r in rep.by_waste_code] == ["900-039-49"]
    assert_consistent(rep)
    assert behind(counted, "disposed_utilisation") == sorted(c for c, _ in parents)
    assert behind(counted, "unaccounted") == []
    assert drum not in behind(counted, "declared")


def test_partial_refusal_the_refused_part_stays_refused_with_the_carrier(counted):
    code = counted.declare(GEN_A, mass_g=100_000)
    hand_over(counted, code, GEN_A, COLLECTOR, 100_000)
    m = manifest(counted)
    counted.release(code, COLLECTOR, DISPOSER, 100_000, manifest=m)
    counted.refuse(code, COLLECTOR, DISPOSER, refused_mass_g=9_500, manifest=m)
    rep = report(counted)
    assert rep.totals.as_dict() == figures(batches=1, declared=100_000, collected=100_000,
                                           received_at_disposers=90_500, refused=9_500)
    dispose(counted, code, 90_000)
    rep = report(counted)
    assert rep.totals.as_dict() == figures(batches=1, declared=100_000, collected=100_000,
                                           disposed_disposal=90_000, refused=9_500)
    assert rep.totals.unaccounted == 500  # the disposer recorded 500 g less than it took
    assert behind(counted, "refused") == [code] == behind(counted, "unaccounted")


def test_partial_refusal_at_the_first_receiver_counts_only_the_accepted_part_collected(counted):
    code = counted.declare(GEN_A, mass_g=50_000)
    m = manifest(counted)
    counted.release(code, GEN_A, COLLECTOR, 50_000, manifest=m)
    counted.refuse(code, GEN_A, COLLECTOR, refused_mass_g=2_000, manifest=m)
    assert report(counted).totals.as_dict() == figures(
        batches=1, declared=50_000, collected=48_000, in_storage=48_000, refused=2_000)


def test_a_pending_handover_counts_as_in_transit_whichever_side_signed_first(counted):
    first = counted.declare(GEN_A, serial=1, mass_g=10_000)
    counted.release(first, GEN_A, COLLECTOR, 10_000, manifest=manifest(counted))  # holder only
    second = counted.declare(GEN_A, serial=2, mass_g=7_000)
    number = manifest(counted)
    counted.offer(second, GEN_A, COLLECTOR, manifest=number)
    counted.accept(second, GEN_A, COLLECTOR, 6_900, manifest=number)  # receiver only
    rep = report(counted)
    assert rep.totals.as_dict() == figures(batches=2, declared=17_000, in_transit=17_000)
    assert behind(counted, "in_transit") == sorted([first, second])
    assert behind(counted, "collected") == []


def test_every_state_lands_in_its_figure(counted):
    counted.world.register_org(TRANSPORTER, "危废运输车队", "331002", ("transporter",))
    counted.keys[TRANSPORTER] = counted.world.register_key(TRANSPORTER, "key-trans")
    add_generators(counted, GENERATORS[:6])
    g = GENERATORS
    at_gen = counted.declare(g[0], mass_g=1_000)
    transit = counted.declare(g[1], mass_g=2_000)
    hand_over(counted, transit, g[1], TRANSPORTER, 2_000, accepted=1_990)
    stored = counted.declare(g[2], mass_g=3_000)
    hand_over(counted, stored, g[2], COLLECTOR, 3_000)
    received = counted.declare(g[3], mass_g=4_000)
    hand_over(counted, received, g[3], COLLECTOR, 4_000)
    hand_over(counted, received, COLLECTOR, DISPOSER, 4_000)
    refused_code = counted.declare(g[4], mass_g=5_000)
    hand_over(counted, refused_code, g[4], COLLECTOR, 5_000)
    m = manifest(counted)
    counted.release(refused_code, COLLECTOR, DISPOSER, 5_000, manifest=m)
    counted.refuse(refused_code, COLLECTOR, DISPOSER, manifest=m)  # whole: with the collector
    returned = counted.declare(g[5], mass_g=6_000)
    hand_over(counted, returned, g[5], COLLECTOR, 6_000)
    m = manifest(counted)
    counted.release(returned, COLLECTOR, DISPOSER, 6_000, manifest=m)
    counted.refuse(returned, COLLECTOR, DISPOSER, manifest=m)
    hand_over(counted, returned, COLLECTOR, g[5], 6_000)  # 退回产废单位

    rep = report(counted)
    expect = {
        g[0]: figures(batches=1, declared=1_000, at_generator=1_000),
        g[1]: figures(batches=1, declared=2_000, collected=1_990, in_transit=1_990),
        g[2]: figures(batches=1, declared=3_000, collected=3_000, in_storage=3_000),
        g[3]: figures(batches=1, declared=4_000, collected=4_000, received_at_disposers=4_000),
        g[4]: figures(batches=1, declared=5_000, collected=5_000, refused=5_000),
        g[5]: figures(batches=1, declared=6_000, collected=6_000, returned=6_000),
    }
    assert {r.key: r.figures.as_dict() for r in rep.by_generator} == expect
    assert row(rep, "by_generator", g[1]).unaccounted == 10
    assert_consistent(rep)
    for figure, code in (("at_generator", at_gen), ("in_transit", transit),
                         ("in_storage", stored), ("received_at_disposers", received),
                         ("refused", refused_code), ("returned", returned)):
        assert behind(counted, figure) == [code], figure


def test_chains_splits_and_partial_hand_offs_are_followed_in_proportion(counted):
    """A gives 30 of its 50 kg to drum D (keeps 20 in storage), B all 70 kg; D goes to the
    station, which splits it 60/40: one part disposed, the other stored there."""
    a = counted.declare(GEN_A, mass_g=50_000)
    b = counted.declare(GEN_B, mass_g=70_000)
    hand_over(counted, a, GEN_A, COLLECTOR, 50_000)
    hand_over(counted, b, GEN_B, COLLECTOR, 70_000)
    d = counted.consolidate(COLLECTOR, [(a, 30_000), (b, 70_000)], serial=1)  # 100 kg
    hand_over(counted, d, COLLECTOR, STATION, 100_000, accepted=99_000)
    s1, s2 = split(counted, STATION, d, [(1, 59_000), (2, 40_000)])
    hand_over(counted, s1, STATION, DISPOSER, 59_000)
    dispose(counted, s1, 59_000, method="utilisation")

    rep = report(counted)
    # A's share of D is 30 000 g of 100 000 declared; of s1 (59 000 declared, cut from D's
    # 100 000) it is 30 000 × 59 000 // 100 000 = 17 700 g, so s1's 59 000 g disposed gives
    # A 59 000 × 17 700 // 59 000 = 17 700; of s2 it is 30 000 × 40 000 // 100 000 = 12 000.
    assert row(rep, "by_generator", GEN_A).as_dict() == figures(
        batches=1, declared=50_000, collected=50_000, in_storage=20_000 + 12_000,
        disposed_utilisation=17_700)
    assert row(rep, "by_generator", GEN_A).unaccounted == 300  # its share of the 1 kg lost
    assert row(rep, "by_generator", GEN_B).as_dict() == figures(
        batches=1, declared=70_000, collected=70_000, in_storage=28_000,
        disposed_utilisation=41_300)
    assert rep.totals.batches == 2
    assert_consistent(rep)
    assert behind(counted, "in_storage") == sorted([a, b])


def test_hand_off_into_a_child_never_created_is_unaccounted(counted):
    a = counted.declare(GEN_A, mass_g=10_000)
    hand_over(counted, a, GEN_A, COLLECTOR, 10_000)
    counted.act(COLLECTOR, a, "custody.consolidated_out",
               {"into": batch_code(COLLECTOR, 9), "mass_g": 4_000})
    rep = report(counted)
    assert rep.totals.as_dict() == figures(batches=1, declared=10_000, collected=10_000,
                                           in_storage=6_000)
    assert rep.totals.unaccounted == 4_000
    assert behind(counted, "unaccounted") == [a]


# --- filters --------------------------------------------------------------------------------


def at(counted: Region, when: str) -> None:
    counted.world.clock.ms = parse_time(when)


def test_filters_region_period_generator_waste_code_category_and_beijing_months(counted):
    counted.world.register_org(FAR_GENERATOR, "杭州某厂", "330100", ("generator",))
    counted.keys[FAR_GENERATOR] = counted.world.register_key(FAR_GENERATOR, "key-far")
    at(counted, "2026-08-31T15:59:59Z")  # Beijing 2026-08-31 23:59:59
    aug = counted.declare(GEN_A, serial=1, mass_g=1_000)
    at(counted, "2026-08-31T16:00:00Z")  # Beijing 2026-09-01 00:00:00
    sep = counted.declare(GEN_A, serial=2, mass_g=2_000, waste="321-026-48")
    at(counted, "2026-09-21T10:00:00Z")
    other = counted.declare(GEN_B, serial=1, mass_g=4_000)
    far = counted.declare(FAR_GENERATOR, serial=1, mass_g=8_000)
    counted.world.clock.ms = T0

    def declared(**kw: Any) -> int:
        return report(counted, **kw).totals.declared

    assert declared() == 15_000
    assert declared(region="331002") == declared(region="331000") == 7_000
    assert declared(region="330000") == 15_000 and declared(region="330100") == 8_000
    assert declared(region="331003") == 0
    assert declared(period_from=dt.date(2026, 9, 1)) == 14_000
    assert declared(period_to=dt.date(2026, 8, 31)) == 1_000
    assert declared(period_from=dt.date(2026, 9, 1), period_to=dt.date(2026, 9, 1)) == 2_000
    assert declared(generator=GEN_A) == 3_000
    assert declared(waste_code="32102648") == 2_000  # either spelling
    assert declared(category="hw49") == 13_000 and declared(category="HW48") == 2_000
    assert declared(region="331002", generator=GEN_B, category="HW49") == 4_000
    rep = report(counted, region="331000")
    assert [(r.key, r.figures.declared) for r in rep.by_month] == [
        ("2026-08", 1_000), ("2026-09", 6_000)]  # Beijing months, not UTC
    assert [(r.key, r.figures.declared) for r in rep.by_waste_code] == [
        ("321-026-48", 2_000), ("900-039-49", 5_000)]
    assert [(r.key, r.figures.declared) for r in rep.by_category] == [
        ("HW48", 2_000), ("HW49", 5_000)]
    assert rep.filters.region == "331000"
    assert behind(counted, "declared", region="331002", period_to=dt.date(2026, 8, 31)) == [aug]
    assert behind(counted, "at_generator", waste_code="321-026-48") == [sep]
    assert behind(counted, "declared", region="330100") == [far]
    assert other in behind(counted, "declared", generator=GEN_B)


@pytest.mark.parametrize(("kw", "code"), [
    ({"region": "33100"}, "region_malformed"),
    ({"generator": "91331002000000019B"}, "uscc_check_invalid"),
    ({"waste_code": "900-039"}, "waste_code_malformed"),
    ({"category": "HW4"}, "waste_category_malformed"),
    ({"period_from": dt.date(2026, 2, 1), "period_to": dt.date(2026, 1, 1)}, "period_invalid"),
    ({"period_to": dt.date(9999, 12, 31)}, "period_invalid"),
])
def test_bad_filters_are_refused_with_the_field(counted, kw, code):
    with pytest.raises(InvalidInput) as err:
        report(counted, **kw)
    assert err.value.code == code


def test_what_each_principal_may_see(counted):
    a = counted.declare(GEN_A, mass_g=1_000)
    b = counted.declare(GEN_B, mass_g=2_000)
    hand_over(counted, b, GEN_B, COLLECTOR, 2_000)
    regulator = Principal(make_uscc("331002", 900), "椒江分局", frozenset({"regulator"}),
                          "331002")
    city = Principal(make_uscc("331000", 901), "台州市局", frozenset({"regulator"}), "331000")
    operator = Principal(OPERATOR_ORG, "平台", frozenset({"operator"}), "330000")
    gen_a = Principal(GEN_A, "A", frozenset({"generator"}), "331002")
    collector = Principal(COLLECTOR, "收集", frozenset({"collector"}), "331002")
    none = ReportFilters()
    assert scope_for(regulator, none).region == "331002"  # defaults to its own region
    assert scope_for(city, ReportFilters.checked(region="331002")).region == "331002"
    with pytest.raises(PermissionDenied) as err:
        scope_for(regulator, ReportFilters.checked(region="331000"))  # wider than its own
    assert err.value.code == "region_forbidden"
    with pytest.raises(PermissionDenied):
        scope_for(regulator, ReportFilters.checked(region="331003"))
    assert scope_for(operator, none) == none
    assert scope_for(gen_a, none).generator == GEN_A
    with pytest.raises(PermissionDenied) as err:
        scope_for(gen_a, ReportFilters.checked(generator=GEN_B))
    assert err.value.code == "generator_forbidden"

    def seen(p: Principal) -> tuple[int, str | None]:
        counted.world.session.rollback()
        f = scope_for(p, none)
        rep = reconcile(counted.world.session, **{
            "region": f.region, "generator": f.generator}, principal=p)
        return rep.totals.declared, rep.viewer

    assert seen(regulator) == (3_000, regulator.org)
    assert seen(operator) == (3_000, OPERATOR_ORG)
    assert seen(gen_a) == (1_000, GEN_A)
    # a collector declares nothing of its own: the batches it handled are not "its" waste
    assert seen(collector) == (0, COLLECTOR)
    counted.world.session.rollback()
    assert batches_behind(counted.world.session, "declared", principal=gen_a) == [a]
    assert batches_behind(counted.world.session, "declared", principal=collector) == [b]


# --- the balance identity on random scenarios, against an independent computation -----------


def random_scenario(counted: Region, rng: random.Random) -> None:
    """Batches sent down random paths: left, pending, refused, returned, stored, weighed
    short or long, consolidated (whole or part), split, received, disposed."""
    gens = GENERATORS[:6]
    add_generators(counted, gens)
    wastes = ["900-039-49", "321-026-48", "900-249-08"]
    at_collector: list[tuple[str, int]] = []
    serial = Counter[str]()
    for _ in range(14):
        g = rng.choice(gens)
        serial[g] += 1
        mass = rng.randrange(1_000, 90_000)
        code = counted.declare(g, serial=serial[g], mass_g=mass, waste=rng.choice(wastes))
        path = rng.choice(["stay", "pending", "refuse", "collect", "collect", "collect",
                           "partial"])
        if path == "stay":
            continue
        m = manifest(counted)
        counted.release(code, g, COLLECTOR, mass, manifest=m)
        if path == "pending":
            continue
        if path == "refuse":
            counted.refuse(code, g, COLLECTOR, manifest=m)
            continue
        if path == "partial":
            cut = rng.randrange(1, mass // 4)
            counted.refuse(code, g, COLLECTOR, refused_mass_g=cut, manifest=m)
            at_collector.append((code, mass - cut))
            continue
        weighed = mass + rng.randrange(-mass // 25, mass // 25 + 1)
        counted.accept(code, g, COLLECTOR, weighed, manifest=m)
        at_collector.append((code, weighed))
    rng.shuffle(at_collector)
    onward, drummed = at_collector[: len(at_collector) // 3], at_collector[len(at_collector) // 3:]
    for code, held in onward:
        choice = rng.choice(["dispose", "received", "refuse_return", "stay"])
        if choice == "stay":
            continue
        m = manifest(counted)
        counted.release(code, COLLECTOR, DISPOSER, held, manifest=m)
        if choice == "refuse_return":
            counted.refuse(code, COLLECTOR, DISPOSER, manifest=m)
            if rng.random() < 0.7:
                hand_over(counted, code, COLLECTOR, code[:18], held)  # 退回
            continue
        counted.accept(code, COLLECTOR, DISPOSER, held, manifest=m)
        if choice == "dispose":
            dispose(counted, code, held - rng.randrange(0, 200), rng.choice(
                ["utilisation", "disposal"]))
    if not drummed:
        return
    parts = [(code, held if rng.random() < 0.7 else rng.randrange(1, held))
             for code, held in drummed]
    total = sum(m for _, m in parts)
    drum = counted.consolidate(COLLECTOR, parts, serial=1,
                              mass_g=total + rng.randrange(-total // 50, total // 50 + 1))
    counted.world.session.rollback()
    drum_mass = counted.world.session.get(Batch, drum).mass_g
    hand_over(counted, drum, COLLECTOR, STATION, drum_mass)
    first = rng.randrange(100, drum_mass - 100)
    s1, s2 = split(counted, STATION, drum, [(1, first), (2, drum_mass - first)])
    m = manifest(counted)
    counted.release(s1, STATION, DISPOSER, first, manifest=m)
    counted.refuse(s1, STATION, DISPOSER, refused_mass_g=first // 10 + 1, manifest=m)
    dispose(counted, s1, first - first // 10 - 1, "disposal")
    if rng.random() < 0.5:
        hand_over(counted, s2, STATION, DISPOSER, drum_mass - first)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_balance_identity_on_random_scenarios(counted, seed):
    random_scenario(counted, random.Random(seed))
    rep = report(counted)
    assert_consistent(rep)
    session = counted.world.session
    session.rollback()
    originals = list(session.scalars(select(Batch.code).where(Batch.consolidated.is_(False))))
    expected = reference(session, originals)
    batches = {b.code: b for b in session.scalars(select(Batch))}
    by_gen: dict[str, Figures] = defaultdict(Figures)
    for code, counts in expected.items():
        by_gen[batches[code].generator] += as_figures(counts)
    assert {r.key: r.figures for r in rep.by_generator} == dict(by_gen)
    assert rep.totals == sum(by_gen.values(), Figures())
    for figure in DRILLABLE:
        want = sorted(code for code, c in expected.items()
                      if as_figures(c).figure(figure) != 0)
        assert behind(counted, figure) == want, figure
    # the summary maintained entry by entry equals the recursive CTE computed afresh
    assert balance_differences(session) == []
    assert month_differences(session) == []
    assert reference_figures(session, ReportFilters()) == rep.totals


@pytest.mark.parametrize("seed", [4, 5])
def test_periods_over_whole_and_partial_months_give_the_reference_figures(counted, seed):
    """A report takes whole months from balance_months and the originals of a partial first
    or last month from batch_balances: every cut gives the recursive CTE's figures."""
    session = counted.world.session
    moments = ["2026-08-31T15:59:59Z", "2026-08-31T16:00:00Z", "2026-09-14T16:00:00Z",
               "2026-09-30T16:00:00Z", "2026-10-31T15:59:59Z", "2026-10-31T16:00:00Z",
               "2026-11-19T12:00:00Z"]  # Beijing month and day edges
    for n, moment in enumerate(moments):
        at(counted, moment)
        for g in (GEN_A, GEN_B):
            code = counted.declare(g, serial=50 + n, mass_g=1_000 * (n + 1))
            if n % 2:
                hand_over(counted, code, g, COLLECTOR, 1_000 * (n + 1))
    at(counted, "2026-11-20T00:00:00Z")
    random_scenario(counted, random.Random(seed))
    session.rollback()
    assert month_differences(session) == []
    day = dt.date
    cuts = [(None, None), (day(2026, 9, 1), None), (day(2026, 9, 22), None),
            (None, day(2026, 9, 30)), (None, day(2026, 11, 1)), (day(2026, 9, 15),
                                                                   day(2026, 11, 20)),
            (day(2026, 8, 1), day(2026, 11, 30)), (day(2026, 9, 21), day(2026, 9, 21)),
            (day(2026, 10, 2), day(2026, 11, 1)), (day(2026, 9, 2), day(2026, 10, 31))]
    for start, end in cuts:
        filters = ReportFilters(period_from=start, period_to=end)
        rep = report(counted, period_from=start, period_to=end)
        assert rep.totals == reference_figures(session, filters), (start, end)
        assert sum((r.figures for r in rep.by_month), Figures()) == rep.totals
        assert sum((r.figures for r in rep.by_generator), Figures()) == rep.totals
        session.rollback()
        for gen in (GEN_A, GEN_B):
            assert report(counted, period_from=start, period_to=end, generator=gen,
                          region="331000").totals == reference_figures(
                session, ReportFilters(period_from=start, period_to=end, generator=gen,
                                       region="331000"))
            session.rollback()


# --- the summary (batch_balances), maintained in the append transaction ------------------------


def test_the_summary_follows_every_entry_and_a_stale_row_is_found(counted):
    from sqlalchemy import text

    random_scenario(counted, random.Random(7))
    session = counted.world.session
    session.rollback()
    assert balance_differences(session) == []
    before = report(counted).totals
    code = session.scalars(select(Batch.code).where(Batch.consolidated.is_(False))
                           .order_by(Batch.code)).first()
    session.execute(text("UPDATE batch_balances SET in_storage = in_storage + 7 "
                         "WHERE origin = :c"), {"c": code})
    session.commit()
    assert balance_differences(session) == [code]
    assert len(month_differences(session)) == 2  # its month no longer sums the summary
    session.execute(text(  # whole months are read from the monthly totals
        "UPDATE balance_months SET in_storage = in_storage + 7 WHERE (generator, region, "
        "waste_code, category, month) IN (SELECT generator, region, waste_code, category, "
        "month FROM batch_balances WHERE origin = :c)"), {"c": code})
    session.commit()
    assert report(counted).totals.in_storage == before.in_storage + 7  # reports read the summary
    assert rebuild_balances(session) == len(list(session.scalars(
        select(Batch.code).where(Batch.consolidated.is_(False)))))
    session.commit()
    assert balance_differences(session) == [] and month_differences(session) == []
    assert report(counted).totals == before


# --- drill-down, log state, and the signed bundle ---------------------------------------------


def test_drilldown_pages_and_names_figures(counted):
    codes = [counted.declare(GEN_A, serial=i, mass_g=1_000) for i in range(1, 6)]
    session = counted.world.session
    session.rollback()
    assert batches_behind(session, "declared", limit=2) == codes[:2]
    assert batches_behind(session, "declared", after=codes[1], limit=2) == codes[2:4]
    assert batches_behind(session, "batches", after=codes[3]) == codes[4:]
    with pytest.raises(InvalidInput) as err:
        batches_behind(session, "everything")
    assert err.value.code == "figure_unknown"


def test_the_report_names_the_log_state_it_was_computed_at(counted):
    counted.declare(GEN_A)
    rep = report(counted)
    head = log_head(counted.world.session)
    size, root = head.size, base64.b64encode(head.root).decode()
    assert (rep.log_size, rep.root) == (size, root)
    body = rep.to_json()
    assert body["log"] == {"size": size, "root": root}
    assert body["format"] == "waste-ledger/reconciliation/v1" and body["unit"] == "g"
    counted.declare(GEN_A, serial=2)
    assert report(counted).log_size == size + 1


def make_bundle(counted: Region) -> tuple[bytes, Report]:
    a = counted.declare(GEN_A, mass_g=120_000)
    hand_over(counted, a, GEN_A, COLLECTOR, 120_000, accepted=119_000)
    session = counted.world.session
    issue_checkpoint(session, counted.world.config)
    rep = report(counted)
    checkpoint = checkpoint_at(session, rep.log_size)
    return report_bundle(rep, counted.world.operator, checkpoint), rep


def test_the_bundle_verifies_and_names_the_checkpoint(counted):
    bundle, rep = make_bundle(counted)
    verified = verify_report_bundle(bundle, counted.world.operator.verifier.vkey)
    assert verified.report == rep.to_json()
    assert verified.log_size == rep.log_size and base64.b64encode(verified.root).decode() == \
        rep.root
    assert verified.checkpoint is not None and verified.checkpoint.size == rep.log_size
    assert verify_report_bundle(bundle.decode(), counted.world.operator.verifier).sha256 == \
        verified.sha256
    with pytest.raises(SignatureInvalid):
        verify_report_bundle(bundle, Signer.generate("waste-ledger.test/log").verifier)


def test_changing_any_byte_of_the_bundle_makes_it_fail(counted):
    bundle, _ = make_bundle(counted)
    vkey = counted.world.operator.verifier
    for i in range(len(bundle)):
        for flip in (0x01, 0x20):
            tampered = bundle[:i] + bytes([bundle[i] ^ flip]) + bundle[i + 1:]
            with pytest.raises(LedgerError):
                verify_report_bundle(tampered, vkey)
    with pytest.raises(LedgerError):
        verify_report_bundle(bundle.replace(b'"report":{', b'"report": {'), vkey)
    with pytest.raises(LedgerError):
        verify_report_bundle(bundle + b"\n", vkey)


def test_report_note_known_answer():
    """The signed text of a report (docs/reconciliation.md), pinned byte for byte."""
    text = report_note_text("ab" * 32, 31, "A" * 43 + "=")
    assert text == (b"waste-ledger/report/v1\n" + b"ab" * 32 + b"\n31\n" + b"A" * 43 + b"=\n")

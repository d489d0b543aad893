"""The gap scan as it was computed before the custody-interval summary (issue 15): the four
time-based finders that read the projections directly, and ``manifest_open`` as it was before
the manifests kept their closing time and span (a pass over every manifest joined to the
handover that closed it), kept verbatim as the tests' reference; the plan and declaration
finders as they were before they became set-based (one round of queries per generator);
``generation_anomaly`` as it was before its series were pruned in SQL (every monthly total
read, the statistics in Python over every series); and ``lineage_imbalance`` as it was before
the lineage totals (every lineage row summed per child on every scan). ``reference_gaps`` is
``find_gaps`` with these in place of the current finders, so a test can check that the current
scan gives exactly the same findings."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    case,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from ledger.audit.gaps import (
    CONFIRMED,
    DAY,
    HOUR,
    SEVERITY_ORDER,
    STAY_TYPES,
    Gap,
    GapQuery,
    GapSettings,
    _anomaly_gap,
    _day_after_ms,
    _int,
    _matches,
    _region_where,
    _storage_limit,
    _threshold,
    find_gaps,
)
from ledger.audit.intervals import later as _later
from ledger.audit.intervals import z as _z
from ledger.audit.models import BalanceMonth, Declaration, Plan
from ledger.audit.plans import expected_periods, plan_due, registered_day
from ledger.clock import beijing_day, beijing_month
from ledger.custody.kinds import CONSOLIDATED
from ledger.custody.projections import (
    Batch,
    Disposal,
    Handover,
    Lineage,
    Manifest,
    Organisation,
)
from ledger.custody.workdays import working_days_due
from ledger.tlog.models import LogEntry

SUMMARISED = frozenset({"uncollected_overdue", "handover_unconfirmed", *STAY_TYPES})
PER_GENERATOR = frozenset({"plan_missing", "report_missing"})
ANOMALY = frozenset({"generation_anomaly"})
MANIFESTS = frozenset({"manifest_open"})  # read from the manifests' kept times
LINEAGE = frozenset({"lineage_imbalance"})  # read from the lineage totals


def reference_gaps(session: Session, query: GapQuery, settings: GapSettings) -> list[Gap]:
    """``find_gaps`` with the time-based types computed the old way, from the projections."""
    gaps = find_gaps(session, replace(query, types=query.types - SUMMARISED - PER_GENERATOR
                                      - ANOMALY - MANIFESTS - LINEAGE), settings)
    if "lineage_imbalance" in query.types:
        gaps += [g for g in _lineage(session, query, settings) if _matches(g, query)]
    if "generation_anomaly" in query.types:
        gaps += [g for g in _anomalies(session, query, settings) if _matches(g, query)]
    if "manifest_open" in query.types:
        gaps += [g for g in _manifests(session, query, settings) if _matches(g, query)]
    if "plan_missing" in query.types:
        gaps += [g for g in _plans_missing(session, query, settings) if _matches(g, query)]
    if "report_missing" in query.types:
        gaps += [g for g in _reports_missing(session, query, settings) if _matches(g, query)]
    if "uncollected_overdue" in query.types:
        gaps += [g for g in _uncollected(session, query, settings) if _matches(g, query)]
    if "handover_unconfirmed" in query.types:
        gaps += [g for g in _unconfirmed(session, query, settings) if _matches(g, query)]
    if query.types & set(STAY_TYPES):
        gaps += [g for g in _stays(session, query, settings) if _matches(g, query)]
    return sorted(gaps, key=lambda g: (SEVERITY_ORDER[g.severity], g.opened_ms, g.id))


def _uncollected(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """Original batches not collected within N days of declaration (the first settled
    handover out of the generator, timed when its later side was signed)."""
    b = Batch

    def confirmed(ho: Any) -> tuple[ColumnElement[int], ColumnElement[int]]:
        """(time, entry) a handover was confirmed: its later-signed side."""
        a_t, r_t, a_i, r_i = (_z(ho.answered_t_ms), _z(ho.released_t_ms), _z(ho.answered_at),
                              _z(ho.released_at))
        answer_last = _later(a_t, a_i, r_t, r_i)
        return case((answer_last, a_t), else_=r_t), case((answer_last, a_i), else_=r_i)

    ho = aliased(Handover, name="ho")
    conf_t, _ = confirmed(ho)
    # the first collection: one outer join and one aggregate per batch (NULL: none)
    first_t = func.min(case((ho.batch.is_not(None), conf_t)))
    limit = _threshold(settings, b.region, "uncollected_days", DAY)
    due = b.declared_t_ms + limit
    now = literal(query.now_ms, BigInteger)
    late = (select(b.code, b.region, b.generator, b.declared_at, b.declared_mass_g,
                   limit.label("limit"), due.label("due"), first_t.label("conf_t"))
            .outerjoin(ho, and_(ho.batch == b.code, ho.from_org == b.generator,
                                ho.status == CONFIRMED))
            .where(b.consolidated == false(), *_region_where(b.region, query.region))
            .group_by(b.code)
            .having(func.coalesce(first_t, now) > due)
            .subquery("late"))
    again = aliased(Handover, name="again")
    again_t, again_at = confirmed(again)
    first_at = (select(func.min(again_at))  # the entry, for the findings only
                .where(again.batch == late.c.code, again.status == CONFIRMED,
                       again.from_org == late.c.generator, again_t == late.c.conf_t)
                .correlate(late).scalar_subquery())
    rows = session.execute(select(late, first_at.label("conf_at")))
    for r in rows:
        yield Gap(f"uncollected_overdue:{r.code}", "uncollected_overdue",
                  "high" if query.now_ms > r.due + r.limit else "medium", r.region, (r.code,),
                  (r.generator,), (r.declared_at,), r.due, r.conf_at, r.conf_t,
                  {"declared_mass_g": r.declared_mass_g, "threshold_days": r.limit // DAY})


def _unconfirmed(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """Handovers with one side signed and the other missing, or signed late."""
    ho, b = Handover, Batch
    limit = _threshold(settings, b.region, "handover_hours", HOUR)
    both = and_(ho.released_at.is_not(None), ho.answered_at.is_not(None))
    release_first = or_(ho.answered_at.is_(None), and_(
        ho.released_at.is_not(None),
        _later(ho.answered_t_ms, ho.answered_at, ho.released_t_ms, ho.released_at)))
    first_t = case((release_first, ho.released_t_ms), else_=ho.answered_t_ms)
    first_at = case((release_first, ho.released_at), else_=ho.answered_at)
    last_t = case((release_first, ho.answered_t_ms), else_=ho.released_t_ms)
    last_at = case((release_first, ho.answered_at), else_=ho.released_at)
    inner = (select(ho.batch, ho.from_org, ho.to_org, ho.manifest, ho.answered_at,
                    b.region, both.label("done"), limit.label("limit"),
                    first_t.label("first_t"), first_at.label("first_at"),
                    last_t.label("last_t"), last_at.label("last_at"))
             .join(b, b.code == ho.batch)
             .where(ho.status.not_in(("superseded", "withdrawn")),
                    *_region_where(b.region, query.region))
             .subquery("sides"))
    due = inner.c.first_t + inner.c.limit
    rows = session.execute(select(inner, due.label("due")).where(or_(
        and_(inner.c.done == true(), inner.c.last_t > due),
        and_(inner.c.done == false(), literal(query.now_ms, BigInteger) > due))))
    for r in rows:
        yield Gap(f"handover_unconfirmed:{r.batch}:{r.first_at}", "handover_unconfirmed",
                  "high" if not r.done else "low", r.region, (r.batch,), (r.from_org, r.to_org),
                  (r.first_at,), r.due, r.last_at if r.done else None,
                  r.last_t if r.done else None,
                  {"manifest": r.manifest, "missing": None if r.done else (
                      "answer" if r.answered_at is None else "release"),
                   "threshold_hours": r.limit // HOUR})


def _stays(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """How long each holder kept each batch: transporters (hours), collectors and stations
    (their storage period), disposers (until disposal).

    One pass over the settled handovers in (batch, answer) order with LEAD() for the next
    one; a stay ends when the holder released the batch again, when a disposer disposed of
    it, or when the holder poured all of it into other batches."""

    ho, b, d, o = Handover, Batch, Disposal, Organisation

    def following(column: Any) -> ColumnElement[Any]:
        return func.lead(column).over(partition_by=ho.batch, order_by=ho.answered_at)

    settled = (select(ho.batch, ho.to_org, ho.answered_at,
                      _z(ho.answered_t_ms).label("a_t"), _z(ho.released_t_ms).label("r_t"),
                      following(ho.from_org).label("next_from"),
                      following(ho.released_t_ms).label("next_t"),
                      following(ho.released_at).label("next_at"))
               .where(ho.status == CONFIRMED).subquery("settled"))
    # the kind of stay each holder gives, from its roles: once per organisation, not per row
    roles: ColumnElement[str] = " " + o.roles + " "
    holders = select(o.uscc, case(
        (o.roles.in_(("", "transporter")), STAY_TYPES[0]),
        (or_(roles.like("% disposer %"), roles.like("% receiver %")), STAY_TYPES[1]),
        else_=STAY_TYPES[2]).label("kind")).subquery("holders")
    kind = func.coalesce(holders.c.kind, STAY_TYPES[0])  # an unknown holder: no roles
    # Regions matter only with per-region thresholds or a region filter; otherwise the first
    # pass needs no batch row at all and batches are read only for the candidates.
    by_region = bool(settings.regions) or bool(query.region) or bool(settings.storage_limits)
    region: Any = b.region if by_region else literal_column("''")
    limit = case((kind == STAY_TYPES[0], _threshold(settings, region, "in_transit_hours", HOUR)),
                 (kind == STAY_TYPES[1], _threshold(settings, region, "undisposed_days", DAY)),
                 else_=_storage_limit(settings, region, settled.c.to_org, b))
    start = case((settled.c.a_t >= settled.c.r_t, settled.c.a_t), else_=settled.c.r_t)
    handed_on = and_(settled.c.next_from == settled.c.to_org, settled.c.next_t.is_not(None))
    disposed = and_(kind == STAY_TYPES[1], d.batch.is_not(None))
    end_t = case((handed_on, settled.c.next_t), (disposed, d.t_ms))
    end_at = case((handed_on, settled.c.next_at), (disposed, d.entry))
    first = (select(settled.c.batch, settled.c.to_org, settled.c.answered_at,
                    kind.label("kind"), (start + limit).label("due"),
                    end_t.label("end_t"), end_at.label("end_at"))
             .select_from(settled)
             .outerjoin(holders, holders.c.uscc == settled.c.to_org)
             .outerjoin(d, d.batch == settled.c.batch))
    if by_region:
        first = first.join(b, b.code == settled.c.batch).where(
            *_region_where(b.region, query.region))
    now = literal(query.now_ms, BigInteger)
    # candidates: ended after their due time, or not (yet) ended by a release or a disposal
    # MATERIALIZED: computed on its own, so the planner joins batches to the few candidates
    # only rather than to every settled handover
    stays = (first.where(kind.in_(sorted(query.types & set(STAY_TYPES))),
                         func.coalesce(end_t, now) > start + limit)
             .cte("stays").prefix_with("MATERIALIZED"))
    # A stay not handed on also ends when the holder poured all of the batch into others, at
    # the batch's last entry: the one at updated_at (every entry of a batch's stream sets it,
    # and times never decrease along a stream), a primary-key look-up for candidates only.
    poured = and_(stays.c.end_t.is_(None), b.holder == stays.c.to_org, b.state == CONSOLIDATED)
    last_t = (select(LogEntry.t_ms).where(LogEntry.idx == b.updated_at)
              .correlate(b).scalar_subquery())
    final_t = case((poured, last_t), else_=stays.c.end_t)
    final_at = case((poured, b.updated_at), else_=stays.c.end_at)
    inner = (select(stays.c.batch, stays.c.to_org, stays.c.answered_at, stays.c.kind,
                    stays.c.due, b.region, final_t.label("end_t"), final_at.label("end_at"))
             .join(b, b.code == stays.c.batch).subquery("ends"))
    rows = session.execute(select(inner).where(
        func.coalesce(inner.c.end_t, now) > inner.c.due))
    for r in rows:
        yield Gap(f"{r.kind}:{r.batch}:{r.answered_at}", r.kind,
                  "high" if r.end_t is None else "low", r.region, (r.batch,), (r.to_org,),
                  (r.answered_at or 0,), r.due, r.end_at, r.end_t, {"holder": r.to_org})


# --- plans and declarations, one round of queries per generator (before issue 15) -----------


def _generators_in(session: Session, region: str | None) -> list[Organisation]:
    return list(session.scalars(select(Organisation).where(
        Organisation.roles.contains("generator"),
        *_region_where(Organisation.region, region)).order_by(Organisation.uscc)))


def _plans_missing(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """A generator with no plan for this year (or last) after its due day: 31 March, or 30
    days after it was registered when that is later; filed late, resolved by the filing."""
    today = dt.date.fromisoformat(beijing_day(query.now_ms))
    for org in _generators_in(session, query.region):
        grace = dt.timedelta(days=settings.for_region(org.region).report_grace_days)
        registered = registered_day(session, org)
        for year in (today.year - 1, today.year):
            if registered.year > year:
                continue
            due = max(plan_due(year, settings.plans), registered + dt.timedelta(days=30))
            if due + grace >= today:
                continue
            plan = session.get(Plan, (org.uscc, year))
            opened = _day_after_ms(due + grace)
            if plan is not None and plan.filed_t_ms <= opened:
                continue
            yield Gap(f"plan_missing:{org.uscc}:{year}", "plan_missing", "medium", org.region,
                      (), (org.uscc,), (org.registered_at,), opened,
                      None if plan is None else plan.filed_at,
                      None if plan is None else plan.filed_t_ms,
                      {"year": year, "due": due.isoformat()})


def _reports_missing(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """A period ended, its due day passed and no declaration filed by then (the class of each
    year sets the periods); filed late, resolved by the filing."""
    today = dt.date.fromisoformat(beijing_day(query.now_ms))
    for org in _generators_in(session, query.region):
        grace = dt.timedelta(days=settings.for_region(org.region).report_grace_days)
        filed = {d.period: d for d in session.scalars(select(Declaration).where(
            Declaration.org == org.uscc))}
        for p in expected_periods(session, org, today, settings.plans):
            due = p.due(settings.plans) + grace
            if due >= today:
                continue
            opened = _day_after_ms(due)
            d = filed.get(p.text) or next(
                (x for x in filed.values() if x.period_from <= p.start.isoformat()
                 and x.period_to >= p.end.isoformat()), None)
            if d is not None and d.filed_t_ms <= opened:
                continue
            yield Gap(f"report_missing:{org.uscc}:{p.text}", "report_missing", "medium",
                      org.region, (), (org.uscc,), (org.registered_at,), opened,
                      None if d is None else d.filed_at, None if d is None else d.filed_t_ms,
                      {"period": p.text, "due": p.due(settings.plans).isoformat()})


# --- generation_anomaly, every series read and judged in Python (before issue 15) ------------


def monthly_generation(session: Session, query: GapQuery) -> dict[tuple[str, str], dict[str, int]]:
    """Declared grams per (generator, waste code) per Beijing month: one GROUP BY over the
    reconciliation summary's monthly totals (``balance_months``)."""
    bm = BalanceMonth
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = session.execute(
        select(bm.generator, bm.waste_code, bm.month, func.sum(bm.declared))
        .where(*_region_where(bm.region, query.region))
        .group_by(bm.generator, bm.waste_code, bm.month))
    for generator, code, month, grams in rows:  # aggregate rows, not batches
        out[(generator, code)][month] = int(grams)
    return out


def _median(values: list[int] | list[float]) -> float:
    """``statistics.median`` (the mean of the middle two for an even count), without its
    generality: it runs once or twice per series."""
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def _anomalies(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """A month far below the enterprise's own history for a waste code (median and MAD)."""
    year, month = map(int, beijing_month(query.now_ms).split("-"))
    judged_no = year * 12 + month - 2  # the last complete month, as year * 12 + month - 1
    judged_month = f"{judged_no // 12:04d}-{judged_no % 12 + 1:02d}"
    regions = dict(session.execute(select(Organisation.uscc, Organisation.region)).all())
    numbers: dict[str, int] = {}  # 'YYYY-MM' -> year * 12 + month - 1, parsed once per month
    series: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for (org, code), months in monthly_generation(session, query).items():
        for text_month, grams in months.items():
            number = numbers.get(text_month)
            if number is None:
                number = numbers[text_month] = int(text_month[:4]) * 12 + int(text_month[5:]) - 1
            series[(org, code)][number] = grams
    found = []
    for (org, code), by_number in series.items():
        region = regions.get(org, "")
        th = settings.for_region(region)
        first = min(by_number)
        if judged_no - first < th.anomaly_months:  # history: first .. judged - 1
            continue
        history = [by_number.get(n, 0) for n in range(first, judged_no)]
        value = by_number.get(judged_no, 0)
        median = _median(history)
        if median <= 0 or value >= median - th.anomaly_mads * (0.1 * median):
            continue  # the spread is at least 0.1 x median: no need for the MAD
        mad = _median([abs(x - median) for x in history]) * 1.4826
        spread = max(mad, 0.1 * median)
        if value < median - th.anomaly_mads * spread:
            found.append(_anomaly_gap(org, code, region, judged_month, value, median, mad))
    return found


# --- manifest_open, every manifest joined to the handover that closed it (before issue 15) ---


def _manifests(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """Transfer manifests the receiver did not confirm (close) within N working days of the
    waste's arrival, on the statutory calendar with its 调休 days (``ledger.custody.workdays``).

    Arrival is the carrier's signed arrival on the manifest; without a carrier leg the
    receiver carries itself and the waste arrives when the manifest opens. SQL returns the
    candidates — closed, or still open, more than N calendar days after arrival: N working
    days are never fewer — and the statutory due time is computed for those only. A due time
    in a year the calendar does not know is not guessed: the finding says so."""

    m, origin = Manifest, aliased(Organisation, name="origin_org")
    region = func.coalesce(origin.region, "")
    days = _threshold(settings, region, "manifest_working_days", 1)
    # The closing entry is the side of one of the manifest's handovers that settled it
    # (custody._close_manifest_if_done): its time is on that handover row, which spares a
    # look-up in the large log_entries table (kept only as the fallback).
    answered = aliased(Handover, name="answered")
    released = aliased(Handover, name="released")
    closed_t = func.coalesce(  # evaluated lazily: the look-ups only where the answer did not
        answered.answered_t_ms,
        select(released.released_t_ms).where(released.manifest == m.number,
                                              released.released_at == m.closed_at)
        .correlate(m).scalar_subquery(),
        select(LogEntry.t_ms).where(LogEntry.idx == m.closed_at).correlate(m).scalar_subquery())
    arrived = func.coalesce(m.arrived_t_ms, m.opened_t_ms)
    inner = (select(m.number, m.origin, m.destination, m.opened_at, m.closed_at, m.arrived_at,
                    region.label("region"), days.label("days"), arrived.label("arrived_t"),
                    (arrived + days * _int(DAY)).label("earliest"),
                    case((m.closed_at.is_not(None), closed_t)).label("closed_t"))
             .outerjoin(origin, origin.uscc == m.origin)
             .outerjoin(answered, and_(answered.manifest == m.number,
                                       answered.answered_at == m.closed_at))
             .where(*_region_where(region, query.region))
             .subquery("manifests"))
    now = literal(query.now_ms, BigInteger)
    candidates = session.execute(select(inner).where(
        func.coalesce(inner.c.closed_t, now) > inner.c.earliest)).all()
    found = []
    for r in candidates:
        # a year the holiday calendar does not know is counted on weekdays (an estimate,
        # marked on the finding), never an error
        counted = working_days_due(r.arrived_t, int(r.days))
        due, unknown = counted.due_ms, counted.unknown_year
        if (r.closed_t if r.closed_t is not None else query.now_ms) <= due:
            continue
        found.append((r, due, unknown))
    batches: dict[str, list[str]] = defaultdict(list)
    numbers = [r.number for r, _, _ in found]
    for i in range(0, len(numbers), 1000):  # the batches of the findings only
        for number, code in session.execute(
                select(Handover.manifest, Handover.batch)
                .where(Handover.manifest.in_(numbers[i:i + 1000])).order_by(Handover.id)):
            batches[number].append(code)
    for r, due, unknown in found:
        detail: dict[str, Any] = {"manifest": r.number, "arrived_ms": r.arrived_t,
                                  "working_days": int(r.days)}
        if unknown is not None:
            detail["calendar_unknown"] = unknown
            detail["deadline_estimated"] = (f"holiday calendar not known for year {unknown}: "
                                            "deadline estimated on weekdays only")
        yield Gap(f"manifest_open:{r.number}", "manifest_open",
                  "low" if unknown is not None else "medium", r.region,
                  tuple(batches[r.number]), (r.origin, r.destination),
                  tuple(i for i in (r.opened_at, r.arrived_at) if i is not None), due,
                  r.closed_at if r.closed_t is not None else None, r.closed_t, detail)


def _lineage(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """Consolidated batches declared off what their parents gave; hand-offs into a batch that
    was never declared (partial index on unlinked lineage rows)."""
    child = aliased(Batch, name="child")
    given = (select(Lineage.child, func.sum(Lineage.mass_g).label("given"))
             .group_by(Lineage.child).subquery("given"))
    tol = _threshold(settings, child.region, "tolerance_permille", 1)
    rows = session.execute(
        select(child.code, child.region, child.generator, child.declared_at,
               child.declared_t_ms, child.declared_mass_g, given.c.given)
        .join(given, given.c.child == child.code)
        .where(child.consolidated == true(), *_region_where(child.region, query.region),
               func.abs(child.declared_mass_g - given.c.given) * 1000 > given.c.given * tol))
    for r in rows:
        yield Gap(f"lineage_imbalance:{r.code}", "lineage_imbalance", "high",
                  r.region, (r.code,), (r.generator,), (r.declared_at,),
                  r.declared_t_ms, None, None,
                  {"parents_g": int(r.given), "child_g": r.declared_mass_g})
    parent = aliased(Batch, name="parent")
    orphans = session.execute(
        select(Lineage.parent, Lineage.child, Lineage.parent_entry, Lineage.mass_g,
               parent.region, parent.holder, LogEntry.t_ms)
        .join(parent, parent.code == Lineage.parent)
        .join(LogEntry, LogEntry.idx == Lineage.parent_entry)  # opened when handed off
        .where(Lineage.child_entry.is_(None), *_region_where(parent.region, query.region)))
    for r in orphans:
        yield Gap(f"lineage_imbalance:{r.parent}:{r.parent_entry}", "lineage_imbalance",
                  "medium", r.region, (r.parent, r.child), (r.holder,),
                  (r.parent_entry,), r.t_ms, None, None,
                  {"reason": "handed off into a batch that was never declared",
                   "mass_g": r.mass_g})

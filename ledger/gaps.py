"""Gaps in the chain of custody (监管缺口): typed findings for regulators.

Each finding names its type and severity, the batches, organisations and log entries involved,
when it opened and — if it has been resolved — the entry that resolved it and when. Findings are
computed from the projections (and the tree, for integrity) every time they are asked for, so
they always reflect the log as it is; their ids are stable (type and the entry or code they
hang on), so a finding can be looked up again and linked to.

Thresholds are configurable per region (most specific region code wins). Times are the signed
times of the entries (``t``), compared with the clock passed in.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .custody import CHINA_OFFSET_MS, CONSOLIDATED
from .models import Checkpoint
from .projections import Batch, Disposal, Handover, Lineage, Manifest, Organisation, Permit

HOUR = 3600 * 1000
DAY = 24 * HOUR

GAP_TYPES = (
    "uncollected_overdue", "handover_unconfirmed", "in_transit_overdue", "mass_discrepancy",
    "undisposed_overdue", "stored_overdue", "permit_violation", "lineage_imbalance",
    "refusal_unresolved", "manifest_open", "integrity", "generation_anomaly",
)
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class Thresholds:
    """When a situation becomes a gap. Durations in days or hours as named."""

    uncollected_days: int = 90
    handover_hours: int = 48
    in_transit_hours: int = 72
    tolerance_permille: int = 50
    undisposed_days: int = 30
    stored_days: int = 365
    refusal_days: int = 14
    manifest_working_days: int = 5
    anomaly_months: int = 4  # history needed before judging a month
    anomaly_mads: float = 3.0  # how many scaled MADs below the median is anomalous


@dataclass(frozen=True)
class GapSettings:
    default: Thresholds = field(default_factory=Thresholds)
    regions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def for_region(self, region: str) -> Thresholds:
        """The most specific override (county, then city, then province) over the default."""
        for key in (region, region[:4] + "00", region[:2] + "0000"):
            if key in self.regions:
                return replace(self.default, **dict(self.regions[key]))
        return self.default


@dataclass(frozen=True)
class Gap:
    id: str
    type: str
    severity: str
    region: str
    batches: tuple[str, ...]
    organisations: tuple[str, ...]
    entries: tuple[int, ...]
    opened_ms: int
    resolved_by: int | None = None
    resolved_ms: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "open" if self.resolved_by is None else "resolved"


@dataclass(frozen=True)
class GapQuery:
    now_ms: int
    region: str | None = None
    types: frozenset[str] = frozenset(GAP_TYPES)
    organisation: str | None = None
    status: str | None = None  # open | resolved
    severity: str | None = None


def find_gaps(session: Session, query: GapQuery, settings: GapSettings) -> list[Gap]:
    """Every gap matching the query, most severe and oldest first."""
    finders: dict[str, Callable[[Session, GapQuery, GapSettings], Iterable[Gap]]] = {
        "uncollected_overdue": _uncollected, "handover_unconfirmed": _unconfirmed,
        "mass_discrepancy": _discrepancies, "permit_violation": _permit_violations,
        "lineage_imbalance": _lineage, "refusal_unresolved": _refusals,
        "manifest_open": _manifests, "integrity": _integrity,
        "generation_anomaly": _anomalies,
    }
    gaps: list[Gap] = []
    for name, finder in finders.items():
        if name in query.types:
            gaps.extend(finder(session, query, settings))
    if query.types & {"in_transit_overdue", "undisposed_overdue", "stored_overdue"}:
        gaps.extend(g for g in _stays(session, query, settings) if g.type in query.types)
    gaps = [g for g in gaps if _matches(g, query)]
    return sorted(gaps, key=lambda g: (SEVERITY_ORDER[g.severity], g.opened_ms, g.id))


def get_gap(session: Session, gap_id: str, query: GapQuery, settings: GapSettings) -> Gap | None:
    kind = gap_id.split(":", 1)[0]
    if kind not in GAP_TYPES:
        return None
    q = replace(query, types=frozenset({kind}), status=None, severity=None)
    return next((g for g in find_gaps(session, q, settings) if g.id == gap_id), None)


def _matches(g: Gap, q: GapQuery) -> bool:
    if q.region and not _in_region(g.region, q.region):
        return False
    if q.organisation and q.organisation not in g.organisations:
        return False
    if q.status and g.status != q.status:
        return False
    return not (q.severity and g.severity != q.severity)


def _in_region(code: str, region: str) -> bool:
    if region.endswith("0000"):
        return code[:2] == region[:2]
    if region.endswith("00"):
        return code[:4] == region[:4]
    return code == region


def _batch_scope(query: GapQuery):  # type: ignore[no-untyped-def]
    stmt = select(Batch)
    if query.region:
        from .access import region_clause

        stmt = stmt.where(region_clause(query.region))
    return stmt


# --- the finders -----------------------------------------------------------------------------


def _first_collection(session: Session) -> dict[str, tuple[int, int]]:
    """Per batch: (time, entry) of the first confirmed handover out of its generator."""
    rows = session.execute(
        select(Handover.batch, Handover.answered_t_ms, Handover.released_t_ms,
               Handover.answered_at, Handover.released_at)
        .join(Batch, Batch.code == Handover.batch)
        .where(Handover.status == "confirmed", Handover.from_org == Batch.generator)
    )
    first: dict[str, tuple[int, int]] = {}
    for code, ans_t, rel_t, ans_at, rel_at in rows:
        # A confirmed handover has both sides; it was confirmed when the later one signed.
        t, idx = max((ans_t or 0, ans_at or 0), (rel_t or 0, rel_at or 0))
        if code not in first or t < first[code][0]:
            first[code] = (t, idx)
    return first


def _uncollected(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    first = _first_collection(session)
    for b in session.scalars(_batch_scope(query).where(Batch.consolidated.is_(False))):
        limit = settings.for_region(b.region).uncollected_days * DAY
        due = b.declared_t_ms + limit
        collected = first.get(b.code)
        if collected is None and query.now_ms <= due or collected and collected[0] <= due:
            continue
        yield Gap(f"uncollected_overdue:{b.code}", "uncollected_overdue",
                  "high" if query.now_ms > due + limit else "medium", b.region, (b.code,),
                  (b.generator,), (b.declared_at,), due,
                  collected[1] if collected else None, collected[0] if collected else None,
                  {"declared_mass_g": b.declared_mass_g, "threshold_days": limit // DAY})


def _handover_rows(session: Session, query: GapQuery):  # type: ignore[no-untyped-def]
    stmt = select(Handover, Batch.region).join(Batch, Batch.code == Handover.batch)
    if query.region:
        from .access import region_clause

        stmt = stmt.where(region_clause(query.region))
    return session.execute(stmt)


def _unconfirmed(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    for ho, region in _handover_rows(session, query):
        if ho.status == "superseded":
            continue
        limit = settings.for_region(region).handover_hours * HOUR
        first_t, first_at = min((t, i) for t, i in ((ho.released_t_ms, ho.released_at),
                                                    (ho.answered_t_ms, ho.answered_at))
                                if t is not None and i is not None)
        done = ho.released_at is not None and ho.answered_at is not None
        last_t, last_at = (max((ho.released_t_ms, ho.released_at),
                               (ho.answered_t_ms, ho.answered_at)) if done else (None, None))
        due = first_t + limit
        if (done and last_t is not None and last_t <= due) or (not done and query.now_ms <= due):
            continue
        yield Gap(f"handover_unconfirmed:{ho.batch}:{first_at}", "handover_unconfirmed",
                  "high" if not done else "low", region, (ho.batch,), (ho.from_org, ho.to_org),
                  (first_at,), due, last_at, last_t,
                  {"manifest": ho.manifest, "missing": None if done else (
                      "answer" if ho.answered_at is None else "release"),
                   "threshold_hours": limit // HOUR})


def _discrepancies(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    for ho, region in _handover_rows(session, query):
        if not ho.discrepancy or ho.answered_at is None:
            continue
        yield Gap(f"mass_discrepancy:{ho.batch}:{ho.answered_at}", "mass_discrepancy",
                  "high", region, (ho.batch,), (ho.from_org, ho.to_org),
                  tuple(i for i in (ho.released_at, ho.answered_at) if i is not None),
                  ho.answered_t_ms or 0, None, None,
                  {"released_mass_g": ho.released_mass_g, "accepted_mass_g": ho.accepted_mass_g,
                   "manifest": ho.manifest})


def _permit_violations(session: Session, query: GapQuery,
                       settings: GapSettings) -> Iterable[Gap]:
    for ho, region in _handover_rows(session, query):
        if ho.permit_flagged:
            yield Gap(f"permit_violation:{ho.batch}:{ho.released_at or ho.answered_at}",
                      "permit_violation", "high", region, (ho.batch,), (ho.to_org,),
                      tuple(i for i in (ho.released_at, ho.answered_at) if i is not None),
                      ho.released_t_ms or ho.answered_t_ms or 0, None, None,
                      {"reason": "permit does not cover code, activity or date"})
    yield from _capacity(session, query)


def _capacity(session: Session, query: GapQuery) -> Iterable[Gap]:
    """Accepted mass per receiver and (Beijing) year against the permits' annual capacity."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    last: dict[tuple[str, str], tuple[int, int, str]] = {}
    for ho in session.scalars(select(Handover).where(Handover.status == "confirmed")):
        t = max(ho.answered_t_ms or 0, ho.released_t_ms or 0)
        year = _beijing(t).strftime("%Y")
        key = (ho.to_org, year)
        totals[key] += ho.accepted_mass_g or 0
        last[key] = max(last.get(key, (0, 0, "")), (t, ho.answered_at or 0, ho.batch))
    capacity = dict(session.execute(
        select(Permit.org, func.max(Permit.capacity_t)).group_by(Permit.org)).all())
    for (org, year), grams in totals.items():
        cap = capacity.get(org)
        if cap is None or grams <= cap * 1_000_000:
            continue
        o = session.get(Organisation, org)
        t, idx, code = last[(org, year)]
        yield Gap(f"permit_violation:capacity:{org}:{year}", "permit_violation", "high",
                  o.region if o else "", (code,), (org,), (idx,), t, None, None,
                  {"reason": "annual capacity exceeded", "year": year,
                   "accepted_g": grams, "capacity_t": cap})


def _lineage(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    sums = session.execute(
        select(Lineage.child, func.sum(Lineage.mass_g))
        .group_by(Lineage.child))
    for child_code, given in sums:
        child = session.get(Batch, child_code)
        if child is None:
            continue  # a hand-off whose child was never declared: mass left the parent
        tol = settings.for_region(child.region).tolerance_permille
        if abs(child.declared_mass_g - given) * 1000 > given * tol:
            yield Gap(f"lineage_imbalance:{child_code}", "lineage_imbalance", "high",
                      child.region, (child_code,), (child.generator,), (child.declared_at,),
                      child.declared_t_ms, None, None,
                      {"parents_g": int(given), "child_g": child.declared_mass_g})
    orphans = session.execute(select(Lineage).where(Lineage.child_entry.is_(None)))
    for (link,) in orphans:
        parent = session.get(Batch, link.parent)
        if parent is None:
            continue
        yield Gap(f"lineage_imbalance:{link.parent}:{link.parent_entry}", "lineage_imbalance",
                  "medium", parent.region, (link.parent, link.child), (parent.holder,),
                  (link.parent_entry,), parent.updated_at, None, None,
                  {"reason": "handed off into a batch that was never declared",
                   "mass_g": link.mass_g})


def _refusals(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    by_batch: dict[str, list[tuple[Handover, str]]] = defaultdict(list)
    for ho, region in _handover_rows(session, query):
        by_batch[ho.batch].append((ho, region))
    for code, rows in by_batch.items():
        rows.sort(key=lambda r: r[0].released_at or r[0].answered_at or 0)
        for i, (ho, region) in enumerate(rows):
            if ho.status != "refused" or ho.answered_t_ms is None:
                continue
            limit = settings.for_region(region).refusal_days * DAY
            due = ho.answered_t_ms + limit
            nxt = next((h for h, _ in rows[i + 1:] if h.released_at is not None), None)
            t_next = nxt.released_t_ms if nxt else None
            if (t_next is not None and t_next <= due) or (t_next is None and
                                                          query.now_ms <= due):
                continue
            yield Gap(f"refusal_unresolved:{code}:{ho.answered_at}", "refusal_unresolved",
                      "medium", region, (code,), (ho.from_org, ho.to_org),
                      (ho.answered_at or 0,), due, nxt.released_at if nxt else None, t_next,
                      {"reason": ho.refusal_reason})


def working_days_after(start_ms: int, days: int) -> int:
    """The moment ``days`` working days (Monday-Friday, Beijing) after ``start_ms``."""
    t = _beijing(start_ms)
    added = 0
    while added < days:
        t += dt.timedelta(days=1)
        if t.weekday() < 5:
            added += 1
    return int((t - dt.timedelta(hours=8)).replace(tzinfo=dt.UTC).timestamp() * 1000)


def _manifests(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    from .models import LogEntry

    for m in session.scalars(select(Manifest)):
        origin = session.get(Organisation, m.origin)
        region = origin.region if origin else ""
        if query.region and not _in_region(region, query.region):
            continue
        due = working_days_after(m.opened_t_ms,
                                 settings.for_region(region).manifest_working_days)
        closed_t = None
        if m.closed_at is not None:
            closed_t = session.scalar(select(LogEntry.t_ms).where(LogEntry.idx == m.closed_at))
        if (closed_t is not None and closed_t <= due) or (closed_t is None and
                                                          query.now_ms <= due):
            continue
        batches = tuple(session.scalars(select(Handover.batch).where(
            Handover.manifest == m.number)).all())
        yield Gap(f"manifest_open:{m.number}", "manifest_open", "medium", region, batches,
                  (m.origin, m.destination), (m.opened_at,), due, m.closed_at, closed_t,
                  {"manifest": m.number})


def _stays(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """How long each holder kept each batch: transporters (hours), collectors and stations
    (their storage period), disposers (until disposal)."""
    roles = {o.uscc: set(o.roles.split()) for o in session.scalars(select(Organisation))}
    by_batch: dict[str, list[tuple[Handover, str]]] = defaultdict(list)
    for ho, region in _handover_rows(session, query):
        if ho.status == "confirmed":
            by_batch[ho.batch].append((ho, region))
    for code, rows in by_batch.items():
        rows.sort(key=lambda r: r[0].answered_at or 0)
        for i, (ho, region) in enumerate(rows):
            yield from _stay_gap(session, query, settings, code, region, ho,
                                 rows[i + 1][0] if i + 1 < len(rows) else None,
                                 roles.get(ho.to_org, set()))


def _stay_gap(session: Session, query: GapQuery, settings: GapSettings, code: str,
              region: str, ho: Handover, nxt: Handover | None,
              roles: set[str]) -> Iterable[Gap]:
    th = settings.for_region(region)
    start = max(ho.answered_t_ms or 0, ho.released_t_ms or 0)
    if roles <= {"transporter"}:
        kind, limit = "in_transit_overdue", th.in_transit_hours * HOUR
    elif roles & {"disposer", "receiver"}:
        kind, limit = "undisposed_overdue", th.undisposed_days * DAY
    else:
        kind, limit = "stored_overdue", th.stored_days * DAY
    end_t, end_at = _stay_end(session, code, ho.to_org, nxt, kind)
    due = start + limit
    if (end_t is not None and end_t <= due) or (end_t is None and query.now_ms <= due):
        return
    yield Gap(f"{kind}:{code}:{ho.answered_at}", kind, "high" if end_t is None else "low",
              region, (code,), (ho.to_org,), (ho.answered_at or 0,), due, end_at, end_t,
              {"holder": ho.to_org})


def _stay_end(session: Session, code: str, holder: str, nxt: Handover | None,
              kind: str) -> tuple[int | None, int | None]:
    if nxt is not None and nxt.from_org == holder and nxt.released_t_ms is not None:
        return nxt.released_t_ms, nxt.released_at
    if kind == "undisposed_overdue":
        d = session.get(Disposal, code)
        if d is not None:
            return d.t_ms, d.entry
    batch = session.get(Batch, code)
    if batch is not None and batch.holder == holder and batch.state == CONSOLIDATED:
        return _last_t(session, code), batch.updated_at
    return None, None


def _last_t(session: Session, code: str) -> int | None:
    from .models import LogEntry

    return session.scalar(select(func.max(LogEntry.t_ms)).where(LogEntry.stream == code))


def _integrity(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """Recompute every leaf hash from its stored note and every stored tree node from the
    leaves, and compare the roots with the published checkpoints (one pass over the log)."""
    from .log import entries_between, log_head
    from .merkle import leaf_hash
    from .models import MerkleNode
    from .tree import append_to_frontier, root_of_frontier

    head = log_head(session)
    published = {cp.size: cp for cp in session.scalars(select(Checkpoint))}
    stored = {(lv, i): h for lv, i, h in session.execute(
        select(MerkleNode.level, MerkleNode.idx, MerkleNode.hash))}
    frontier: list[bytes] = []
    for row in entries_between(session, 0, head.size):
        leaf = leaf_hash(row.note)
        if leaf != row.leaf_hash:
            yield _integrity_gap(f"entry:{row.idx}", row.idx, row.received_ms,
                                 "a stored entry no longer has its leaf hash")
        frontier, completed = append_to_frontier(frontier, row.idx, leaf)
        for level, idx, h in completed:
            if stored.get((level, idx)) != h:
                yield _integrity_gap(f"node:{level}:{idx}", row.idx, row.received_ms,
                                     f"stored tree node ({level}, {idx}) is wrong")
        cp = published.get(row.idx + 1)
        if cp is not None and root_of_frontier(frontier) != cp.root:
            yield _integrity_gap(f"checkpoint:{cp.size}", row.idx, cp.issued_ms,
                                 "the log no longer matches a published checkpoint")


def _integrity_gap(key: str, index: int, t_ms: int, reason: str) -> Gap:
    return Gap(f"integrity:{key}", "integrity", "high", "", (), (), (index,), t_ms, None, None,
               {"reason": reason})


def _beijing(t_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp((t_ms + CHINA_OFFSET_MS) / 1000, tz=dt.UTC).replace(
        tzinfo=None)


def _month(t_ms: int) -> str:
    return _beijing(t_ms).strftime("%Y-%m")


def _months_between(first: str, last: str) -> list[str]:
    y, m = map(int, first.split("-"))
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def monthly_generation(session: Session, query: GapQuery) -> dict[tuple[str, str], dict[str, int]]:
    """Declared grams per (generator, waste code) per Beijing month."""
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    stmt = _batch_scope(query).where(Batch.consolidated.is_(False))
    for b in session.scalars(stmt):
        out[(b.generator, b.waste_code)][_month(b.declared_t_ms)] += b.declared_mass_g
    return out


def _anomalies(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """A month far below the enterprise's own history for a waste code (median and MAD).

    Months without a declaration count as zero: an enterprise that stops declaring is the
    classic sign of waste leaving the system. The last complete month is judged against the
    months before it; the MAD is scaled by 1.4826 to estimate a standard deviation, with a
    floor of 10 % of the median so a very regular history does not flag tiny dips."""
    now_month = _month(query.now_ms)
    for (org, code), months in monthly_generation(session, query).items():
        o = session.get(Organisation, org)
        region = o.region if o else ""
        th = settings.for_region(region)
        series = _months_between(min(months), now_month)[:-1]  # complete months only
        if len(series) < th.anomaly_months + 1:
            continue
        history = [months.get(m, 0) for m in series[:-1]]
        judged_month, value = series[-1], months.get(series[-1], 0)
        median = statistics.median(history)
        mad = statistics.median(abs(x - median) for x in history) * 1.4826
        spread = max(mad, 0.1 * median)
        if median > 0 and value < median - th.anomaly_mads * spread:
            start = dt.datetime.strptime(judged_month + "-01", "%Y-%m-%d")
            opened = int((start - dt.timedelta(hours=8)).replace(tzinfo=dt.UTC).timestamp()
                         * 1000)
            yield Gap(f"generation_anomaly:{org}:{code}:{judged_month}", "generation_anomaly",
                      "medium", region, (), (org,), (), opened, None, None,
                      {"waste_code": code, "month": judged_month, "declared_g": value,
                       "median_g": int(median), "mad_g": int(mad)})


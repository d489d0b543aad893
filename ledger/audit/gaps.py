"""Gaps in the chain of custody (监管缺口): typed findings for regulators.

Each finding names its type and severity, the batches, organisations and log entries involved,
when it opened and — if it has been resolved — the entry that resolved it and when. Findings are
computed from the projections every time they are asked for, so they always reflect the log as
it is; their ids are stable (type and the entry or code they hang on), so a finding can be
looked up again and linked to.

The work runs in the database: each type is one set-based query (joins, window functions,
aggregates, per-region thresholds as a CASE on the region) that returns only the findings, and
Python only turns those rows into ``Gap`` values. Integrity is verified incrementally: a
watermark in the database records how much of the log has been re-verified, and each scan
verifies only the entries appended since. docs/gaps.md explains every type, the indexes and the
generation-anomaly statistics.

Thresholds are configurable per region (most specific region code wins). Times are the signed
times of the entries (``t``), compared with the clock passed in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    and_,
    case,
    delete,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session, aliased

from ledger.audit.intervals import CONFIRMED, STAY_TYPES
from ledger.audit.intervals import z as _z
from ledger.audit.models import (
    BalanceMonth,
    Case,
    CustodyInterval,
    Declaration,
    DeclarationLine,
    LineageTotal,
    Plan,
    PlanLine,
)
from ledger.audit.plans import PlanSettings, periods_due, plan_due
from ledger.clock import (
    BEIJING,
    BEIJING_OFFSET_MS,
    beijing_datetime,
    beijing_day,
    beijing_day_start_ms,
    beijing_month,
)
from ledger.custody.exemptions import ExemptionClaim
from ledger.custody.kinds import WITHDRAWN
from ledger.custody.projections import (
    Batch,
    Handover,
    Lineage,
    Manifest,
    Organisation,
    Permit,
)
from ledger.custody.workdays import working_days_due
from ledger.tlog.db import write_transaction
from ledger.tlog.log import read_head
from ledger.tlog.merkle import append_to_frontier, leaf_hash, root_of_frontier, unpack_frontier
from ledger.tlog.models import (
    Checkpoint,
    IntegrityFinding,
    IntegrityWatermark,
    LogEntry,
    MerkleNode,
)

HOUR = 3600 * 1000
DAY = 24 * HOUR

GAP_TYPES = (
    "uncollected_overdue", "handover_unconfirmed", "in_transit_overdue", "mass_discrepancy",
    "undisposed_overdue", "stored_overdue", "permit_violation", "lineage_imbalance",
    "refusal_unresolved", "manifest_open", "integrity", "generation_anomaly",
    "exemption_misfit", "case_overdue",
    "plan_missing", "plan_exceeded", "code_not_in_plan", "receiver_not_in_plan",
    "report_missing", "report_mismatch", "refused_part_unresolved",
)
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
# Inlined, not bound, so both databases can match it to the partial index's predicate.
REFUSED_HANDOVER: ColumnElement[str] = literal_column("'refused'")


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
    refused_part_days: int = 14  # the refused part of a partial refusal: taken back or re-routed
    manifest_working_days: int = 5
    anomaly_months: int = 4  # history needed before judging a month
    anomaly_mads: float = 3.0  # how many scaled MADs below the median is anomalous
    plan_exceeded_permille: int = 100  # recorded generation above the plan's by more than this
    report_mismatch_permille: int = 50  # declared differs from the ledger by more than this
    report_grace_days: int = 0  # days after a declaration's or plan's due day


@dataclass(frozen=True)
class StorageLimit:
    """How long an organisation may store a waste code or category (固废法 第八十一条: one year
    for hazardous waste unless the permitting authority approved longer; a region may set less
    with ``stored_days``). ``org`` and ``code`` (a waste code or an HW category) narrow it;
    the most specific rule that matches a stay wins."""

    days: int
    org: str | None = None
    code: str | None = None

    @property
    def rank(self) -> int:
        return (2 if self.org else 0) + (1 if self.code else 0)


@dataclass(frozen=True)
class GapSettings:
    default: Thresholds = field(default_factory=Thresholds)
    regions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    storage_limits: tuple[StorageLimit, ...] = ()
    plans: PlanSettings = field(default_factory=PlanSettings)  # classes and due days

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


def find_gaps(session: Session, query: GapQuery, settings: GapSettings, *,
              primary: Session | None = None) -> list[Gap]:
    """Every gap matching the query, most severe and oldest first. ``session`` may read a
    replica; the integrity scan's watermark then advances on ``primary`` (it writes) and the
    replica reports it once it has replayed it."""
    if "integrity" in query.types:
        # its own short write transactions, before the reads
        advance_integrity(primary or session)
    if session.get_bind().dialect.name == "postgresql":
        # the scan sorts and hashes whole tables; the 4 MB default spills them to disk
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    finders: dict[str, Callable[[Session, GapQuery, GapSettings], Iterable[Gap]]] = {
        "uncollected_overdue": _uncollected, "handover_unconfirmed": _unconfirmed,
        "mass_discrepancy": _discrepancies, "permit_violation": _permit_violations,
        "lineage_imbalance": _lineage, "refusal_unresolved": _refusals,
        "manifest_open": _manifests, "integrity": _integrity,
        "generation_anomaly": _anomalies, "exemption_misfit": _exemption_misfits,
        "case_overdue": _cases_overdue,
        "plan_missing": _plans_missing, "plan_exceeded": _plans_exceeded,
        "code_not_in_plan": _codes_not_in_plan, "receiver_not_in_plan": _receivers_not_in_plan,
        "report_missing": _reports_missing, "report_mismatch": _report_mismatches,
        "refused_part_unresolved": _refused_parts,
    }
    gaps: list[Gap] = []
    scan = _SCAN.set({})  # what several finders of this one scan read (_generators)
    try:
        for name, finder in finders.items():
            if name in query.types:
                gaps.extend(finder(session, query, settings))
    finally:
        _SCAN.reset(scan)
    if query.types & set(STAY_TYPES):
        gaps.extend(_stays(session, query, settings))
    gaps = [g for g in gaps if _matches(g, query)]
    return sorted(gaps, key=lambda g: (SEVERITY_ORDER[g.severity], g.opened_ms, g.id))


def get_gap(session: Session, gap_id: str, query: GapQuery, settings: GapSettings, *,
            primary: Session | None = None) -> Gap | None:
    kind = gap_id.split(":", 1)[0]
    if kind not in GAP_TYPES:
        return None
    q = replace(query, types=frozenset({kind}), status=None, severity=None)
    return next((g for g in find_gaps(session, q, settings, primary=primary)
                 if g.id == gap_id), None)


def _matches(g: Gap, q: GapQuery) -> bool:
    if q.region and not _in_region(g.region, q.region):
        return False
    if q.organisation and q.organisation not in g.organisations:
        return False
    if q.status and g.status != q.status:
        return False
    return not (q.severity and g.severity != q.severity)


def _region_prefix(region: str) -> str:
    if region.endswith("0000"):
        return region[:2]
    if region.endswith("00"):
        return region[:4]
    return region


def _in_region(code: str, region: str) -> bool:
    return code.startswith(_region_prefix(region))


def _region_where(column: Any, region: str | None) -> list[ColumnElement[bool]]:
    """``column`` within ``region`` (with its sub-regions) as a range a B-tree serves."""
    if not region:
        return []
    prefix = _region_prefix(region)
    return [column >= prefix.ljust(6, "0"), column <= prefix.ljust(6, "9")]


def _threshold(settings: GapSettings, region: Any, name: str, unit: int) -> ColumnElement[int]:
    """``settings.for_region(region).<name> * unit`` as SQL: a CASE over the configured region
    codes, county first, then city, then province (as ``GapSettings.for_region``)."""
    default = int(getattr(settings.default, name)) * unit
    if not settings.regions:
        return _int(default)
    whens: list[tuple[ColumnElement[bool], ColumnElement[int]]] = []
    city = func.substr(region, 1, 4, type_=String) + "00"
    province = func.substr(region, 1, 2, type_=String) + "0000"
    for level in (region, city, province):
        for key in settings.regions:
            value = int(getattr(settings.for_region(key), name)) * unit
            whens.append((level == key, _int(value)))
    return case(*whens, else_=_int(default))


def _storage_limit(settings: GapSettings, region: Any, org: Any, batch: Any) -> Any:
    """The storage period of a stay in ms: the most specific ``storage_limits`` rule for the
    holder and the batch's code or category, else the region's ``stored_days``."""
    fallback = _threshold(settings, region, "stored_days", DAY)
    if not settings.storage_limits:
        return fallback
    whens = []
    for rule in sorted(settings.storage_limits, key=lambda r: -r.rank):
        conds = [] if rule.org is None else [org == rule.org]
        if rule.code is not None:
            conds.append(batch.category == rule.code if len(rule.code) == 4
                         else batch.waste_code == rule.code)
        whens.append((and_(true(), *conds), _int(rule.days * DAY)))
    return case(*whens, else_=fallback)


def _int(value: int) -> ColumnElement[int]:
    """An inlined integer constant, typed so that ``//`` stays integer division."""
    return literal_column(str(int(value)), BigInteger)


# --- the finders -----------------------------------------------------------------------------


def _candidates(session: Session, query: GapQuery, settings: GapSettings, kind: str,
                name: str, unit: int, *, storage: bool = False) -> Any:
    """The summary rows of ``kind`` that are findings: open past their due time, or ended
    after it, with the threshold ``name`` of each row's region.

    Only two index ranges on ``(kind, span)`` are read: the open rows, and the rows longer
    than the smallest threshold configured anywhere (a row no longer than that cannot have
    ended late); the exact comparison with each row's own threshold follows in the same
    statement. ``storage``: the storage period of the holder and the batch's code or category
    (``storage_limits``) where one is configured."""
    ci = CustodyInterval
    shortest = min(int(getattr(t, name)) * unit for t in _every_threshold(settings))
    limits = settings.storage_limits if storage else ()
    shortest = min([shortest, *(rule.days * DAY for rule in limits)])
    floor = shortest
    where = [ci.kind == kind, *_region_where(ci.region, query.region)]
    rows = union_all(select(ci).where(*where, ci.span.is_(None)),
                     select(ci).where(*where, ci.span > floor)).subquery("candidates")
    limit = (_storage_limit(settings, rows.c.region, rows.c.org_a, Batch) if limits
             else _threshold(settings, rows.c.region, name, unit))
    due = rows.c.start_t + limit
    now = literal(query.now_ms, BigInteger)
    open_late = now > due
    # a stay ended by pouring the batch away counts once the clock is past its due time too
    # (as the scan before the summary had it: its end is the batch's last entry)
    ended_late = and_(rows.c.end_t > due,
                      or_(rows.c.note.is_(None), rows.c.note != literal_column("'poured'"),
                          open_late))
    found = select(rows, limit.label("limit"), due.label("due")).where(or_(
        and_(rows.c.end_t.is_not(None), ended_late), and_(rows.c.end_t.is_(None), open_late)))
    if limits:  # the batch's code and category, for the candidates only
        found = found.join(Batch, Batch.code == rows.c.batch)
    return session.execute(found)


def _every_threshold(settings: GapSettings) -> list[Thresholds]:
    return [settings.default, *(settings.for_region(key) for key in settings.regions)]


def _uncollected(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """Original batches not collected within N days of declaration (the first settled
    handover out of the generator, timed when its later side was signed)."""
    for r in _candidates(session, query, settings, "uncollected_overdue", "uncollected_days",
                         DAY):
        yield Gap(f"uncollected_overdue:{r.ref}", "uncollected_overdue",
                  "high" if query.now_ms > r.due + r.limit else "medium", r.region, (r.batch,),
                  (r.org_a,), (r.entry,), r.due, r.end_at, r.end_t,
                  {"declared_mass_g": r.mass_g, "threshold_days": r.limit // DAY})


def _unconfirmed(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """Handovers with one side signed and the other missing, or signed late."""
    for r in _candidates(session, query, settings, "handover_unconfirmed", "handover_hours",
                         HOUR):
        done = r.end_t is not None
        yield Gap(f"handover_unconfirmed:{r.ref}", "handover_unconfirmed",
                  "high" if not done else "low", r.region, (r.batch,), (r.org_a, r.org_b),
                  (r.entry,), r.due, r.end_at if done else None, r.end_t if done else None,
                  {"manifest": r.manifest, "missing": r.note, "threshold_hours": r.limit // HOUR})


def _flagged(session: Session, query: GapQuery, flag: ColumnElement[bool]) -> Any:
    """Handovers carrying a flag set when they were recorded (partial index on the flags)."""
    ho, b = Handover, Batch
    return session.execute(
        select(ho.batch, ho.from_org, ho.to_org, ho.manifest, ho.released_at, ho.answered_at,
               ho.released_t_ms, ho.answered_t_ms, ho.released_mass_g, ho.accepted_mass_g,
               b.region)
        .join(b, b.code == ho.batch)
        .where(or_(ho.discrepancy, ho.permit_flagged), flag,
               *_region_where(b.region, query.region)))


def _discrepancies(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    ho = Handover
    for r in _flagged(session, query, and_(ho.discrepancy == true(),
                                           ho.answered_at.is_not(None))):
        yield Gap(f"mass_discrepancy:{r.batch}:{r.answered_at}", "mass_discrepancy",
                  "high", r.region, (r.batch,), (r.from_org, r.to_org),
                  tuple(i for i in (r.released_at, r.answered_at) if i is not None),
                  r.answered_t_ms or 0, None, None,
                  {"released_mass_g": r.released_mass_g, "accepted_mass_g": r.accepted_mass_g,
                   "manifest": r.manifest})


def _exemption_misfits(session: Session, query: GapQuery,
                       settings: GapSettings) -> Iterable[Gap]:
    """Exemptions claimed (豁免管理清单) whose stage is not what the receiver does, or that the
    receiver did not carry out (it passed the waste on, or recorded the other stage)."""
    c, b = ExemptionClaim, Batch
    rows = session.execute(
        select(c.batch, c.org, c.edition, c.item, c.row, c.stage, c.misfit, c.claimed_at,
               c.claimed_t_ms, c.misfit_at, b.region, LogEntry.t_ms.label("misfit_t_ms"))
        .join(b, b.code == c.batch)
        .outerjoin(LogEntry, LogEntry.idx == c.misfit_at)
        .where(c.fits == false(), *_region_where(b.region, query.region)))
    for r in rows:
        yield Gap(f"exemption_misfit:{r.batch}:{r.claimed_at}", "exemption_misfit", "high",
                  r.region, (r.batch,), (r.org,),
                  tuple(i for i in (r.claimed_at, r.misfit_at) if i is not None),
                  r.misfit_t_ms if r.misfit_t_ms is not None else r.claimed_t_ms, None, None,
                  {"edition": r.edition, "item": r.item, "row": r.row, "stage": r.stage,
                   "reason": r.misfit})


def _permit_violations(session: Session, query: GapQuery,
                       settings: GapSettings) -> Iterable[Gap]:
    for r in _flagged(session, query, Handover.permit_flagged == true()):
        yield Gap(f"permit_violation:{r.batch}:{r.released_at or r.answered_at}",
                  "permit_violation", "high", r.region, (r.batch,), (r.to_org,),
                  tuple(i for i in (r.released_at, r.answered_at) if i is not None),
                  r.released_t_ms or r.answered_t_ms or 0, None, None,
                  {"reason": "permit does not cover code, activity or date"})
    yield from _capacity(session, query)


def _year(t_ms: Any, dialect: str) -> ColumnElement[str]:
    """The Beijing year (YYYY) of a time in ms."""
    shifted = (t_ms + literal_column(str(BEIJING_OFFSET_MS))) // literal_column("1000")
    if dialect == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), func.to_timestamp(shifted))
        return func.to_char(utc, literal_column("'YYYY'"))
    return func.strftime(literal_column("'%Y'"), shifted, literal_column("'unixepoch'"))


def _capacity(session: Session, query: GapQuery) -> Iterable[Gap]:
    """Accepted mass per receiver and (Beijing) year against the permits' annual capacity:
    one GROUP BY over settled handovers of receivers that hold a permit."""
    ho = Handover
    dialect = session.get_bind().dialect.name
    t = case((ho.answered_t_ms >= _z(ho.released_t_ms), ho.answered_t_ms),
             else_=_z(ho.released_t_ms))
    caps = dict(session.execute(select(Permit.org, func.max(Permit.capacity_t))
                                .group_by(Permit.org)).all())
    if not caps:
        return
    # Grams per receiver and Beijing *day* (integer arithmetic, no date function per row):
    # a few hundred rows per receiver and year, summed into years here.
    day = (_z(t) + _int(BEIJING_OFFSET_MS)) // _int(DAY)
    per_day = session.execute(
        select(ho.to_org, day.label("day"), func.sum(_z(ho.accepted_mass_g)))
        .where(ho.status == CONFIRMED, ho.to_org.in_(sorted(caps)))
        .group_by(ho.to_org, day)).all()
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for org, day_no, grams in per_day:
        totals[(org, str((dt.date(1970, 1, 1) + dt.timedelta(days=int(day_no))).year))] += int(
            grams)
    for (org, year), grams in sorted(totals.items()):
        cap = caps[org]
        if grams <= cap * 1_000_000:
            continue
        last = session.execute(  # the handover that took it over: only for the findings
            select(_z(t).label("last_t"), _z(ho.answered_at).label("last_at"), ho.batch)
            .where(ho.status == CONFIRMED, ho.to_org == org,
                   _year(_z(t), dialect) == year)
            .order_by(_z(t).desc(), _z(ho.answered_at).desc(), ho.batch.desc())
            .limit(1)).one()
        region = session.scalar(select(Organisation.region).where(Organisation.uscc == org))
        yield Gap(f"permit_violation:capacity:{org}:{year}", "permit_violation", "high",
                  region or "", (last.batch,), (org,), (last.last_at,), last.last_t, None, None,
                  {"reason": "annual capacity exceeded", "year": year,
                   "accepted_g": grams, "capacity_t": cap})


def _lineage(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """Consolidated batches declared off what their parents gave, from the lineage totals
    (``ledger.audit.lineage``): while no tolerance configured anywhere is negative, a balanced
    batch cannot be flagged, so only the rows whose two figures differ are read (partial index);
    hand-offs into a batch that was never declared (partial index on unlinked lineage rows)."""
    lt = LineageTotal
    tol = _threshold(settings, lt.region, "tolerance_permille", 1)
    unbalanced = ([lt.given_g != lt.declared_g]
                  if min(th.tolerance_permille for th in _every_threshold(settings)) >= 0
                  else [])
    rows = session.execute(
        select(lt.child.label("code"), lt.region, lt.generator, lt.declared_at,
               lt.declared_t_ms, lt.declared_g.label("declared_mass_g"),
               lt.given_g.label("given"))
        .where(*unbalanced, *_region_where(lt.region, query.region),
               func.abs(lt.declared_g - lt.given_g) * 1000 > lt.given_g * tol))
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
    for o in orphans:
        yield Gap(f"lineage_imbalance:{o.parent}:{o.parent_entry}", "lineage_imbalance",
                  "medium", o.region, (o.parent, o.child), (o.holder,),
                  (o.parent_entry,), o.t_ms, None, None,
                  {"reason": "handed off into a batch that was never declared",
                   "mass_g": o.mass_g})


def _refusals(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """Whole refusals not followed by a new release of the batch within N days."""
    ho, b = Handover, Batch
    nxt = aliased(Handover, name="nxt")
    key = func.coalesce(ho.released_at, ho.answered_at, 0)
    next_at = (select(func.min(nxt.released_at))
               .where(nxt.batch == ho.batch, nxt.released_at > key)
               .correlate(ho).scalar_subquery())
    limit = _threshold(settings, b.region, "refusal_days", DAY)
    inner = (select(ho.batch, ho.from_org, ho.to_org, ho.answered_at, ho.refusal_reason,
                    b.region, (ho.answered_t_ms + limit).label("due"),
                    next_at.label("next_at"))
             .join(b, b.code == ho.batch)
             .where(ho.status == REFUSED_HANDOVER, ho.answered_t_ms.is_not(None),
                    *_region_where(b.region, query.region))
             .subquery("refusals"))
    then = aliased(Handover, name="then")
    rows = session.execute(
        select(inner, then.released_t_ms.label("next_t"))
        .outerjoin(then, and_(then.batch == inner.c.batch, then.released_at == inner.c.next_at))
        .where(or_(and_(then.released_t_ms.is_not(None), then.released_t_ms > inner.c.due),
                   and_(then.released_t_ms.is_(None),
                        literal(query.now_ms, BigInteger) > inner.c.due))))
    for r in rows:
        yield Gap(f"refusal_unresolved:{r.batch}:{r.answered_at}", "refusal_unresolved",
                  "medium", r.region, (r.batch,), (r.from_org, r.to_org),
                  (r.answered_at or 0,), r.due, r.next_at if r.next_t is not None else None,
                  r.next_t, {"reason": r.refusal_reason})


def _refused_parts(session: Session, query: GapQuery,
                   settings: GapSettings) -> Iterable[Gap]:
    """The refused part of a partial refusal neither returned nor re-routed within N days of
    the refusal: returned when the enterprise that made the batch, as the 移出人, took it back
    (batch.refused_part); otherwise, by whoever took it back, at the part's first release —
    back to its enterprise or on to another receiver (docs/custody.md 3.17)."""
    ho, b = Handover, Batch
    part = aliased(Batch, name="part")
    nxt = aliased(Handover, name="nxt")
    first_release = (select(func.min(nxt.released_at))
                     .where(nxt.batch == ho.refused_part, nxt.released_at.is_not(None))
                     .correlate(ho).scalar_subquery())
    returned = ho.from_org == b.generator
    limit = _threshold(settings, b.region, "refused_part_days", DAY)
    inner = (select(ho.batch, ho.from_org, ho.to_org, b.generator, ho.answered_at,
                    ho.refused_mass_g, ho.refusal_reason, ho.refused_part, b.region,
                    limit.label("limit"), (ho.answered_t_ms + limit).label("due"),
                    case((returned, part.declared_at), else_=first_release).label("done_at"),
                    case((returned, part.declared_t_ms), else_=None).label("returned_t"))
             .join(b, b.code == ho.batch)
             .outerjoin(part, part.code == ho.refused_part)
             .where(ho.status == literal_column("'confirmed'"), ho.refused_mass_g.is_not(None),
                    ho.answered_t_ms.is_not(None), *_region_where(b.region, query.region))
             .subquery("refused_parts"))
    then = aliased(Handover, name="then")
    done_t = func.coalesce(inner.c.returned_t, then.released_t_ms)
    rows = session.execute(
        select(inner, done_t.label("done_t"))
        .outerjoin(then, and_(then.batch == inner.c.refused_part,
                              then.released_at == inner.c.done_at))
        .where(or_(and_(done_t.is_not(None), done_t > inner.c.due),
                   and_(done_t.is_(None), literal(query.now_ms, BigInteger) > inner.c.due))))
    for r in rows:
        done = r.done_t is not None
        yield Gap(f"refused_part_unresolved:{r.batch}:{r.answered_at}",
                  "refused_part_unresolved", "medium", r.region, (r.batch,),
                  tuple(dict.fromkeys((r.from_org, r.to_org, r.generator))),
                  (r.answered_at,), r.due, r.done_at if done else None,
                  r.done_t if done else None,
                  {"refused_mass_g": r.refused_mass_g, "reason": r.refusal_reason,
                   "refused_part": r.refused_part, "threshold_days": r.limit // DAY})


def _manifests(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """Transfer manifests the receiver did not confirm (close) within N working days of the
    waste's arrival, on the statutory calendar with its 调休 days (``ledger.custody.workdays``).

    Arrival is the carrier's signed arrival on the manifest; without a carrier leg the
    receiver carries itself and the waste arrives when the manifest opens. The custody
    handlers keep on each manifest its closing time and its span (closing − arrival, NULL
    while open), so SQL reads only two ranges of ``ix_manifests_span_ms``: the open manifests
    and those closed more than the smallest configured number of calendar days after arrival
    (N working days are never fewer than N calendar days, so nothing later is missed). The
    candidates are then compared with their own region's N calendar days, and the statutory
    due time is computed for those only. A due time in a year the calendar does not know is
    not guessed: the finding says so."""

    m, origin = Manifest, aliased(Organisation, name="origin_org")
    floor = min(int(t.manifest_working_days) for t in _every_threshold(settings)) * DAY
    columns = (m.number, m.origin, m.destination, m.opened_at, m.closed_at, m.arrived_at,
               m.opened_t_ms, m.arrived_t_ms, m.closed_t_ms)
    rows = union_all(select(*columns).where(m.span_ms.is_(None)),
                     select(*columns).where(m.span_ms > _int(floor))).subquery("manifests")
    region = func.coalesce(origin.region, "")
    days = _threshold(settings, region, "manifest_working_days", 1)
    arrived = func.coalesce(rows.c.arrived_t_ms, rows.c.opened_t_ms)
    now = literal(query.now_ms, BigInteger)
    candidates = session.execute(
        select(rows.c.number, rows.c.origin, rows.c.destination, rows.c.opened_at,
               rows.c.closed_at, rows.c.arrived_at, region.label("region"),
               days.label("days"), arrived.label("arrived_t"),
               rows.c.closed_t_ms.label("closed_t"))
        .select_from(rows)
        .outerjoin(origin, origin.uscc == rows.c.origin)
        .where(*_region_where(region, query.region),
               func.coalesce(rows.c.closed_t_ms, now) > arrived + days * _int(DAY))).all()
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


def _cases_overdue(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """Cases past their rectification deadline (整改时限, a Beijing day) and not closed by the
    end of it; closed late, the gap is resolved by the close-out."""
    today = beijing_day(query.now_ms)
    rows = session.scalars(select(Case).where(
        Case.deadline.is_not(None), Case.deadline < today,
        *_region_where(Case.region, query.region)).order_by(Case.id))
    for c in rows:
        assert c.deadline is not None
        due = beijing_day_start_ms(dt.date.fromisoformat(c.deadline) + dt.timedelta(days=1))
        if c.closed_t_ms is not None and c.closed_t_ms <= due:
            continue
        involved = tuple(dict.fromkeys(o for o in (c.assignee, *c.organisations.split())
                                       if o))
        yield Gap(f"case_overdue:{c.id}", "case_overdue", c.severity, c.region,
                  tuple(c.batches.split()), involved, (c.opened_at,), due,
                  c.closed_at, c.closed_t_ms,
                  {"case": c.id, "deadline": c.deadline, "state": c.state,
                   "assignee": c.assignee})


# --- plans and declarations (docs/plans.md) -------------------------------------------------


@lru_cache(maxsize=4096)
def _day_after_ms(day: dt.date) -> int:
    """00:00 Beijing of the day after ``day``. Cached: a scan asks it once per finding, and
    most findings of a type share a due day (31 March, a period's due day)."""
    return beijing_day_start_ms(day + dt.timedelta(days=1))


_EPOCH_DAY = dt.date(1970, 1, 1)


def _beijing_date(t_ms: int) -> dt.date:
    """``date.fromisoformat(beijing_day(t_ms))`` by integer arithmetic (UTC+8 has no DST)."""
    return _EPOCH_DAY + dt.timedelta(days=(t_ms + BEIJING_OFFSET_MS) // DAY)


@dataclass(frozen=True)
class _Generator:
    uscc: str
    region: str
    registered_at: int
    registered: dt.date  # the Beijing day of its org.registered entry


class _Generators:
    """Every generator of the region with the facts its plan and declaration obligations
    depend on, fetched in a few set-based queries (not one round per organisation): its
    registration day, its plans of the two years, its declarations and, for a year without a
    plan, the generation recorded the year before (which sets its management class)."""

    def __init__(self, session: Session, region: str | None, today: dt.date,
                 settings: GapSettings) -> None:
        o = Organisation
        self.session, self.region, self.today, self.settings = session, region, today, settings
        self.where = [o.roles.contains("generator"), *_region_where(o.region, region)]
        # the org.registered entry's time: an outer join, a missing entry is time 0 as in
        # plans.registered_day
        self.all = [_Generator(r.uscc, r.region, r.registered_at,
                               _beijing_date(int(r.t_ms or 0)))
                    for r in session.execute(
                        select(o.uscc, o.region, o.registered_at, LogEntry.t_ms)
                        .outerjoin(LogEntry, LogEntry.idx == o.registered_at)
                        .where(*self.where).order_by(o.uscc))]
        self.years = (today.year - 1, today.year)
        self.plans: dict[tuple[str, int], Plan] = {
            (p.org, p.year): p for p in session.scalars(
                select(Plan).join(o, o.uscc == Plan.org)
                .where(*self.where, Plan.year.in_(self.years)))}
        self._recorded: dict[tuple[str, int], int] | None = None
        self._thresholds: dict[str, Thresholds] = {}

    def thresholds(self, region: str) -> Thresholds:
        if region not in self._thresholds:
            self._thresholds[region] = self.settings.for_region(region)
        return self._thresholds[region]

    def recorded(self) -> dict[tuple[str, int], int]:
        """Grams of original batches each generator declared in each of the two years before
        a plan year (``plans.recorded_generation``), from the monthly totals the
        reconciliation summary keeps (``balance_months``, Beijing months of declaration): one
        pass over about a third as many rows as the originals, in primary-key order."""
        if self._recorded is None:
            first = self.years[0] - 1
            bm = BalanceMonth
            lo, mid, hi = (f"{first + k:04d}-01" for k in range(3))
            query = (select(bm.generator,
                            func.sum(case((bm.month < mid, bm.declared), else_=0)),
                            func.sum(case((bm.month >= mid, bm.declared), else_=0)))
                     .where(bm.month >= lo, bm.month < hi)
                     .group_by(bm.generator))
            if self.region is not None:
                query = query.where(bm.generator.in_(
                    select(Organisation.uscc).where(*self.where)))
            self._recorded = {}
            for org, before, last in self.session.execute(query):
                self._recorded[(org, first)] = int(before or 0)
                self._recorded[(org, first + 1)] = int(last or 0)
        return self._recorded

    def management_class(self, org: str, year: int) -> str:
        """``plans.management_class``: the plan's class, else last year's recorded figures."""
        plan = self.plans.get((org, year))
        if plan is not None:
            return plan.management_class
        return self.settings.plans.management_class(self.recorded().get((org, year - 1), 0))

    def declarations(self) -> dict[str, list[Declaration]]:
        """Each generator's declarations, in period order (as its primary key reads them)."""
        out: dict[str, list[Declaration]] = defaultdict(list)
        for d in self.session.scalars(select(Declaration)
                                      .join(Organisation, Organisation.uscc == Declaration.org)
                                      .where(*self.where)
                                      .order_by(Declaration.org, Declaration.period)):
            out[d.org].append(d)
        return out


# Facts read once per scan and shared by its finders, keyed by what they depend on. Set by
# find_gaps for the duration of one scan only, so nothing outlives the scan's reads.
_SCAN: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("gap_scan", default=None)


def _generators(session: Session, query: GapQuery, settings: GapSettings,
                today: dt.date) -> _Generators:
    """The region's generators and their facts, read once per scan: ``plan_missing`` and
    ``report_missing`` both start from them."""
    memo = _SCAN.get()
    key = ("generators", id(session), query.region, today, id(settings))
    if memo is not None and key in memo:
        found: _Generators = memo[key]
        return found
    gens = _Generators(session, query.region, today, settings)
    if memo is not None:
        memo[key] = gens
    return gens


def _plans_missing(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """A generator with no plan for this year (or last) after its due day: 31 March, or 30
    days after it was registered when that is later; filed late, resolved by the filing."""
    today = dt.date.fromisoformat(beijing_day(query.now_ms))
    gens = _generators(session, query, settings, today)
    for org in gens.all:
        grace = dt.timedelta(days=gens.thresholds(org.region).report_grace_days)
        registered = org.registered
        for year in gens.years:
            if registered.year > year:
                continue
            due = max(plan_due(year, settings.plans), registered + dt.timedelta(days=30))
            if due + grace >= today:
                continue
            plan = gens.plans.get((org.uscc, year))
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
    year sets the periods); filed late, resolved by the filing. A declaration of another
    granularity that covers the period counts (the first in period order)."""
    today = dt.date.fromisoformat(beijing_day(query.now_ms))
    gens = _generators(session, query, settings, today)
    declared = gens.declarations()
    for org in gens.all:
        grace = dt.timedelta(days=gens.thresholds(org.region).report_grace_days)
        filed = {d.period: d for d in declared.get(org.uscc, ())}
        for p in periods_due(today, org.registered, partial(gens.management_class, org.uscc)):
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


def _plan_year_batches(session: Session, query: GapQuery) -> Iterable[tuple[Plan, list[Batch]]]:
    """Each plan (in the region) with its organisation's original batches of that year."""
    for plan in session.scalars(select(Plan).where(*_region_where(Plan.region, query.region))
                                .order_by(Plan.org, Plan.year)):
        lo = beijing_day_start_ms(dt.date(plan.year, 1, 1))
        hi = beijing_day_start_ms(dt.date(plan.year + 1, 1, 1))
        yield plan, list(session.scalars(select(Batch).where(
            Batch.generator == plan.org, Batch.consolidated == false(),
            Batch.state != WITHDRAWN, Batch.declared_t_ms >= lo, Batch.declared_t_ms < hi)
            .order_by(Batch.declared_t_ms, Batch.declared_at)))


def _plan_lines(session: Session, plan: Plan) -> dict[str, PlanLine]:
    return {line.waste_code: line for line in session.scalars(select(PlanLine).where(
        PlanLine.org == plan.org, PlanLine.year == plan.year))}


def _plans_exceeded(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """A planned code whose generation recorded in the plan's year went beyond the planned
    quantity by more than the threshold; opened by the batch that took it over."""
    for plan, batches in _plan_year_batches(session, query):
        lines = _plan_lines(session, plan)
        permille = settings.for_region(plan.region).plan_exceeded_permille
        running: dict[str, int] = defaultdict(int)
        for b in batches:
            line = lines.get(b.waste_code)
            if line is None:
                continue
            before = running[b.waste_code]
            running[b.waste_code] += b.declared_mass_g
            limit = line.generation_g * (1000 + permille)
            if before * 1000 <= limit < running[b.waste_code] * 1000:
                total = sum(x.declared_mass_g for x in batches if x.waste_code == b.waste_code)
                yield Gap(f"plan_exceeded:{plan.org}:{plan.year}:{b.waste_code}",
                          "plan_exceeded", "medium", plan.region, (b.code,), (plan.org,),
                          (plan.updated_at, b.declared_at), b.declared_t_ms, None, None,
                          {"year": plan.year, "waste_code": b.waste_code,
                           "planned_g": line.generation_g, "recorded_g": total})


def _codes_not_in_plan(session: Session, query: GapQuery,
                       settings: GapSettings) -> Iterable[Gap]:
    """Batches of a code the enterprise's plan for that year does not list."""
    for plan, batches in _plan_year_batches(session, query):
        lines = _plan_lines(session, plan)
        outside: dict[str, list[Batch]] = defaultdict(list)
        for b in batches:
            if b.waste_code not in lines:
                outside[b.waste_code].append(b)
        for code, found in sorted(outside.items()):
            yield Gap(f"code_not_in_plan:{plan.org}:{plan.year}:{code}", "code_not_in_plan",
                      "low", plan.region, tuple(b.code for b in found), (plan.org,),
                      (plan.updated_at, found[0].declared_at), found[0].declared_t_ms,
                      None, None, {"year": plan.year, "waste_code": code,
                                   "recorded_g": sum(b.declared_mass_g for b in found)})


def _receivers_not_in_plan(session: Session, query: GapQuery,
                           settings: GapSettings) -> Iterable[Gap]:
    """Waste of a planned code handed over to a receiver the plan does not name for it
    (handovers settled in the plan's year)."""
    ho = Handover
    for plan in session.scalars(select(Plan).where(*_region_where(Plan.region, query.region))
                                .order_by(Plan.org, Plan.year)):
        lines = _plan_lines(session, plan)
        lo = beijing_day_start_ms(dt.date(plan.year, 1, 1))
        hi = beijing_day_start_ms(dt.date(plan.year + 1, 1, 1))
        rows = session.execute(
            select(Batch.code, Batch.waste_code, ho.to_org, ho.answered_at, ho.answered_t_ms,
                   ho.released_t_ms, ho.accepted_mass_g)
            .join(Batch, Batch.code == ho.batch)
            .where(Batch.generator == plan.org, Batch.consolidated == false(),
                   ho.from_org == plan.org, ho.to_org != plan.org, ho.status == CONFIRMED)
            .order_by(ho.id)).all()
        found: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for r in rows:
            t = max(_z_py(r.answered_t_ms), _z_py(r.released_t_ms))
            line = lines.get(r.waste_code)
            if lo <= t < hi and line is not None and r.to_org not in line.receivers.split():
                found[(r.waste_code, r.to_org)].append((r, t))
        for (code, receiver), items in sorted(found.items()):
            first, t = items[0]
            yield Gap(f"receiver_not_in_plan:{plan.org}:{plan.year}:{code}:{receiver}",
                      "receiver_not_in_plan", "low", plan.region,
                      tuple(dict.fromkeys(r.code for r, _ in items)), (plan.org, receiver),
                      (plan.updated_at, first.answered_at), t, None, None,
                      {"year": plan.year, "waste_code": code, "receiver": receiver,
                       "planned": lines[code].receivers.split(),
                       "mass_g": sum(_z_py(r.accepted_mass_g) for r, _ in items)})


def _z_py(value: int | None) -> int:
    return int(value or 0)


def _report_mismatches(session: Session, query: GapQuery,
                       settings: GapSettings) -> Iterable[Gap]:
    """A declared code whose generated or transferred quantity differs from what the ledger
    recorded (as signed with the declaration) by more than the threshold; an amendment that
    brings it within closes it."""
    d, line = Declaration, DeclarationLine
    rows = session.execute(
        select(d.org, d.period, d.region, d.updated_at, d.filed_t_ms, line.waste_code,
               line.generated_g, line.ledger_generated_g, line.transferred_g,
               line.ledger_transferred_g)
        .join(line, and_(line.org == d.org, line.period == d.period))
        .where(*_region_where(d.region, query.region))
        .order_by(d.org, d.period_from, line.waste_code)).all()
    for r in rows:
        permille = settings.for_region(r.region).report_mismatch_permille
        off = {}
        for name, declared, recorded in (("generated", r.generated_g, r.ledger_generated_g),
                                         ("transferred", r.transferred_g,
                                          r.ledger_transferred_g)):
            if abs(declared - recorded) * 1000 > recorded * permille and declared != recorded:
                off[name] = {"declared_g": declared, "ledger_g": recorded}
        if off:
            yield Gap(f"report_mismatch:{r.org}:{r.period}:{r.waste_code}", "report_mismatch",
                      "medium", r.region, (), (r.org,), (r.updated_at,), r.filed_t_ms, None,
                      None, {"period": r.period, "waste_code": r.waste_code, **off})


def _stays(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """How long each holder kept each batch: transporters (hours), collectors and stations
    (their storage period), disposers (until disposal). A stay ends when the holder released
    the batch again, when a disposer disposed of it, or when the holder poured all of it into
    other batches (``ledger.audit.intervals``)."""
    thresholds = {STAY_TYPES[0]: ("in_transit_hours", HOUR),
                  STAY_TYPES[1]: ("undisposed_days", DAY), STAY_TYPES[2]: ("stored_days", DAY)}
    for kind in STAY_TYPES:
        if kind not in query.types:
            continue
        name, unit = thresholds[kind]
        for r in _candidates(session, query, settings, kind, name, unit,
                             storage=kind == STAY_TYPES[2]):
            yield Gap(f"{kind}:{r.ref}", kind, "high" if r.end_t is None else "low", r.region,
                      (r.batch,), (r.org_a,), (r.entry or 0,), r.due, r.end_at, r.end_t,
                      {"holder": r.org_a})


# --- integrity: verified incrementally up to a watermark --------------------------------------

INTEGRITY_CHUNK = 20_000  # entries verified per write transaction


def advance_integrity(session: Session, *, chunk: int = INTEGRITY_CHUNK,
                      progress: Callable[[int, int], None] | None = None) -> int:
    """Re-verify the entries appended since the last scan, and advance the watermark.

    Each new leaf hash is recomputed from the stored note, each tree node those leaves
    complete is compared with the stored one, and each published checkpoint in the range
    with the recomputed root. Findings are kept in ``integrity_findings``. Returns the
    number of entries verified. A trigger sends the watermark back to 0 when stored nodes or
    checkpoints are changed, so tampering after verification is found at the next scan."""

    head = read_head(session, lock=False)
    state = session.get(IntegrityWatermark, 1, populate_existing=True)
    if head is None or (state is not None and state.verified_size >= head.size):
        return 0  # up to date: no write transaction, no lock
    done = 0
    while True:
        with write_transaction(session):
            state = _lock_watermark(session)
            head = read_head(session, lock=False)
            size = 0 if head is None else head.size
            start = state.verified_size
            if start >= size:
                return done
            if start == 0:  # from scratch: whatever frontier and findings were kept
                session.execute(delete(IntegrityFinding))
            stop = min(size, start + chunk)
            kept = unpack_frontier(state.frontier) if start > 0 else []
            frontier = _verify_range(session, start, stop, kept)
            state.verified_size, state.frontier = stop, b"".join(frontier)
            done += stop - start
        if progress is not None:
            progress(stop, size)


def _lock_watermark(session: Session) -> IntegrityWatermark:
    state = session.scalars(select(IntegrityWatermark).where(IntegrityWatermark.id == 1)
                            .with_for_update()
                            .execution_options(populate_existing=True)).first()
    if state is None:
        state = IntegrityWatermark(id=1, verified_size=0, frontier=b"")
        session.add(state)
        session.flush()
    return state


def _verify_range(session: Session, start: int, stop: int,
                  frontier: list[bytes]) -> list[bytes]:
    """Verify entries [start, stop) on top of ``frontier`` (the recomputed frontier at
    ``start``); record findings; return the frontier at ``stop``."""

    levels = range(1, max(stop, 1).bit_length() + 1)
    stored = {(lv, i): bytes(h) for lv, i, h in session.execute(
        select(MerkleNode.level, MerkleNode.idx, MerkleNode.hash).where(or_(*(
            and_(MerkleNode.level == lv, MerkleNode.idx >= start >> lv,
                 MerkleNode.idx < stop >> lv) for lv in levels))))}
    published = {size: (bytes(root), issued) for size, root, issued in session.execute(
        select(Checkpoint.size, Checkpoint.root, Checkpoint.issued_ms)
        .where(Checkpoint.size >= start, Checkpoint.size <= stop))}
    findings: list[IntegrityFinding] = []
    if start in published and start > 0 and root_of_frontier(frontier) != published[start][0]:
        findings.append(IntegrityFinding(key=f"checkpoint:{start}", idx=start - 1,
                                         t_ms=published[start][1], reason=CHECKPOINT_REASON))
    rows = session.execute(select(LogEntry.idx, LogEntry.note, LogEntry.leaf_hash,
                                  LogEntry.received_ms)
                           .where(LogEntry.idx >= start, LogEntry.idx < stop)
                           .order_by(LogEntry.idx))
    for idx, note, stored_leaf, received_ms in rows:
        leaf = leaf_hash(note)
        if leaf != stored_leaf:
            findings.append(IntegrityFinding(key=f"entry:{idx}", idx=idx, t_ms=received_ms,
                                             reason="a stored entry no longer has its leaf hash"))
        frontier, completed = append_to_frontier(frontier, idx, leaf)
        for level, i, h in completed:
            if stored.get((level, i)) != h:
                findings.append(IntegrityFinding(
                    key=f"node:{level}:{i}", idx=idx, t_ms=received_ms,
                    reason=f"stored tree node ({level}, {i}) is wrong"))
        cp = published.get(idx + 1)
        if cp is not None and root_of_frontier(frontier) != cp[0]:
            findings.append(IntegrityFinding(key=f"checkpoint:{idx + 1}", idx=idx, t_ms=cp[1],
                                             reason=CHECKPOINT_REASON))
    for finding in findings:
        session.merge(finding)
    return frontier


CHECKPOINT_REASON = "the log no longer matches a published checkpoint"


def _integrity(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """What the incremental verification found (``advance_integrity`` ran first), and any
    checkpoint published at exactly the watermark since (compared with the kept frontier)."""
    for f in session.scalars(select(IntegrityFinding)):
        yield _integrity_gap(f.key, f.idx, f.t_ms, f.reason)
    state = session.get(IntegrityWatermark, 1)
    if state is None or state.verified_size == 0:
        return
    cp = session.get(Checkpoint, state.verified_size)
    if cp is not None and f"checkpoint:{cp.size}" not in {
            f.key for f in session.scalars(select(IntegrityFinding))} and (
            root_of_frontier(unpack_frontier(state.frontier)) != cp.root):
        yield _integrity_gap(f"checkpoint:{cp.size}", cp.size - 1, cp.issued_ms,
                             CHECKPOINT_REASON)


def _integrity_gap(key: str, index: int, t_ms: int, reason: str) -> Gap:
    return Gap(f"integrity:{key}", "integrity", "high", "", (), (), (index,), t_ms, None, None,
               {"reason": reason})


def _beijing(t_ms: int) -> dt.datetime:
    return beijing_datetime(t_ms).replace(tzinfo=None)


def _month(t_ms: int) -> str:
    return beijing_month(t_ms)


def _anomaly_series(session: Session, query: GapQuery, latest_first: str) -> Any:
    """Per (generator, waste code) whose first month is no later than ``latest_first`` (a
    later one leaves too short a history to judge): the first month and every monthly total
    row as ``'YYYY-MM:grams'``, joined with commas. One GROUP BY over ``balance_months``
    returns one row per series instead of one per month; a month split over several rows
    (regions, categories) is summed by the caller."""
    bm = BalanceMonth
    packed = func.aggregate_strings(bm.month + literal(":") + sql_cast(bm.declared, String), ",")
    return session.execute(
        select(bm.generator, bm.waste_code, func.min(bm.month), packed)
        .where(*_region_where(bm.region, query.region))
        .group_by(bm.generator, bm.waste_code)
        .having(func.min(bm.month) <= latest_first))


def _anomaly_gap(org: str, code: str, region: str, judged_month: str, value: int,
                 median: float, mad: float) -> Gap:
    start = dt.datetime.strptime(judged_month + "-01", "%Y-%m-%d")
    opened = int(start.replace(tzinfo=BEIJING).timestamp() * 1000)
    return Gap(f"generation_anomaly:{org}:{code}:{judged_month}", "generation_anomaly",
               "medium", region, (), (org,), (), opened, None, None,
               {"waste_code": code, "month": judged_month, "declared_g": value,
                "median_g": int(median), "mad_g": int(mad)})


def _median(values: list[int] | list[float]) -> float:
    """``statistics.median`` (the mean of the middle two for an even count), without its
    generality: it runs once or twice per series."""
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def _anomalies(session: Session, query: GapQuery, settings: GapSettings) -> Iterable[Gap]:
    """A month far below the enterprise's own history for a waste code (median and MAD).

    Months without a declaration count as zero: an enterprise that stops declaring is the
    classic sign of waste leaving the system. The last complete month is judged against the
    months before it; the MAD is scaled by 1.4826 to estimate a standard deviation, with a
    floor of 10 % of the median so a very regular history does not flag tiny dips.

    The database returns one row per series with its monthly totals packed in a string
    (``_anomaly_series``); the statistics run here over those (a dozen months per series).
    The same computation as window functions in SQL gave identical findings but ran slower
    on both databases (docs/gaps.md section 4)."""
    year, month = map(int, _month(query.now_ms).split("-"))
    judged_no = year * 12 + month - 2  # the last complete month, as year * 12 + month - 1
    judged_month = f"{judged_no // 12:04d}-{judged_no % 12 + 1:02d}"
    fewest = min(int(t.anomaly_months) for t in _every_threshold(settings))
    latest = judged_no - fewest
    regions = dict(session.execute(select(Organisation.uscc, Organisation.region)).all())
    thresholds: dict[str, Thresholds] = {}
    numbers: dict[str, int] = {}  # 'YYYY-MM' -> year * 12 + month - 1, parsed once per month
    found = []
    for org, code, first_month, packed in _anomaly_series(
            session, query, f"{latest // 12:04d}-{latest % 12 + 1:02d}"):
        region = regions.get(org, "")
        th = thresholds.get(region)
        if th is None:
            th = thresholds[region] = settings.for_region(region)
        first = numbers.get(first_month)
        if first is None:
            first = numbers[first_month] = int(first_month[:4]) * 12 + int(first_month[5:]) - 1
        length = judged_no - first
        if length < th.anomaly_months:  # history: first .. judged - 1
            continue
        history = [0] * length
        value = 0
        for item in packed.split(","):  # 'YYYY-MM:grams', one per summary row
            number = numbers.get(item[:7])
            if number is None:
                number = numbers[item[:7]] = int(item[:4]) * 12 + int(item[5:7]) - 1
            at = number - first
            if at < length:
                history[at] += int(item[8:])
            elif at == length:
                value += int(item[8:])
        median = _median(history)
        if median <= 0 or value >= median - th.anomaly_mads * (0.1 * median):
            continue  # the spread is at least 0.1 x median: no need for the MAD
        mad = _median([abs(x - median) for x in history]) * 1.4826
        spread = max(mad, 0.1 * median)
        if value < median - th.anomaly_mads * spread:
            found.append(_anomaly_gap(org, code, region, judged_month, value, median, mad))
    return found

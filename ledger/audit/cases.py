"""Cases (问题 → 交办 → 整改 → 销号): a problem found, assigned, rectified and closed out, each
step a signed entry in the case's own stream ``case:<id>``.

The handlers below run inside the append transaction like the custody kinds (wired into the
log's kinds by ``ledger.bootstrap``): they check who may take each step and the order of
states, then update the ``cases`` projection. docs/cases.md has the kinds, their data, the
rules and the state diagram.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, literal, or_, select
from sqlalchemy.orm import Session

from ledger.audit.gaps import GAP_TYPES, Gap, GapQuery, GapSettings, find_gaps
from ledger.audit.models import Case
from ledger.clock import beijing_day
from ledger.custody.codes import region_contains, validate_region
from ledger.custody.kinds import _date, _org_ref, _str, organisation
from ledger.custody.principals import Principal
from ledger.custody.projections import Batch, Organisation
from ledger.errors import Conflict, NotFound, PayloadInvalid, PermissionDenied, RuleViolation
from ledger.tlog.entries import parse_entry
from ledger.tlog.log import AppendContext, KindHandler, LogConfig
from ledger.tlog.models import LogEntry
from ledger.tlog.registry import operator_act

CASE_STREAM_PREFIX = "case:"
CASE_ID_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._\-]{0,63}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")

# States (docs/cases.md has the diagram)
OPENED = "opened"  # 立案
ASSIGNED = "assigned"  # 交办, waiting for the assignee's report
RESPONDED = "responded"  # 整改报告 submitted, waiting for review
RETURNED = "returned"  # 退回: the assignee must report again
ACCEPTED = "accepted"  # 验收通过, waiting for close-out
CLOSED = "closed"  # 销号
REOPENED = "reopened"  # 重新打开, to be assigned again
STATES = (OPENED, ASSIGNED, RESPONDED, RETURNED, ACCEPTED, CLOSED, REOPENED)
OPEN_STATES = frozenset(STATES) - {CLOSED}

SOURCES = frozenset({"gap", "inspection", "public_report", "video_iot"})
SEVERITIES = frozenset({"high", "medium", "low"})
MAX_LIST = 100  # organisations, batches, evidence files or linked entries in one entry

# Which state each kind may follow.
ALLOWED_FROM: Mapping[str, frozenset[str]] = {
    "case.assigned": frozenset({OPENED, ASSIGNED, RETURNED, REOPENED}),
    "case.responded": frozenset({ASSIGNED, RETURNED}),
    "case.reviewed": frozenset({RESPONDED}),
    "case.closed": frozenset({ACCEPTED}),
    "case.reopened": frozenset({CLOSED}),
}


@dataclass(frozen=True)
class CaseSettings:
    """Case policy: the regions (GB/T 2260 codes, a city or province covering its counties)
    where a close-out needs a second regulator's signature on the same note (两级销号)."""

    two_level_regions: frozenset[str] = field(default_factory=frozenset)

    def two_level(self, region: str) -> bool:
        return any(region_contains(r, region) for r in self.two_level_regions)


def case_stream(case_id: str) -> str:
    """The stream of a case."""
    return CASE_STREAM_PREFIX + case_id


def regulates(org: Organisation, region: str) -> bool:
    """The operator, or a regulator whose region contains ``region``, acts for cases there."""
    return org.has_role("operator") or (org.has_role("regulator")
                                        and region_contains(org.region, region))


# --- look-ups ------------------------------------------------------------------------------


def _case_id(ctx: AppendContext) -> str:
    stream = ctx.entry.stream
    case_id = stream[len(CASE_STREAM_PREFIX):] if stream.startswith(CASE_STREAM_PREFIX) else ""
    if not CASE_ID_RE.fullmatch(case_id):
        raise PayloadInvalid("a case's stream is case:<id>, the id 1-64 letters, digits, "
                             "'.', '_' or '-'", code="case_stream_invalid", field="stream")
    return case_id


def _case(ctx: AppendContext) -> Case:
    case = ctx.session.get(Case, _case_id(ctx))
    if case is None:
        raise RuleViolation("this case has not been opened", code="case_unknown",
                            field="stream")
    allowed = ALLOWED_FROM[ctx.entry.kind]
    if case.state not in allowed:
        raise RuleViolation(f"{ctx.entry.kind} cannot follow the state {case.state} (only "
                            f"{', '.join(sorted(allowed))})", code="case_state_invalid",
                            field="kind")
    return case


def _require_regulator(ctx: AppendContext, region: str) -> Organisation:
    signer = organisation(ctx.session, ctx.entry.org)
    if not regulates(signer, region):
        raise PermissionDenied(f"only a regulator of region {region} or the operator may "
                               f"{ctx.entry.kind.split('.')[1].removesuffix('ed')} a case",
                               code="case_forbidden", field="org")
    return signer


def _touch(ctx: AppendContext, case: Case, state: str) -> None:
    case.state = state
    case.updated_at = ctx.index


def _text_list(data: Mapping[str, Any], key: str, check: Any, *, required: bool) -> list[str]:
    value = data.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value) or len(value) > MAX_LIST:
        raise PayloadInvalid(f"data.{key} must list 1-{MAX_LIST} items", code="field_invalid",
                             field=f"data.{key}")
    out = [check(value, i) for i in range(len(value))]
    if len(set(out)) != len(out):
        raise PayloadInvalid(f"data.{key} lists an item twice", code="field_invalid",
                             field=f"data.{key}")
    return out


# --- the kinds -------------------------------------------------------------------------------


def on_opened(ctx: AppendContext) -> None:
    """case.opened (seq 0): a regulator of the region opens a case (立案)."""
    e, data = ctx.entry, ctx.entry.data
    case_id = _case_id(ctx)
    if e.seq != 0:
        raise RuleViolation("a case is opened by its first entry", code="case_exists",
                            field="seq")
    region = validate_region(_str(data, "region", max_len=6) or "")
    _require_regulator(ctx, region)
    source = data.get("source")
    if source not in SOURCES:
        raise PayloadInvalid(f"data.source is one of {sorted(SOURCES)}", code="field_invalid",
                             field="data.source")
    gap_id = _gap_id(ctx.session, data, source)
    severity = data.get("severity")
    if severity not in SEVERITIES:
        raise PayloadInvalid(f"data.severity is one of {sorted(SEVERITIES)}",
                             code="field_invalid", field="data.severity")

    def org(value: list[Any], i: int) -> str:
        uscc = _org_ref({"o": value[i]}, "o")
        organisation(ctx.session, uscc, f"data.organisations[{i}]")
        return uscc

    def batch(value: list[Any], i: int) -> str:
        code = _str({f"batches[{i}]": value[i]}, f"batches[{i}]", max_len=37) or ""
        if ctx.session.get(Batch, code) is None:  # a case names only batches on the ledger
            raise RuleViolation(f"batch {code} has not been declared", code="batch_unknown",
                                field=f"data.batches[{i}]")
        return code

    orgs = _text_list(data, "organisations", org, required=True)
    batches = _text_list(data, "batches", batch, required=False)
    ctx.session.add(Case(
        id=case_id, region=region, state=OPENED, source=source, type=_str(data, "type",
                                                                           max_len=64),
        severity=severity, gap_id=gap_id, title=_str(data, "title"),
        facts=_str(data, "facts", max_len=5000), organisations=" ".join(orgs),
        batches=" ".join(batches), assignee=None, person=None, measures=None, deadline=None,
        progress=None, reopened=0, opened_at=ctx.index, opened_t_ms=e.t_ms, closed_at=None,
        closed_t_ms=None, updated_at=ctx.index))
    ctx.session.flush()


def _gap_id(session: Session, data: Mapping[str, Any], source: str) -> str | None:
    """The gap a case is opened from: named when (and only when) the source is a gap, and not
    already the subject of a case still open (one gap, one case at a time)."""
    if source != "gap":
        if data.get("gap") is not None:
            raise PayloadInvalid("data.gap is given only when data.source is gap",
                                 code="field_invalid", field="data.gap")
        return None
    gap_id = _str(data, "gap", max_len=200)
    assert gap_id is not None
    if ":" not in gap_id:
        raise PayloadInvalid("data.gap is a gap id like uncollected_overdue:<batch>",
                             code="field_invalid", field="data.gap")
    other = session.scalar(select(Case.id).where(Case.gap_id == gap_id,
                                                 Case.state != CLOSED).limit(1))
    if other is not None:
        raise Conflict(f"gap {gap_id} is already case {other}", code="case_exists_for_gap",
                       field="data.gap")
    return gap_id


def on_assigned(ctx: AppendContext) -> None:
    """case.assigned: a regulator of the region assigns the case (交办): who rectifies, the
    person responsible, the measures required and the deadline. May be repeated to reassign."""
    data = ctx.entry.data
    case = _case(ctx)
    _require_regulator(ctx, case.region)
    assignee = _org_ref(data, "assignee")
    organisation(ctx.session, assignee, "data.assignee")
    case.assignee = assignee
    case.person = _str(data, "person", max_len=100)
    case.measures = _str(data, "measures", max_len=5000)
    case.deadline = _date(data, "deadline")
    _touch(ctx, case, ASSIGNED)


def on_responded(ctx: AppendContext) -> None:
    """case.responded: the assignee reports its rectification (整改报告), with evidence files
    named by their SHA-256 and links to the ledger entries that fixed the situation."""
    e, data = ctx.entry, ctx.entry.data
    case = _case(ctx)
    if e.org != case.assignee:
        raise PermissionDenied("only the organisation the case is assigned to may respond",
                               code="not_assignee", field="org")
    report = _str(data, "report", max_len=5000)

    def evidence(value: list[Any], i: int) -> str:
        item = value[i]
        where = f"data.evidence[{i}]"
        if not isinstance(item, dict) or not SHA256_RE.fullmatch(str(item.get("sha256", ""))):
            raise PayloadInvalid(f"{where}.sha256 is the file's SHA-256 in lower-case hex",
                                 code="field_invalid", field=f"{where}.sha256")
        _str(item, "name", max_len=200, required=False)
        return str(item["sha256"])

    def linked(value: list[Any], i: int) -> str:
        idx = value[i]
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < ctx.index or (
                ctx.session.get(LogEntry, idx) is None):
            raise RuleViolation(f"data.entries[{i}] is not the index of an earlier entry",
                                code="entry_unknown", field=f"data.entries[{i}]")
        return str(idx)

    _text_list(data, "evidence", evidence, required=False)
    _text_list(data, "entries", linked, required=False)
    case.progress = report
    _touch(ctx, case, RESPONDED)


def on_reviewed(ctx: AppendContext) -> None:
    """case.reviewed: a regulator accepts the report (验收通过) or returns it with reasons."""
    data = ctx.entry.data
    case = _case(ctx)
    _require_regulator(ctx, case.region)
    result = data.get("result")
    if result not in ("accepted", "returned"):
        raise PayloadInvalid("data.result is accepted or returned", code="field_invalid",
                             field="data.result")
    _str(data, "reasons", max_len=2000, required=result == "returned")
    _touch(ctx, case, ACCEPTED if result == "accepted" else RETURNED)


def make_closed_handler(settings: CaseSettings) -> KindHandler:
    def on_closed(ctx: AppendContext) -> None:
        """case.closed: a regulator closes out the case (销号) after an accepted report; where
        two-level sign-off is configured, a second regulator of the region co-signs the note."""
        e, data = ctx.entry, ctx.entry.data
        case = _case(ctx)
        _require_regulator(ctx, case.region)
        _str(data, "note", max_len=2000, required=False)
        if settings.two_level(case.region):
            _require_second_signoff(ctx, case.region)
        case.closed_at, case.closed_t_ms = ctx.index, e.t_ms
        _touch(ctx, case, CLOSED)

    return on_closed


def _require_second_signoff(ctx: AppendContext, region: str) -> None:
    others = ctx.verdict.signer_orgs - {ctx.entry.org}
    for uscc in sorted(others):
        org = ctx.session.get(Organisation, uscc)
        if org is not None and regulates(org, region):
            return
    raise PermissionDenied(f"closing a case in {region} needs a second regulator's signature "
                           "on the same note (两级销号)", code="cosignature_missing",
                           field="note")


def on_reopened(ctx: AppendContext) -> None:
    """case.reopened: a regulator reopens a closed case (the problem came back, 反弹). With
    ``data.lookback`` it is the look-back's own finding (回头看), which only the operator key
    signs: ``run_lookbacks`` is the one writer of it."""
    data = ctx.entry.data
    case = _case(ctx)
    signer = _require_regulator(ctx, case.region)
    _str(data, "reason", max_len=2000)
    if "lookback" in data:
        if not signer.has_role("operator"):
            raise PermissionDenied("a look-back (回头看) reopening is signed by the operator "
                                   "key only", code="case_forbidden", field="org")
        _lookback_data(data["lookback"])
    case.reopened += 1
    case.closed_at = case.closed_t_ms = None
    _touch(ctx, case, REOPENED)


def _lookback_data(value: Any) -> None:
    """``{"gap": <the recurring gap id>, "days": <days from the close-out to the look-back>}``."""
    if not isinstance(value, dict) or set(value) != {"gap", "days"}:
        raise PayloadInvalid("data.lookback is {gap, days}", code="field_invalid",
                             field="data.lookback")
    gap = _str(value, "gap", max_len=200) or ""
    days = value["days"]
    if ":" not in gap:
        raise PayloadInvalid("data.lookback.gap is a gap id", code="field_invalid",
                             field="data.lookback.gap")
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 36_600:
        raise PayloadInvalid("data.lookback.days is a whole number of days",
                             code="field_invalid", field="data.lookback.days")


def case_kinds(settings: CaseSettings | None = None) -> dict[str, KindHandler]:
    """The case kinds with their handlers."""
    s = settings or CaseSettings()
    return {
        "case.opened": on_opened,
        "case.assigned": on_assigned,
        "case.responded": on_responded,
        "case.reviewed": on_reviewed,
        "case.closed": make_closed_handler(s),
        "case.reopened": on_reopened,
    }


def get_case(session: Session, case_id: str) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} does not exist", code="case_unknown", field="id")
    return case


# --- reading cases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilters:
    """What a case list may be narrowed to (all optional)."""

    state: str | None = None
    type: str | None = None
    deadline_before: str | None = None  # YYYY-MM-DD: deadline earlier than this day
    organisation: str | None = None  # assigned to or involved


def _region_range(region: str) -> tuple[str, str]:
    """The case regions a regulator of ``region`` covers, as a range a B-tree serves."""
    prefix = region[:2] if region.endswith("0000") else region[:4] if region.endswith(
        "00") else region
    return prefix.ljust(6, "0"), prefix.ljust(6, "9")


def case_visibility(principal: Principal) -> ColumnElement[bool] | None:
    """Which cases ``principal`` may read: the operator all, a regulator its region's, any
    other organisation the cases assigned to it (None: everything)."""
    if principal.is_operator:
        return None
    if principal.is_regulator:
        low, high = _region_range(principal.region)
        return and_(Case.region >= low, Case.region <= high)
    return Case.assignee == principal.org


def case_entry_visibility(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause on log entries: outside ``case:`` streams everything, inside them only
    the cases ``principal`` may read (None: everything). A case's entries carry its facts,
    organisations and batches; a regulator of another region must not read them in the log."""
    seen = case_visibility(principal)
    if seen is None:
        return None
    streams = select(literal(CASE_STREAM_PREFIX).concat(Case.id)).where(seen)
    return or_(~LogEntry.stream.startswith(CASE_STREAM_PREFIX, autoescape=True),
               LogEntry.stream.in_(streams))


def list_cases(session: Session, principal: Principal, filters: CaseFilters) -> list[Case]:
    """The cases ``principal`` may read, filtered, the nearest deadline first."""
    query = select(Case)
    seen = case_visibility(principal)
    if seen is not None:
        query = query.where(seen)
    if filters.state:
        query = query.where(Case.state == filters.state)
    if filters.type:
        query = query.where(Case.type == filters.type)
    if filters.deadline_before:
        query = query.where(Case.deadline < filters.deadline_before)
    if filters.organisation:
        query = query.where(or_(Case.assignee == filters.organisation,
                                Case.organisations.contains(filters.organisation)))
    order = (Case.deadline.is_(None), Case.deadline, Case.opened_at)
    return list(session.scalars(query.order_by(*order)))


def visible_case(session: Session, principal: Principal, case_id: str) -> Case:
    """The case, if ``principal`` may read it; a case it may not read does not exist for it."""
    query = select(Case).where(Case.id == case_id)
    seen = case_visibility(principal)
    if seen is not None:
        query = query.where(seen)
    case = session.scalars(query).first()
    if case is None:
        raise NotFound(f"no case {case_id} visible to you", code="case_unknown", field="id")
    return case


def case_entries(session: Session, case_id: str) -> list[LogEntry]:
    """The case's entries in stream order, with their exact signed notes."""
    return list(session.scalars(select(LogEntry).where(LogEntry.stream == case_stream(case_id))
                                .order_by(LogEntry.seq)))


def next_case_id(session: Session, region: str, year: int) -> str:
    """The next free id of the convention ``<region>-<year>-<serial>`` (e.g. 331002-2026-0007).
    Two regulators asking at once get the same id; the second's ``case.opened`` then meets
    ``case_exists`` and is asked again."""
    prefix = f"{region}-{year}-"
    taken = session.scalars(select(Case.id).where(Case.id >= prefix,
                                                  Case.id < prefix + "~")).all()
    serials = [int(t[len(prefix):]) for t in taken if t[len(prefix):].isdigit()]
    return f"{prefix}{max(serials, default=0) + 1:04d}"


def open_case_for_gap(session: Session, gap_id: str) -> Case | None:
    """The case of a gap that is not closed yet, if any (one gap, one open case)."""
    return session.scalars(select(Case).where(Case.gap_id == gap_id, Case.state != CLOSED)
                           .limit(1)).first()


@dataclass(frozen=True)
class CaseStep:
    """One signed step of a case as a page shows it."""

    index: int
    kind: str
    org: str
    t_ms: int
    data: Mapping[str, Any]


def case_history(session: Session, case_id: str) -> list[CaseStep]:
    """The case's entries in order, their data read from the signed notes."""
    return [CaseStep(e.idx, e.kind, e.org, e.t_ms, parse_entry(e.note).data)
            for e in case_entries(session, case_id)]


def overdue(case: Case, today: str) -> bool:
    """Past its deadline (the Beijing day ``today`` is after it) and not closed."""
    return case.deadline is not None and case.deadline < today and case.state != CLOSED


# --- the dashboard's figures: 整改率, 销号率, overdue, recurred --------------------------------

RECTIFIED = frozenset({ACCEPTED, CLOSED})  # the report was accepted (整改到位)


@dataclass
class CaseFigures:
    """Counts of cases opened in a period (one region, one month, or all of them).

    ``rectified``: the report was accepted (accepted or closed now); ``closed``: 销号 now;
    ``overdue``: past the deadline day and not closed; ``recurred``: reopened at least once
    (反弹). The rates are over the cases opened: 整改率 = rectified / cases, 销号率 = closed /
    cases (None with no case)."""

    key: str
    cases: int = 0
    rectified: int = 0
    closed: int = 0
    overdue: int = 0
    recurred: int = 0

    def add(self, case: Case, today: str) -> None:
        self.cases += 1
        self.rectified += case.state in RECTIFIED
        self.closed += case.state == CLOSED
        self.overdue += overdue(case, today)
        self.recurred += case.reopened > 0

    @property
    def rectify_rate(self) -> float | None:
        return self.rectified / self.cases if self.cases else None

    @property
    def close_rate(self) -> float | None:
        return self.closed / self.cases if self.cases else None


@dataclass(frozen=True)
class CaseReport:
    total: CaseFigures
    by_region: list[CaseFigures]
    by_month: list[CaseFigures]  # YYYY-MM, Beijing, of the opening


def case_report(session: Session, principal: Principal, *, region: str | None,
                from_ms: int | None, to_ms: int | None, today: str) -> CaseReport:
    """The figures of the cases ``principal`` may read that were opened in [from_ms, to_ms)
    in ``region`` (and its sub-regions), in total, per county and per month."""
    query = select(Case)
    seen = case_visibility(principal)
    if seen is not None:
        query = query.where(seen)
    if region:
        low, high = _region_range(region)
        query = query.where(Case.region >= low, Case.region <= high)
    if from_ms is not None:
        query = query.where(Case.opened_t_ms >= from_ms)
    if to_ms is not None:
        query = query.where(Case.opened_t_ms < to_ms)
    return tally(session.scalars(query), today)


def tally(cases: Iterable[Case], today: str) -> CaseReport:
    """The figures of ``cases``: in total, per county and per month of opening."""
    total = CaseFigures("合计")
    regions: dict[str, CaseFigures] = {}
    months: dict[str, CaseFigures] = {}
    for case in cases:
        total.add(case, today)
        regions.setdefault(case.region, CaseFigures(case.region)).add(case, today)
        month = beijing_day(case.opened_t_ms)[:7]
        months.setdefault(month, CaseFigures(month)).add(case, today)
    return CaseReport(total, [regions[k] for k in sorted(regions)],
                      [months[k] for k in sorted(months)])


# --- 回头看: the look-back after close-out ------------------------------------------------------

DAY_MS = 86_400_000


@dataclass(frozen=True)
class LookbackSettings:
    """When a closed case is looked at again (回头看): from ``after_days`` after its close-out
    on, for a gap of its type involving its responsible organisation that started after the
    close-out and at most ``within_days`` after it (a gap later than that is a new problem,
    for a new case)."""

    after_days: int = 30
    within_days: int = 90

    def __post_init__(self) -> None:
        if not 0 <= self.after_days <= self.within_days:
            raise ValueError("look-back days: 0 <= after_days <= within_days")


@dataclass(frozen=True)
class Recurrence:
    """A case the look-back reopened (反弹): the gap that came back and the signed entry."""

    case_id: str
    gap_id: str
    days: int  # whole days from the close-out to the look-back that found it
    index: int  # the case.reopened entry


def lookback_due(session: Session, settings: LookbackSettings, now_ms: int) -> list[Case]:
    """Closed cases opened from a gap whose close-out is at least ``after_days`` old."""
    cutoff = now_ms - settings.after_days * DAY_MS
    return list(session.scalars(select(Case).where(
        Case.state == CLOSED, Case.source == "gap", Case.type.in_(GAP_TYPES),
        Case.closed_t_ms <= cutoff).order_by(Case.closed_t_ms, Case.id)))


def recurrence(session: Session, case: Case, gaps: GapSettings, settings: LookbackSettings,
               now_ms: int) -> Gap | None:
    """The originating gap query run again for the case's responsible organisation and gap
    type: the originating gap if it is still open (it was closed out, but not fixed), else the
    first gap that started after the close-out and within ``within_days`` of it (open, or
    resolved since: it came back either way)."""
    assert case.closed_t_ms is not None
    org = case.assignee or case.organisations.split()[0]
    until = case.closed_t_ms + settings.within_days * DAY_MS
    found = find_gaps(session, GapQuery(now_ms=now_ms, region=case.region,
                                        types=frozenset({case.type}), organisation=org), gaps)
    still = [g for g in found if g.id == case.gap_id and g.status == "open"]
    back = [g for g in found if case.closed_t_ms < g.opened_ms <= until]
    ordered = still or sorted(back, key=lambda g: (g.opened_ms, g.id))
    return ordered[0] if ordered else None


def run_lookbacks(session: Session, config: LogConfig, gaps: GapSettings,
                  settings: LookbackSettings | None = None,
                  now_ms: int | None = None) -> list[Recurrence]:
    """回头看: for every case closed at least ``after_days`` ago, run its gap query again; a
    recurrence reopens the case with a ``case.reopened`` signed by the operator key, marked
    反弹 (``data.lookback``). Idempotent: a reopened case is no longer closed, so a second run
    (or another process racing this one) finds nothing more to do."""
    settings = settings or LookbackSettings()
    now = config.clock() if now_ms is None else now_ms
    done: list[Recurrence] = []
    for case in lookback_due(session, settings, now):
        gap = recurrence(session, case, gaps, settings, now)
        if gap is None:
            continue
        assert case.closed_t_ms is not None
        days = (now - case.closed_t_ms) // DAY_MS
        case_id, closed_day = case.id, beijing_day(case.closed_t_ms)
        try:
            receipt = operator_act(session, config, case_stream(case_id), "case.reopened", {
                "reason": f"回头看：{closed_day} 销号，{days} 天后复查，同类问题仍然存在或再次"
                          f"出现（{gap.id}），反弹",
                "lookback": {"gap": gap.id, "days": days}})
        except (RuleViolation, Conflict) as exc:
            if exc.code in ("case_state_invalid", "append_race", "seq_mismatch",
                            "prev_mismatch"):
                session.rollback()  # another run reopened it first: nothing more to do
                continue
            raise
        done.append(Recurrence(case_id, gap.id, days, receipt.index))
    return done

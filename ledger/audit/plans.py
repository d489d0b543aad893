"""The annual management plan (危险废物管理计划) and the periodic declaration (申报登记), as signed
entries of the enterprise in its own streams: ``plan:<uscc>:<year>`` and
``report:<uscc>:<period>``.

The handlers below run inside the append transaction like the custody kinds (wired into the
log's kinds by ``ledger.bootstrap``): only the organisation itself signs its plan and its
declarations, the year and period must match the stream, numbers are non-negative grams,
waste codes exist in the catalogue edition in force, one declaration per period (changes are
explicit ``report.amended`` entries), and a declaration carries the ledger's own figures for
the period as they stood when it was signed, with the differences. The ``plans``,
``plan_lines``, ``declarations`` and ``declaration_lines`` projections follow.
docs/plans.md has the payloads, the management classes and the deadlines.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ledger.audit.models import Declaration, DeclarationLine, Plan, PlanLine
from ledger.clock import beijing_day, beijing_day_start_ms
from ledger.custody.catalogue import normalise_waste_code
from ledger.custody.codes import region_contains
from ledger.custody.editions import catalogue, edition_for, waste_entry
from ledger.custody.kinds import MAX_MASS_G, WITHDRAWN, _org_ref, _str, organisation
from ledger.custody.permits import permit_covers
from ledger.custody.principals import Principal
from ledger.custody.projections import Batch, Handover, Organisation, Permit
from ledger.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadInvalid,
    PermissionDenied,
    RuleViolation,
)
from ledger.tlog.entries import parse_entry
from ledger.tlog.log import AppendContext, KindHandler
from ledger.tlog.models import LogEntry

PLAN_STREAM_PREFIX: Final = "plan:"
REPORT_STREAM_PREFIX: Final = "report:"
MAX_LINES: Final = 200  # waste codes in one plan or declaration
MAX_RECEIVERS: Final = 50  # receivers of one code

# Management classes (HJ 1259-2022) and how often each declares
KEY, SIMPLIFIED, REGISTERED = "key", "simplified", "registered"  # 重点监管 / 简化管理 / 登记管理
CLASSES: Final = (KEY, SIMPLIFIED, REGISTERED)
FREQUENCY: Final = {KEY: "monthly", SIMPLIFIED: "quarterly", REGISTERED: "yearly"}
RECEIVING_ROLES: Final = frozenset({"collector", "receiver", "disposer"})

PERIOD_RE: Final = re.compile(
    r"(?P<year>2[0-9]{3})(?:-(?:Q(?P<q>[1-4])|(?P<m>0[1-9]|1[0-2])))?")


@dataclass(frozen=True)
class PlanSettings:
    """Plan and declaration policy: the management class thresholds in whole tonnes a year
    (HJ 1259: >= 100 t 重点监管, >= 10 t 简化管理, less 登记管理) and the deadlines."""

    key_t: int = 100
    simplified_t: int = 10
    report_due_days: int = 15  # a month's or quarter's declaration: days after its end
    yearly_due_days: int = 90  # a year's declaration: by 31 March of the next year
    plan_due: str = "03-31"  # the plan of a year: by this day of that year

    def management_class(self, annual_g: int) -> str:
        if annual_g >= self.key_t * 1_000_000:
            return KEY
        if annual_g >= self.simplified_t * 1_000_000:
            return SIMPLIFIED
        return REGISTERED


# --- periods ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A declaration period: a year (``2026``), a quarter (``2026-Q3``) or a month
    (``2026-07``), Beijing days inclusive."""

    text: str
    frequency: str  # monthly | quarterly | yearly
    year: int
    start: dt.date
    end: dt.date

    def due(self, settings: PlanSettings) -> dt.date:
        days = settings.yearly_due_days if self.frequency == "yearly" else \
            settings.report_due_days
        return self.end + dt.timedelta(days=days)

    def overlaps(self, start: dt.date, end: dt.date) -> bool:
        return self.start <= end and start <= self.end


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def parse_period(text: str, field_name: str = "period") -> Period:
    """``2026``, ``2026-Q3`` or ``2026-07``; InvalidInput otherwise."""
    m = PERIOD_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidInput("a period is a year (2026), a quarter (2026-Q3) or a month (2026-07)",
                           code="period_invalid", field=field_name)
    year = int(m["year"])
    if m["q"]:
        q = int(m["q"])
        return Period(text, "quarterly", year, dt.date(year, 3 * q - 2, 1),
                      _month_end(year, 3 * q))
    if m["m"]:
        month = int(m["m"])
        return Period(text, "monthly", year, dt.date(year, month, 1), _month_end(year, month))
    return Period(text, "yearly", year, dt.date(year, 1, 1), dt.date(year, 12, 31))


def periods_of(year: int, frequency: str) -> list[Period]:
    """Every period of ``year`` at ``frequency``, in order."""
    if frequency == "monthly":
        return [parse_period(f"{year}-{m:02d}") for m in range(1, 13)]
    if frequency == "quarterly":
        return [parse_period(f"{year}-Q{q}") for q in range(1, 5)]
    return [parse_period(str(year))]


def last_ended(day: dt.date, frequency: str) -> Period:
    """The last period at ``frequency`` that ended before ``day``."""
    for year in (day.year, day.year - 1):
        ended = [p for p in periods_of(year, frequency) if p.end < day]
        if ended:
            return ended[-1]
    return periods_of(day.year - 1, frequency)[-1]


def plan_due(year: int, settings: PlanSettings) -> dt.date:
    return dt.date.fromisoformat(f"{year}-{settings.plan_due}")


def plan_stream(org: str, year: int) -> str:
    return f"{PLAN_STREAM_PREFIX}{org}:{year}"


def report_stream(org: str, period: str) -> str:
    return f"{REPORT_STREAM_PREFIX}{org}:{period}"


# --- what the ledger recorded ----------------------------------------------------------------


@dataclass
class LedgerLine:
    """One waste code of one enterprise over a period, as the ledger recorded it (grams):
    what it declared (产生), what receivers accepted from it (转移, per receiver), what came
    back to it after a refusal, and its own store before and after."""

    generated_g: int = 0
    transferred: dict[str, int] = field(default_factory=dict)
    returned_g: int = 0
    opening_storage_g: int = 0

    @property
    def transferred_g(self) -> int:
        return sum(self.transferred.values())

    @property
    def closing_storage_g(self) -> int:
        return self.opening_storage_g + self.generated_g - self.transferred_g + self.returned_g

    def as_json(self) -> dict[str, int]:
        """The ``ledger`` block a declaration carries for this code."""
        return {"generated_g": self.generated_g, "transferred_g": self.transferred_g,
                "opening_storage_g": self.opening_storage_g,
                "closing_storage_g": self.closing_storage_g}


def _ms(day: dt.date) -> int:
    return beijing_day_start_ms(day)


def recorded_generation(session: Session, org: str, start: dt.date, end: dt.date) -> int:
    """Grams the enterprise declared on the ledger (its original batches) from ``start`` to
    ``end``, Beijing days inclusive."""
    total = session.scalar(select(func.sum(Batch.declared_mass_g)).where(
        Batch.generator == org, Batch.consolidated.is_(False), Batch.state != WITHDRAWN,
        Batch.declared_t_ms >= _ms(start), Batch.declared_t_ms < _ms(end + dt.timedelta(days=1))))
    return int(total or 0)


def ledger_lines(session: Session, org: str, start: dt.date, end: dt.date) -> dict[str, LedgerLine]:
    """Per waste code, what the ledger recorded for ``org`` from ``start`` to ``end`` (Beijing
    days, inclusive): batches declared, handovers settled (the later side's signed time) out
    to a receiver and back from one, and the store on site at the start (everything before).

    The declaration's pre-filled figures and the ``ledger`` block its handler checks."""
    lo, hi = _ms(start), _ms(end + dt.timedelta(days=1))
    lines: dict[str, LedgerLine] = defaultdict(LedgerLine)
    for code, t, mass in session.execute(
            select(Batch.waste_code, Batch.declared_t_ms, Batch.declared_mass_g).where(
                Batch.generator == org, Batch.consolidated.is_(False),
                Batch.state != WITHDRAWN, Batch.declared_t_ms < hi)):
        line = lines[code]
        if t < lo:
            line.opening_storage_g += mass
        else:
            line.generated_g += mass
    # the later side's time: SQLite's two-argument max() is PostgreSQL's greatest()
    pick = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max
    settled: Any = pick(func.coalesce(Handover.released_t_ms, 0),
                        func.coalesce(Handover.answered_t_ms, 0))
    rows = session.execute(
        select(Batch.waste_code, Handover.from_org, Handover.to_org, Handover.accepted_mass_g,
               settled.label("t"))
        .join(Batch, Batch.code == Handover.batch)
        .where(Batch.generator == org, Batch.consolidated.is_(False),
               Handover.status == "confirmed",
               ((Handover.from_org == org) & (Handover.to_org != org))
               | ((Handover.to_org == org) & (Handover.from_org != org))))
    for code, frm, to, mass, t in rows:
        if t >= hi:
            continue
        line, grams = lines[code], int(mass or 0)
        out = frm == org
        if t < lo:
            line.opening_storage_g += -grams if out else grams
        elif out:
            line.transferred[to] = line.transferred.get(to, 0) + grams
        else:
            line.returned_g += grams
    return {code: line for code, line in sorted(lines.items())
            if line.generated_g or line.transferred or line.returned_g
            or line.opening_storage_g}


# --- management class ------------------------------------------------------------------------


def management_class(session: Session, org: str, year: int, settings: PlanSettings) -> str:
    """The class of ``org`` in ``year``: its plan's, else from last year's recorded figures."""
    plan = session.get(Plan, (org, year))
    if plan is not None:
        return plan.management_class
    last = recorded_generation(session, org, dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 31))
    return settings.management_class(last)


# --- validation helpers ---------------------------------------------------------------------


def _grams(item: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> int:
    value = item.get(key)
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MASS_G:
        raise PayloadInvalid(f"{where}.{key} must be a whole number of grams >= 0",
                             code="mass_invalid", field=f"{where}.{key}")
    return value


def _subject(ctx: AppendContext, prefix: str, what: str) -> tuple[str, str]:
    """The (organisation, year or period) a plan or report stream names; only that
    organisation signs in it, and it must be a registered generator."""
    stream = ctx.entry.stream
    parts = stream[len(prefix):].split(":") if stream.startswith(prefix) else []
    if len(parts) != 2:
        raise PayloadInvalid(f"a {what} stream is {prefix}<uscc>:<{what}>",
                             code=f"{prefix[:-1]}_stream_invalid", field="stream")
    org, rest = parts
    if ctx.entry.org != org:
        raise PermissionDenied(f"only {org} signs in its own {what} stream",
                               code="not_own_stream", field="org")
    signer = organisation(ctx.session, org)
    if not signer.has_role("generator"):
        raise PermissionDenied(f"{signer.name} ({org}) is not a generator",
                               code="role_missing", field="org")
    return org, rest


def _code(ctx: AppendContext, value: Any, day: str, where: str) -> str:
    """A hazardous waste code listed in the edition in force on ``day`` (among the editions
    loaded before this entry), or 900-000-××."""
    if not isinstance(value, str):
        raise PayloadInvalid(f"{where}.waste_code is a waste code like 900-039-49",
                             code="waste_code_invalid", field=f"{where}.waste_code")
    try:
        code = normalise_waste_code(value)
        edition = edition_for(ctx.session, day, ctx.index).edition
        waste_entry(catalogue(ctx.session, edition), code)
    except (InvalidInput, NotFound) as exc:
        raise RuleViolation(f"{where}.waste_code {value!r}: {exc.message}",
                            code="waste_code_unknown", field=f"{where}.waste_code") from None
    except RuleViolation as exc:
        raise RuleViolation(exc.message, code=exc.code, field=f"{where}.waste_code") from None
    return code


def _list(data: Mapping[str, Any], key: str, limit: int, *, allow_empty: bool,
          where: str = "data") -> list[Mapping[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list) or len(value) > limit or (not value and not allow_empty) \
            or not all(isinstance(v, dict) for v in value):
        least = 0 if allow_empty else 1
        raise PayloadInvalid(f"{where}.{key} lists {least}-{limit} objects",
                             code="field_invalid", field=f"{where}.{key}")
    return value


def _receiver(ctx: AppendContext, item: Mapping[str, Any], where: str) -> str:
    uscc = _org_ref(item, "receiver")
    org = organisation(ctx.session, uscc, f"{where}.receiver")
    if not RECEIVING_ROLES & set(org.roles.split()):
        raise RuleViolation(f"{org.name} ({uscc}) does not collect, utilise or dispose of "
                            "waste", code="receiver_invalid", field=f"{where}.receiver")
    return uscc


def _day_in_year(ctx: AppendContext, year: int) -> str:
    """The entry's Beijing day, brought into ``year``: the day whose catalogue a plan uses."""
    day = beijing_day(ctx.entry.t_ms)
    return min(max(day, f"{year}-01-01"), f"{year}-12-31")


# --- plans -----------------------------------------------------------------------------------


def make_plan_handler(settings: PlanSettings) -> KindHandler:
    def on_plan(ctx: AppendContext) -> None:
        """plan.filed (seq 0) / plan.amended: the enterprise's management plan for a year
        (管理计划), each waste code's planned quantities, receivers and reduction measures."""
        e, data = ctx.entry, ctx.entry.data
        org, year_text = _subject(ctx, PLAN_STREAM_PREFIX, "year")
        if not re.fullmatch(r"2[0-9]{3}", year_text) or data.get("year") != int(year_text):
            raise PayloadInvalid("data.year is the year the stream names",
                                 code="year_mismatch", field="data.year")
        year = int(year_text)
        entry_year = int(beijing_day(e.t_ms)[:4])
        if not entry_year - 1 <= year <= entry_year + 1:
            raise RuleViolation(f"a plan is filed for last year, this year or the next, not "
                                f"{year}", code="year_invalid", field="data.year")
        existing = ctx.session.get(Plan, (org, year))
        if e.kind == "plan.filed" and existing is not None:
            raise Conflict(f"the plan for {year} is filed; amend it", code="plan_exists",
                           field="kind")
        if e.kind == "plan.amended":
            if existing is None:
                raise RuleViolation(f"no plan for {year} to amend", code="plan_unknown",
                                    field="kind")
            _str(data, "reason", max_len=2000)
        _str(data, "reduction", max_len=5000)
        lines = _plan_lines(ctx, data, org, year)
        total = sum(line.generation_g for line in lines)
        last = recorded_generation(ctx.session, org, dt.date(year - 1, 1, 1),
                                   dt.date(year - 1, 12, 31))
        cls = settings.management_class(max(total, last))
        region = organisation(ctx.session, org).region
        if existing is None:
            existing = Plan(org=org, year=year, filed_at=ctx.index, filed_t_ms=e.t_ms,
                            amendments=0)
        else:
            existing.amendments += 1
            ctx.session.execute(delete(PlanLine).where(PlanLine.org == org,
                                                       PlanLine.year == year))
        existing.region, existing.management_class = region, cls
        existing.frequency, existing.generation_g = FREQUENCY[cls], total
        existing.updated_at = ctx.index
        ctx.session.add(existing)
        ctx.session.add_all(lines)
        ctx.session.flush()

    return on_plan


def _plan_lines(ctx: AppendContext, data: Mapping[str, Any], org: str,
                year: int) -> list[PlanLine]:
    day = _day_in_year(ctx, year)
    out: list[PlanLine] = []
    seen: set[str] = set()
    for i, item in enumerate(_list(data, "wastes", MAX_LINES, allow_empty=False)):
        where = f"data.wastes[{i}]"
        code = _code(ctx, item.get("waste_code"), day, where)
        if code in seen:
            raise PayloadInvalid(f"{where}.waste_code is listed twice", code="field_invalid",
                                 field=f"{where}.waste_code")
        seen.add(code)
        _str(item, "name", max_len=100, required=False)
        receivers: list[str] = []
        transfer = 0
        for j, t in enumerate(_list(item, "transfers", MAX_RECEIVERS, allow_empty=True,
                                    where=where)):
            w = f"{where}.transfers[{j}]"
            uscc = _receiver(ctx, t, w)
            if uscc in receivers:
                raise PayloadInvalid(f"{w}.receiver is listed twice", code="field_invalid",
                                     field=f"{w}.receiver")
            number = _str(t, "permit", max_len=64, required=False)
            if number is not None and ctx.session.scalar(select(Permit.id).where(
                    Permit.org == uscc, Permit.number == number)) is None:
                raise RuleViolation(f"{uscc} holds no permit {number}", code="permit_unknown",
                                    field=f"{w}.permit")
            transfer += _grams(t, "mass_g", w)
            receivers.append(uscc)
        out.append(PlanLine(
            org=org, year=year, waste_code=code, generation_g=_grams(item, "generation_g", where),
            storage_g=_grams(item, "storage_g", where, required=False),
            own_utilisation_g=_grams(item, "own_utilisation_g", where, required=False),
            own_disposal_g=_grams(item, "own_disposal_g", where, required=False),
            transfer_g=transfer, receivers=" ".join(receivers)))
    return out


# --- declarations ----------------------------------------------------------------------------

DIFFERENCE_FIGURES: Final = ("generated_g", "transferred_g", "closing_storage_g")


def make_report_handler(settings: PlanSettings) -> KindHandler:
    def on_report(ctx: AppendContext) -> None:
        """report.declared (seq 0) / report.amended: the enterprise's declaration for a period
        (申报登记): per waste code its figures, the ledger's figures as they stood when it was
        signed, and the differences."""
        e, data = ctx.entry, ctx.entry.data
        org, period_text = _subject(ctx, REPORT_STREAM_PREFIX, "period")
        period = parse_period(period_text, "stream")
        if data.get("period") != period.text:
            raise PayloadInvalid("data.period is the period the stream names",
                                 code="period_mismatch", field="data.period")
        if beijing_day(e.t_ms) <= period.end.isoformat():
            raise RuleViolation(f"{period.text} ends on {period.end}; declare it afterwards",
                                code="period_not_ended", field="data.period")
        existing = ctx.session.get(Declaration, (org, period.text))
        if e.kind == "report.declared" and existing is not None:
            raise Conflict(f"{period.text} is declared; amend it", code="report_exists",
                           field="kind")
        if e.kind == "report.amended":
            if existing is None:
                raise RuleViolation(f"no declaration for {period.text} to amend",
                                    code="report_unknown", field="kind")
            _str(data, "reason", max_len=2000)
        clash = ctx.session.scalar(select(Declaration.period).where(
            Declaration.org == org, Declaration.period != period.text,
            Declaration.period_from <= period.end.isoformat(),
            Declaration.period_to >= period.start.isoformat()).limit(1))
        if clash is not None:
            raise Conflict(f"{period.text} overlaps the declared period {clash}",
                           code="period_overlaps", field="data.period")
        _str(data, "note", max_len=2000, required=False)
        lines = _report_lines(ctx, data, org, period)
        region = organisation(ctx.session, org).region
        if existing is None:
            due = period.due(settings)
            existing = Declaration(
                org=org, period=period.text, year=period.year, filed_at=ctx.index,
                filed_t_ms=e.t_ms, amendments=0, period_from=period.start.isoformat(),
                period_to=period.end.isoformat(), due=due.isoformat(),
                late=beijing_day(e.t_ms) > due.isoformat())
        else:
            existing.amendments += 1
            ctx.session.execute(delete(DeclarationLine).where(
                DeclarationLine.org == org, DeclarationLine.period == period.text))
        existing.region = region
        existing.generated_g = sum(x.generated_g for x in lines)
        existing.transferred_g = sum(x.transferred_g for x in lines)
        existing.ledger_generated_g = sum(x.ledger_generated_g for x in lines)
        existing.ledger_transferred_g = sum(x.ledger_transferred_g for x in lines)
        existing.updated_at = ctx.index
        ctx.session.add(existing)
        ctx.session.add_all(lines)
        ctx.session.flush()

    return on_report


def _report_lines(ctx: AppendContext, data: Mapping[str, Any], org: str,
                  period: Period) -> list[DeclarationLine]:
    recorded = ledger_lines(ctx.session, org, period.start, period.end)
    out: list[DeclarationLine] = []
    for i, item in enumerate(_list(data, "wastes", MAX_LINES, allow_empty=True)):
        where = f"data.wastes[{i}]"
        code = _code(ctx, item.get("waste_code"), period.start.isoformat(), where)
        if any(x.waste_code == code for x in out):
            raise PayloadInvalid(f"{where}.waste_code is listed twice", code="field_invalid",
                                 field=f"{where}.waste_code")
        transferred = 0
        seen: set[str] = set()
        for j, t in enumerate(_list(item, "transferred", MAX_RECEIVERS, allow_empty=True,
                                    where=where)):
            w = f"{where}.transferred[{j}]"
            uscc = _org_ref(t, "receiver")
            organisation(ctx.session, uscc, f"{w}.receiver")
            if uscc in seen:
                raise PayloadInvalid(f"{w}.receiver is listed twice", code="field_invalid",
                                     field=f"{w}.receiver")
            seen.add(uscc)
            transferred += _grams(t, "mass_g", w)
        _str(item, "explanation", max_len=2000, required=False)
        line = DeclarationLine(
            org=org, period=period.text, waste_code=code,
            generated_g=_grams(item, "generated_g", where), transferred_g=transferred,
            own_utilisation_g=_grams(item, "own_utilisation_g", where, required=False),
            own_disposal_g=_grams(item, "own_disposal_g", where, required=False),
            opening_storage_g=_grams(item, "opening_storage_g", where),
            closing_storage_g=_grams(item, "closing_storage_g", where))
        ledger = recorded.pop(code, LedgerLine()).as_json()
        if item.get("ledger") != ledger:
            raise Conflict(f"{where}.ledger is not what the ledger recorded for {code} in "
                           f"{period.text} ({ledger}); fetch the pre-filled figures again",
                           code="ledger_changed", field=f"{where}.ledger")
        declared = {"generated_g": line.generated_g, "transferred_g": transferred,
                    "closing_storage_g": line.closing_storage_g}
        differences = {k: declared[k] - ledger[k] for k in DIFFERENCE_FIGURES}
        if item.get("differences") != differences:
            raise PayloadInvalid(f"{where}.differences must be declared minus ledger: "
                                 f"{differences}", code="differences_invalid",
                                 field=f"{where}.differences")
        line.ledger_generated_g = ledger["generated_g"]
        line.ledger_transferred_g = ledger["transferred_g"]
        line.ledger_opening_storage_g = ledger["opening_storage_g"]
        line.ledger_closing_storage_g = ledger["closing_storage_g"]
        out.append(line)
    if recorded:
        code = next(iter(recorded))
        raise RuleViolation(f"the ledger recorded {code} in {period.text}; the declaration "
                            "lists every code the ledger has", code="ledger_code_missing",
                            field="data.wastes")
    return out


def plan_kinds(settings: PlanSettings | None = None) -> dict[str, KindHandler]:
    """The plan and declaration kinds with their handlers."""
    s = settings or PlanSettings()
    plan, report = make_plan_handler(s), make_report_handler(s)
    return {"plan.filed": plan, "plan.amended": plan,
            "report.declared": report, "report.amended": report}


# --- drafts: what the enterprise reviews before it signs -------------------------------------


def draft_plan(session: Session, org: str, year: int) -> dict[str, Any]:
    """A plan's ``data`` drafted from last year's ledger: each code generated last year with
    its quantity, the receivers that accepted it (with a permit of theirs covering it, when
    one is recorded) and what each took. The enterprise edits it, then signs."""
    lines = ledger_lines(session, org, dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 31))
    wastes = []
    for code, line in lines.items():
        name = session.scalar(select(Batch.name).where(
            Batch.generator == org, Batch.waste_code == code).order_by(Batch.declared_t_ms.desc())
            .limit(1))
        transfers = []
        for receiver, grams in sorted(line.transferred.items()):
            t: dict[str, Any] = {"receiver": receiver, "mass_g": grams}
            permit = _receiver_permit(session, receiver, code, f"{year}-01-01")
            if permit:
                t["permit"] = permit
            transfers.append(t)
        wastes.append({"waste_code": code, "name": name or "",
                       "generation_g": line.generated_g, "storage_g": max(
                           line.closing_storage_g, 0), "own_utilisation_g": 0,
                       "own_disposal_g": 0, "transfers": transfers})
    return {"year": year, "wastes": wastes, "reduction": ""}


def _receiver_permit(session: Session, receiver: str, code: str, day: str) -> str | None:
    for permit in session.scalars(select(Permit).where(Permit.org == receiver)
                                  .order_by(Permit.id)):
        if any(permit_covers(permit, code, a, day) for a in ("utilise", "dispose", "collect",
                                                               "store")):
            return permit.number
    return None


def prefill(session: Session, org: str, period: Period) -> dict[str, Any]:
    """A declaration's ``data`` pre-filled from the ledger: the declared figures start as the
    ledger's, the differences at zero. The enterprise adds its own utilisation/disposal and
    explanations, changes what it must (the differences follow), then signs."""
    wastes = []
    for code, line in ledger_lines(session, org, period.start, period.end).items():
        item: dict[str, Any] = {
            "waste_code": code, "generated_g": line.generated_g,
            "opening_storage_g": max(line.opening_storage_g, 0),
            "closing_storage_g": max(line.closing_storage_g, 0),
            "own_utilisation_g": 0, "own_disposal_g": 0,
            "transferred": [{"receiver": r, "mass_g": g}
                            for r, g in sorted(line.transferred.items())],
            "ledger": line.as_json()}
        item["differences"] = differences(item)
        wastes.append(item)
    return {"period": period.text, "wastes": wastes}


def differences(item: Mapping[str, Any]) -> dict[str, int]:
    """The differences block of one declared code: declared minus the ledger's figures."""
    declared = {"generated_g": item["generated_g"],
                "transferred_g": sum(t["mass_g"] for t in item.get("transferred", [])),
                "closing_storage_g": item["closing_storage_g"]}
    return {k: declared[k] - item["ledger"][k] for k in DIFFERENCE_FIGURES}


# --- reading ---------------------------------------------------------------------------------


def stream_entries(session: Session, stream: str) -> list[LogEntry]:
    """A plan's or declaration's entries in stream order, with their exact signed notes."""
    return list(session.scalars(select(LogEntry).where(LogEntry.stream == stream)
                                .order_by(LogEntry.seq)))


@dataclass(frozen=True)
class Obligation:
    """A plan or declaration an enterprise owes: for the scheduler's reminders."""

    organisation: str
    kind: str  # plan | report
    period: str  # the plan's year, or the declaration's period
    due: dt.date

    def overdue(self, day: dt.date) -> bool:
        return day > self.due


def _generators(session: Session, region: str | None) -> list[Organisation]:
    query = select(Organisation).where(Organisation.roles.contains("generator"))
    if region:
        return [o for o in session.scalars(query.order_by(Organisation.uscc))
                if region_contains(region, o.region)]
    return list(session.scalars(query.order_by(Organisation.uscc)))


def registered_day(session: Session, org: Organisation) -> dt.date:
    t = session.scalar(select(LogEntry.t_ms).where(LogEntry.idx == org.registered_at))
    return dt.date.fromisoformat(beijing_day(int(t or 0)))


def expected_periods(session: Session, org: Organisation, day: dt.date,
                     settings: PlanSettings, registered: dt.date | None = None) -> list[Period]:
    """The periods ``org`` had to declare by ``day``: those ended before it, of this year
    and last year, at the frequency of each year's class, from its registration on."""
    since = registered or registered_day(session, org)
    return periods_due(day, since, lambda year: management_class(session, org.uscc, year,
                                                                 settings))


def periods_due(day: dt.date, since: dt.date, class_of: Callable[[int], str]) -> list[Period]:
    """``expected_periods`` once the facts are known: the periods ended before ``day``, of
    this year and last, at the frequency of each year's class (``class_of(year)``), from the
    registration day ``since`` on. The gap scan calls it with every generator's facts
    fetched at once."""
    out: list[Period] = []
    for year in (day.year - 1, day.year):
        freq = FREQUENCY[class_of(year)]
        out += [p for p in _periods_of(year, freq) if p.end < day and p.end >= since]
    return out


@functools.lru_cache(maxsize=64)
def _periods_of(year: int, frequency: str) -> tuple[Period, ...]:
    return tuple(periods_of(year, frequency))


def obligations_due(session: Session, day: dt.date, settings: PlanSettings | None = None,
                    region: str | None = None) -> list[Obligation]:
    """What every generator (in ``region``) owes as of ``day``: this year's plan when none is
    filed, and each declaration of a period that has ended (this year and last) and is not
    filed, with its due date (passed or not). The plain function the reminder scheduler
    calls; sorted by due date, then organisation."""
    s = settings or PlanSettings()
    out: list[Obligation] = []
    plans = {(o, y) for o, y in session.execute(select(Plan.org, Plan.year).where(
        Plan.year == day.year))}
    filed = {(o, p) for o, p in session.execute(select(Declaration.org, Declaration.period))}
    for org in _generators(session, region):
        if (org.uscc, day.year) not in plans:
            out.append(Obligation(org.uscc, "plan", str(day.year), plan_due(day.year, s)))
        for p in expected_periods(session, org, day, s):
            if (org.uscc, p.text) not in filed and not _covered(session, org.uscc, p):
                out.append(Obligation(org.uscc, "report", p.text, p.due(s)))
    return sorted(out, key=lambda o: (o.due, o.organisation, o.kind, o.period))


def _covered(session: Session, org: str, p: Period) -> bool:
    """A declaration of another granularity covers ``p`` (the class changed in the year)."""
    return session.scalar(select(Declaration.period).where(
        Declaration.org == org, Declaration.period_from <= p.start.isoformat(),
        Declaration.period_to >= p.end.isoformat()).limit(1)) is not None


@dataclass(frozen=True)
class RosterRow:
    """One enterprise of a region in a year: its class, plan and declarations (应纳尽纳)."""

    org: str
    name: str
    region: str
    management_class: str
    frequency: str
    batches: int  # original batches it declared this year (0: registered but silent)
    recorded_g: int  # generation recorded on the ledger this year
    plan_filed: bool
    plan_late: bool
    planned_g: int | None
    declared: tuple[str, ...]  # periods declared (this year)
    missing: tuple[str, ...]  # periods ended and not declared
    late: tuple[str, ...]  # periods declared after their due day


def roster(session: Session, region: str | None, day: dt.date,
           settings: PlanSettings | None = None) -> list[RosterRow]:
    """Every generator registered in ``region`` (with no batches too) for the year of ``day``:
    class, plan, declarations in and missing."""
    s = settings or PlanSettings()
    year = day.year
    out = []
    lo, hi = _ms(dt.date(year, 1, 1)), _ms(dt.date(year + 1, 1, 1))
    counts = dict(session.execute(select(Batch.generator, func.count()).where(
        Batch.consolidated.is_(False), Batch.state != WITHDRAWN, Batch.declared_t_ms >= lo,
        Batch.declared_t_ms < hi).group_by(Batch.generator)).all())
    for org in _generators(session, region):
        plan = session.get(Plan, (org.uscc, year))
        cls = management_class(session, org.uscc, year, s)
        decls = {d.period: d for d in session.scalars(select(Declaration).where(
            Declaration.org == org.uscc, Declaration.year == year))}
        expected = [p for p in expected_periods(session, org, day, s) if p.year == year]
        missing = tuple(p.text for p in expected if p.text not in decls
                        and not _covered(session, org.uscc, p))
        plan_late = plan is not None and beijing_day(plan.filed_t_ms) > plan_due(
            year, s).isoformat()
        out.append(RosterRow(
            org.uscc, org.name, org.region, cls, FREQUENCY[cls], int(counts.get(org.uscc, 0)),
            recorded_generation(session, org.uscc, dt.date(year, 1, 1), dt.date(year, 12, 31)),
            plan is not None, plan_late, plan.generation_g if plan else None,
            tuple(sorted(decls)), missing, tuple(sorted(p for p, d in decls.items() if d.late))))
    return out


def declarations_of(session: Session, orgs: Iterable[str] | None = None,
                    year: int | None = None) -> list[Declaration]:
    query = select(Declaration)
    if orgs is not None:
        query = query.where(Declaration.org.in_(list(orgs)))
    if year is not None:
        query = query.where(Declaration.year == year)
    return list(session.scalars(query.order_by(Declaration.org, Declaration.period_from)))



# --- who reads what ----------------------------------------------------------------------------


def _region_range(region: str) -> tuple[str, str]:
    prefix = region[:2] if region.endswith("0000") else region[:4] if region.endswith(
        "00") else region
    return prefix.ljust(6, "0"), prefix.ljust(6, "9")


def _visible(principal: Principal, region_col: Any, org_col: Any) -> list[Any]:
    """WHERE clauses: the operator sees every plan and declaration, a regulator its region's,
    anyone else its own."""
    if principal.is_operator:
        return []
    if principal.is_regulator:
        low, high = _region_range(principal.region)
        return [region_col >= low, region_col <= high]
    return [org_col == principal.org]


def list_plans(session: Session, principal: Principal, *, year: int | None = None,
               org: str | None = None) -> list[Plan]:
    query = select(Plan).where(*_visible(principal, Plan.region, Plan.org))
    if year is not None:
        query = query.where(Plan.year == year)
    if org is not None:
        query = query.where(Plan.org == org)
    return list(session.scalars(query.order_by(Plan.year.desc(), Plan.org)))


def list_declarations(session: Session, principal: Principal, *, year: int | None = None,
                      org: str | None = None) -> list[Declaration]:
    query = select(Declaration).where(*_visible(principal, Declaration.region,
                                                Declaration.org))
    if year is not None:
        query = query.where(Declaration.year == year)
    if org is not None:
        query = query.where(Declaration.org == org)
    return list(session.scalars(query.order_by(Declaration.period_from.desc(),
                                               Declaration.org)))


def visible_plan(session: Session, principal: Principal, org: str, year: int) -> Plan:
    # A year from a URL may not fit the database's integer (PostgreSQL answered 500 for
    # /plans/<org>/4294967295); no plan is filed outside the years a date can name.
    found = list_plans(session, principal, year=year, org=org) if 1 <= year <= 9999 else []
    if not found:
        raise NotFound(f"no plan of {org} for {year} visible to you", code="plan_not_found",
                       field="year")
    return found[0]


def visible_declaration(session: Session, principal: Principal, org: str,
                        period: str) -> Declaration:
    row = session.scalars(select(Declaration).where(
        Declaration.org == org, Declaration.period == period,
        *_visible(principal, Declaration.region, Declaration.org))).first()
    if row is None:
        raise NotFound(f"no declaration of {org} for {period} visible to you",
                       code="declaration_not_found", field="period")
    return row


def latest_data(session: Session, stream: str) -> dict[str, Any]:
    """The ``data`` of a plan's or declaration's latest entry: what is in force."""
    entries = stream_entries(session, stream)
    return parse_entry(entries[-1].note, max_size=len(entries[-1].note)).data if entries \
        else {}


# --- planned and declared beside recorded (reconciliation) -----------------------------------


@dataclass(frozen=True)
class Piece:
    """Planned or declared generation of one enterprise and code in one Beijing month (grams):
    what the reconciliation adds up at every level."""

    org: str
    waste_code: str
    category: str
    month: str  # YYYY-MM
    planned: int
    reported: int
    source: str  # the plan's or the declaration's stream


def _month_overlaps(start: dt.date, end: dt.date, lo: dt.date | None,
                    hi: dt.date | None) -> list[tuple[str, int]]:
    """(YYYY-MM, days) of each month of [start, end] ∩ [lo, hi] with at least one day."""
    first, last = max(start, lo or start), min(end, hi or end)
    out = []
    day = first.replace(day=1)
    while day <= last:
        month_end = _month_end(day.year, day.month)
        days = (min(month_end, last) - max(day, first)).days + 1
        if days > 0:
            out.append((f"{day.year}-{day.month:02d}", days))
        day = month_end + dt.timedelta(days=1)
    return out


def plan_pieces(session: Session, *, region: str | None = None,
                period_from: dt.date | None = None, period_to: dt.date | None = None,
                generator: str | None = None, waste_code: str | None = None,
                category: str | None = None) -> list[Piece]:
    """The plans' and declarations' generation within the filters, spread over months: a plan
    line's ``generation_g`` × the days of the month in the filter period ÷ the days of its
    year, a declaration line's ``generated_g`` × those days ÷ the days of its period, each
    rounded down (docs/reconciliation.md, "Planned, declared, recorded")."""

    def wanted(org_region: str, org: str, code: str) -> bool:
        return ((region is None or region_contains(region, org_region))
                and generator in (None, org) and waste_code in (None, code)
                and category in (None, "HW" + code[-2:]))

    out: list[Piece] = []
    for plan, line in session.execute(select(Plan, PlanLine).join(PlanLine, (
            PlanLine.org == Plan.org) & (PlanLine.year == Plan.year))).all():
        if not wanted(plan.region, plan.org, line.waste_code):
            continue
        start, end = dt.date(plan.year, 1, 1), dt.date(plan.year, 12, 31)
        year_days = (end - start).days + 1
        for month, days in _month_overlaps(start, end, period_from, period_to):
            out.append(Piece(plan.org, line.waste_code, "HW" + line.waste_code[-2:], month,
                             line.generation_g * days // year_days, 0,
                             plan_stream(plan.org, plan.year)))
    for d, dline in session.execute(select(Declaration, DeclarationLine).join(
            DeclarationLine, (DeclarationLine.org == Declaration.org)
            & (DeclarationLine.period == Declaration.period))).all():
        if not wanted(d.region, d.org, dline.waste_code):
            continue
        start, end = dt.date.fromisoformat(d.period_from), dt.date.fromisoformat(d.period_to)
        period_days = (end - start).days + 1
        for month, days in _month_overlaps(start, end, period_from, period_to):
            out.append(Piece(d.org, dline.waste_code, "HW" + dline.waste_code[-2:], month, 0,
                             dline.generated_g * days // period_days,
                             report_stream(d.org, d.period)))
    return out

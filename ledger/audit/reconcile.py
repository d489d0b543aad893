"""Mass balance (对账): for a region, period, generator, waste code or category, how much
waste was declared and where every gram of it is now.

The population is the **original** batches (``batches.consolidated`` false) that match the
filters. A batch's mass is followed into the batches it was consolidated or split into: a
parent that gave ``m`` g to a child declared at ``M`` g is attributed ``m / M`` of the child's
current situation (its state and mass), recursively, so per-enterprise figures stay right after
consolidation and children are never counted on their own. Every figure is integer grams.

The work runs in the database. Each original's figures are kept in a summary table,
``batch_balances``, maintained in the append transaction (``refresh_balances``, called by the
custody handlers): a recursive CTE walks ``lineage`` from the originals concerned, a UNION ALL
lists every (original, figure, grams) fact, and one INSERT ... SELECT groups them per original.
A report is then one GROUP BY (GROUPING SETS on PostgreSQL) over the summary; Python only sums
the aggregate rows. docs/reconciliation.md explains the figures, the rounding, the summary, the
indexes and the signed report bundle.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Final

import rfc8785
from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Numeric,
    Select,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import QueryableAttribute, Session, aliased
from sqlalchemy.sql.expression import Subquery

from ledger.audit.models import BalanceMonth
from ledger.audit.plans import Piece, plan_pieces
from ledger.clock import BEIJING_OFFSET_MS, beijing_day_start_ms
from ledger.custody.access import batch_visibility
from ledger.custody.catalogue import load_catalogue, normalise_category, normalise_waste_code
from ledger.custody.codes import region_contains, region_level, validate_region
from ledger.custody.editions import describe_code
from ledger.custody.exemptions import ExemptionClaim
from ledger.custody.kinds import (
    CONSOLIDATED,
    DECLARED,
    DISPOSED,
    IN_TRANSIT,
    PENDING,
    RECEIVED,
    REFUSED,
    STORED,
    WITHDRAWN,
)
from ledger.custody.principals import Principal
from ledger.custody.projections import (
    Batch,
    BatchBalance,
    Disposal,
    Handover,
    Lineage,
    Organisation,
)
from ledger.custody.uscc import validate_uscc
from ledger.errors import (
    Conflict,
    InvalidInput,
    LedgerError,
    NotFound,
    PermissionDenied,
    SignatureInvalid,
)
from ledger.tlog.checkpoints import SignedCheckpoint, parse_checkpoint
from ledger.tlog.entries import format_time
from ledger.tlog.log import LogConfig, checkpoint_at, issue_checkpoint
from ledger.tlog.models import LogHead
from ledger.tlog.notes import (
    Signer,
    VerifierKey,
    b64,
    parse_note,
    parse_vkey,
    sign_note,
    unb64,
    verify_signature,
)

REPORT_FORMAT: Final = "waste-ledger/reconciliation/v1"
BUNDLE_FORMAT: Final = "waste-ledger/report-bundle/v1"
NOTE_HEADER: Final = "waste-ledger/report/v1"  # first line of the signed note text

EARLIEST_DAY: Final = dt.date(1970, 1, 1)  # periods outside these are typing errors
LATEST_DAY: Final = dt.date(2999, 12, 31)
MAX_LINEAGE_DEPTH: Final = 64  # consolidation chains deeper than this are not followed
GENERAL_CATEGORY: Final = "GY"  # 一般工业固体废物 (custody._new_batch)

#: Where the mass is now: these add up, with ``unaccounted``, to ``declared``.
STOCK: Final = ("at_generator", "returned", "in_transit", "in_storage", "received_at_disposers",
                "disposed_utilisation", "disposed_disposal", "refused")
#: Every figure summed in SQL: the stock, what was declared, and what was collected (a flow).
SUMMED: Final = ("declared", "collected", *STOCK)
#: Figures that can be drilled down to the batches behind them.
DRILLABLE: Final = (*SUMMED, "disposed", "unaccounted", "batches")
#: Beside what the ledger recorded (``declared``): the plans' and the declarations' generation
#: (管理计划, 申报登记), spread over the months of the period (``ledger.audit.plans``); they
#: drill down to the plans and declarations behind them, not to batches.
PLAN_FIGURES: Final = ("planned", "reported")

ProgressFn = Callable[[int, int, str], None]
Column = ColumnElement[Any] | QueryableAttribute[Any]  # an SQL expression or a mapped column


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """The mass balance of a set of original batches, in grams.

    ``collected`` is a flow (what the first receiver accepted); the others say where the mass
    is now. ``unaccounted`` is what the ledger cannot place: declared − everything placed.
    """

    batches: int = 0
    declared: int = 0
    collected: int = 0  # 已收集: accepted by the first receiver
    at_generator: int = 0  # 待收集: still with its generator, never handed on
    returned: int = 0  # 退回: back with its generator after a refusal
    in_transit: int = 0  # 运输中: with a transporter, or a handover has one side signed
    in_storage: int = 0  # 贮存中: at a collector or transfer station
    received_at_disposers: int = 0  # 已接收: at a disposer, not yet disposed of
    disposed_utilisation: int = 0  # 已利用
    disposed_disposal: int = 0  # 已处置
    refused: int = 0  # 拒收: refused, with the carrier (whole or partial refusals)
    planned: int = 0  # 计划产生量: the plans' generation for the period (not a batch figure)
    reported: int = 0  # 申报产生量: the declarations' generation for the period

    @property
    def disposed(self) -> int:
        return self.disposed_utilisation + self.disposed_disposal

    @property
    def accounted(self) -> int:
        return sum(getattr(self, name) for name in STOCK)

    @property
    def unaccounted(self) -> int:
        """未核清: weighing losses, hand-offs into children never created, rounding; negative
        when more is placed than was declared (a gain at a weighing or a disposal)."""
        return self.declared - self.accounted

    def __add__(self, other: Figures) -> Figures:
        return Figures(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                          for f in fields(self)})

    def figure(self, name: str) -> int:
        if name not in DRILLABLE and name not in PLAN_FIGURES:
            raise InvalidInput(f"unknown figure {name!r}; one of {', '.join(DRILLABLE)}, "
                               f"{', '.join(PLAN_FIGURES)}", code="figure_unknown",
                               field="figure")
        return int(getattr(self, name))

    def as_dict(self) -> dict[str, int]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["disposed"] = self.disposed
        out["unaccounted"] = self.unaccounted
        return out


@dataclass(frozen=True)
class Row:
    """One line of a breakdown: its key (USCC, waste code, category, month) and figures."""

    key: str
    name: str
    figures: Figures


@dataclass(frozen=True)
class ReportFilters:
    """Which original batches a report covers (all given filters apply together)."""

    region: str | None = None  # with its sub-regions (GB/T 2260)
    period_from: dt.date | None = None  # declared on or after this Beijing day
    period_to: dt.date | None = None  # declared on or before this Beijing day
    generator: str | None = None
    waste_code: str | None = None
    category: str | None = None

    @classmethod
    def checked(cls, *, region: str | None = None, period_from: dt.date | None = None,
                period_to: dt.date | None = None, generator: str | None = None,
                waste_code: str | None = None, category: str | None = None) -> ReportFilters:
        """The filters validated and in canonical form (InvalidInput naming the field)."""
        if category is not None:
            category = category.strip().upper()
            if category != GENERAL_CATEGORY:
                category = normalise_category(category)
        for name, day in (("from", period_from), ("to", period_to)):
            if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
                raise InvalidInput(f"{name} must be a day from {EARLIEST_DAY} to {LATEST_DAY}",
                                   code="period_invalid", field=name)
        if period_from and period_to and period_from > period_to:
            raise InvalidInput("the period ends before it starts", code="period_invalid",
                               field="to")
        return cls(
            region=validate_region(region) if region else None,
            period_from=period_from, period_to=period_to,
            generator=validate_uscc(generator) if generator else None,
            waste_code=normalise_waste_code(waste_code) if waste_code else None,
            category=category or None,
        )

    def as_json(self) -> dict[str, Any]:
        return {"region": self.region,
                "from": self.period_from.isoformat() if self.period_from else None,
                "to": self.period_to.isoformat() if self.period_to else None,
                "generator": self.generator, "waste_code": self.waste_code,
                "category": self.category}


BREAKDOWNS: Final = ("by_generator", "by_waste_code", "by_category", "by_month")


@dataclass(frozen=True)
class ExemptHandover:
    """A handover made under a claimed exemption (豁免管理清单): its mass is in the figures
    like any other; this marks it as not managed as hazardous waste at that stage."""

    batch: str
    from_org: str
    to_org: str
    manifest: str
    accepted_mass_g: int | None
    edition: str
    item: int
    row: int
    stage: str
    fits: bool

    def as_json(self) -> dict[str, Any]:
        return {"batch": self.batch, "from": self.from_org, "to": self.to_org,
                "manifest": self.manifest, "accepted_mass_g": self.accepted_mass_g,
                "edition": self.edition, "item": self.item, "row": self.row,
                "stage": self.stage, "fits": self.fits}


@dataclass(frozen=True)
class Report:
    """A mass balance and the exact log state (size and root) it was computed at."""

    filters: ReportFilters
    viewer: str | None  # the organisation it was limited to what it may see (None: all)
    log_size: int
    root: str  # base64 of the Merkle root of the first ``log_size`` entries
    computed_at: str  # RFC 3339 UTC
    totals: Figures
    by_generator: tuple[Row, ...]
    by_waste_code: tuple[Row, ...]
    by_category: tuple[Row, ...]
    by_month: tuple[Row, ...]  # Beijing month of declaration, "YYYY-MM"
    exempt: tuple[ExemptHandover, ...] = ()  # handovers under a claimed exemption

    def breakdown(self, name: str) -> tuple[Row, ...]:
        if name not in BREAKDOWNS:
            raise InvalidInput(f"unknown breakdown {name!r}", code="breakdown_unknown")
        rows: tuple[Row, ...] = getattr(self, name)
        return rows

    def to_json(self) -> dict[str, Any]:
        """The report as JSON values (integers and text only, so RFC 8785 is exact)."""
        body: dict[str, Any] = {
            "format": REPORT_FORMAT,
            "unit": "g",
            "log": {"size": self.log_size, "root": self.root},
            "computed_at": self.computed_at,
            "filters": {**self.filters.as_json(), "viewer": self.viewer},
            "totals": self.totals.as_dict(),
        }
        for name in BREAKDOWNS:
            body[name] = [{"key": r.key, "name": r.name, **r.figures.as_dict()}
                          for r in self.breakdown(name)]
        body["exempt_handovers"] = [e.as_json() for e in self.exempt]
        return body


def scope_for(principal: Principal, filters: ReportFilters) -> ReportFilters:
    """The filters ``principal`` may ask for: the operator anything; a regulator its own
    region or a region within it (its region when none is given); anyone else only its own
    batches as generator. PermissionDenied otherwise."""
    if principal.is_operator:
        return filters
    if principal.is_regulator:
        if filters.region is None:
            return replace(filters, region=principal.region)
        if not region_contains(principal.region, filters.region):
            raise PermissionDenied(f"region {filters.region} is outside your region "
                                   f"{principal.region}", code="region_forbidden",
                                   field="region")
        return filters
    if filters.generator not in (None, principal.org):
        raise PermissionDenied("you may reconcile only the batches you declared",
                               code="generator_forbidden", field="generator")
    return replace(filters, generator=principal.org)


# --- the SQL ------------------------------------------------------------------------------


def region_bounds(region: str) -> tuple[str, str]:
    """The range of 6-digit codes a region contains: 331000 -> 331000..331099.

    A range rather than LIKE 'prefix%' so a plain B-tree index on ``batches.region`` serves it
    on both databases (PostgreSQL uses LIKE only with a C collation or pattern ops)."""
    level = region_level(region)
    prefix = region[:2] if level == "province" else region[:4] if level == "city" else region
    return prefix.ljust(6, "0"), prefix.ljust(6, "9")


def _filter_clauses(f: ReportFilters, columns: Any) -> list[ColumnElement[bool]]:
    """The six report filters as WHERE clauses on ``columns`` (``Batch`` or ``BatchBalance``:
    both carry region, declared_t_ms, generator, waste_code and category under those names)."""
    where: list[ColumnElement[bool]] = []
    if f.region:
        lo, hi = region_bounds(f.region)
        where += [columns.region >= lo, columns.region <= hi]
    if f.period_from:
        where.append(columns.declared_t_ms >= beijing_day_start_ms(f.period_from))
    if f.period_to:
        where.append(columns.declared_t_ms
                     < beijing_day_start_ms(f.period_to + dt.timedelta(days=1)))
    if f.generator:
        where.append(columns.generator == f.generator)
    if f.waste_code:
        where.append(columns.waste_code == f.waste_code)
    if f.category:
        where.append(columns.category == f.category)
    return where


#: The original batches: declared by an enterprise, not made from others, and not withdrawn
#: (a batch withdrawn by its generator, ``batch.withdrawn``, was never generated).
_ORIGINALS: Final = (Batch.consolidated == false(), Batch.state != WITHDRAWN)


def _population(f: ReportFilters, principal: Principal | None) -> list[ColumnElement[bool]]:
    """WHERE clauses on ``Batch`` selecting the original batches the report covers."""
    where: list[ColumnElement[bool]] = [*_ORIGINALS, *_filter_clauses(f, Batch)]
    if principal is not None:
        clause = batch_visibility(principal)
        if clause is not None:
            where.append(clause)
    return where


def _muldiv(a: Column, b: Column, c: Column, dialect: str) -> ColumnElement[int]:
    """floor(a * b / c) for non-negative integers, exact.

    PostgreSQL: in NUMERIC with div(), which truncates exactly (numeric "/" rounds to a
    scale, so floor(x / y) could come out one too high). SQLite: 64-bit integer arithmetic,
    exact while a * b < 9.2e18 (masses are at most 10^12 g; a product beyond turns REAL)."""
    if dialect == "postgresql":
        return cast(func.div(cast(a, Numeric) * b, c), BigInteger)
    return cast((a * b) // c, BigInteger)


def _month(t_ms: Column, dialect: str) -> ColumnElement[str]:
    """The Beijing month (YYYY-MM) of a time in ms; constants are inlined so the same text
    appears in SELECT and GROUP BY (PostgreSQL compares them as written)."""
    shifted = (t_ms + literal_column(str(BEIJING_OFFSET_MS))) // literal_column("1000")
    if dialect == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), func.to_timestamp(shifted))
        return func.to_char(utc, literal_column("'YYYY-MM'"))
    return func.strftime(literal_column("'%Y-%m'"), shifted, literal_column("'unixepoch'"))


class _Facts:
    """Builds the facts of one report: rows (origin, its generator, waste code, category and
    declaration time; bucket, mass, declared, collected, n).

    One row per original batch carries its own situation, its declared mass, what its first
    receiver accepted and n = 1; further rows (declared = collected = n = 0) carry partial
    refusals and the original's share of every batch its mass went into. The original's
    attributes ride along (through the CTE too), so grouping needs no join back."""

    def __init__(self, where: Sequence[ColumnElement[bool]], dialect: str) -> None:
        self.where = list(where)
        self.dialect = dialect

    def reach(self) -> Any:
        """Recursive CTE: (origin, batch, share, depth) for every batch an original's mass
        went into; ``share`` is the original's grams within ``batch``'s declared mass."""
        anchor = (select(Lineage.parent.label("origin"), *_batch_dims(),
                         Lineage.child.label("batch"), Lineage.mass_g.label("share"),
                         literal(1).label("depth"))
                  .join(Batch, Batch.code == Lineage.parent)
                  .where(*self.where))
        reach = anchor.cte("reach", recursive=True)
        via = aliased(Batch, name="via")
        step = (select(reach.c.origin, *_carried_dims(reach), Lineage.child,
                       _muldiv(reach.c.share, Lineage.mass_g, via.declared_mass_g,
                               self.dialect),
                       reach.c.depth + 1)
                .select_from(reach)
                .join(via, via.code == reach.c.batch)
                .join(Lineage, Lineage.parent == reach.c.batch)
                .where(reach.c.depth < MAX_LINEAGE_DEPTH))
        return reach.union_all(step)

    def _place(self, b: Any, d: Any) -> tuple[ColumnElement[str], ColumnElement[int]]:
        """Where batch ``b`` is now (the figure it counts in) and the mass there."""
        held = case((b.state == DISPOSED, func.coalesce(d.mass_g, 0)), else_=b.mass_g)
        returned = exists().where(Handover.batch == b.code, Handover.to_org == b.generator,
                                  Handover.status == "confirmed")
        # Custody puts a consolidated batch in "stored" or "received" where it is made; only
        # projections from before that rule left it "declared". Place those by the holder's
        # role, as custody now would (docs/reconciliation.md section 2).
        at_disposer = exists().where(Organisation.uscc == b.holder, or_(
            Organisation.roles.like("%disposer%"), Organisation.roles.like("%receiver%")))
        made_here = case((at_disposer, "received_at_disposers"), else_="in_storage")
        # the refused part of a partial refusal, taken back by its generator (custody 3.17)
        part_back = exists().where(Handover.refused_part == b.code)
        bucket = case(
            (and_(b.state == DECLARED, b.consolidated == true()),
             case((part_back, "returned"), else_=made_here)),
            (b.state == DECLARED, case((returned, "returned"), else_="at_generator")),
            (b.state.in_((PENDING, IN_TRANSIT)), "in_transit"),
            (b.state == STORED, "in_storage"),
            (b.state == RECEIVED, "received_at_disposers"),
            (b.state == REFUSED, "refused"),
            (and_(b.state == DISPOSED, d.method == "utilisation"), "disposed_utilisation"),
            (b.state == DISPOSED, "disposed_disposal"),
            else_="other")  # consolidated: nothing left here, its mass is in its children
        return bucket, held

    def _originals(self) -> Select[Any, Any, Any, Any, Any, Any]:
        # 已收集: what the first receiver accepted, i.e. the generator's first settled
        # handover. A grouped join, not a correlated LIMIT 1 (SQLite would rerun that per row
        # and per breakdown).
        first = (select(Handover.batch, func.min(Handover.id).label("id"))
                 .join(Batch, Batch.code == Handover.batch)
                 .where(*self.where, Handover.status == "confirmed",
                        Handover.from_org == Batch.generator,
                        Handover.to_org != Batch.generator)
                 .group_by(Handover.batch)
                 .subquery("first_receipt"))
        accepted = aliased(Handover, name="accepted")
        d = aliased(Disposal)
        bucket, held = self._place(Batch, d)
        return (select(Batch.code.label("origin"), *_batch_dims(), bucket.label("bucket"),
                       held.label("mass"),
                       Batch.declared_mass_g.label("declared"),
                       func.coalesce(accepted.accepted_mass_g, 0).label("collected"),
                       literal_column("1").label("n"))
                .select_from(Batch)
                .outerjoin(d, d.batch == Batch.code)
                .outerjoin(first, first.c.batch == Batch.code)
                .outerjoin(accepted, accepted.id == first.c.id)
                .where(*self.where))

    def _descendants(self, reach: Any) -> Select[Any, Any, Any, Any, Any, Any]:
        child = aliased(Batch, name="child")
        d = aliased(Disposal)
        bucket, held = self._place(child, d)
        return (select(reach.c.origin, *_carried_dims(reach), bucket,
                       _muldiv(held, reach.c.share, child.declared_mass_g, self.dialect),
                       *_NO_FLOW)
                .select_from(reach)
                .join(child, child.code == reach.c.batch)
                .outerjoin(d, d.batch == child.code)
                .where(child.state != CONSOLIDATED))

    def _partial_refusals(self, reach: Any | None) -> Select[Any, Any, Any, Any, Any, Any]:
        """Mass refused at a handover that went ahead with the rest and not yet taken back as a
        batch of its own (docs/custody.md 3.17): it stays with the carrier, counted as
        refused. Once taken back, the lineage link carries it like any child batch."""
        refused: ColumnElement[str] = literal_column("'refused'")
        if reach is None:
            return (select(Handover.batch, *_batch_dims(), refused, Handover.refused_mass_g,
                           *_NO_FLOW)
                    .join(Batch, Batch.code == Handover.batch)
                    .where(*self.where, Handover.status == "confirmed",
                           Handover.refused_mass_g.is_not(None),
                           Handover.refused_part.is_(None)))
        child = aliased(Batch, name="refusing")
        return (select(reach.c.origin, *_carried_dims(reach), refused,
                       _muldiv(Handover.refused_mass_g, reach.c.share, child.declared_mass_g,
                               self.dialect), *_NO_FLOW)
                .select_from(reach)
                .join(child, child.code == reach.c.batch)
                .join(Handover, Handover.batch == child.code)
                .where(Handover.status == "confirmed", Handover.refused_mass_g.is_not(None),
                       Handover.refused_part.is_(None)))

    def subquery(self) -> Subquery:
        reach = self.reach()
        return union_all(self._originals(), self._partial_refusals(None),
                         self._descendants(reach), self._partial_refusals(reach)
                         ).subquery("facts")


def _batch_dims() -> list[ColumnElement[Any]]:
    """The original's attributes the report groups by (carried along through the CTE)."""
    return [Batch.generator.label("generator"), Batch.waste_code.label("waste_code"),
            Batch.category.label("category"), Batch.declared_t_ms.label("t")]


def _carried_dims(reach: Any) -> list[ColumnElement[Any]]:
    return [reach.c.generator, reach.c.waste_code, reach.c.category, reach.c.t]


# declared, collected and n of the rows that are not an original's own
_NO_FLOW: tuple[ColumnElement[Any], ...] = (literal_column("0"), literal_column("0"),
                                            literal_column("0"))


def _sums(h: Subquery) -> list[ColumnElement[Any]]:
    cols: list[ColumnElement[Any]] = [
        func.sum(case((h.c.bucket == name, h.c.mass), else_=0)).label(name) for name in STOCK]
    cols += [func.sum(h.c.declared).label("declared"),
             func.sum(h.c.collected).label("collected"), func.sum(h.c.n).label("batches")]
    return cols


def _figures(row: Any) -> Figures:
    m = row._mapping
    return Figures(**{name: int(m[name] or 0) for name in ("batches", *SUMMED)})


def _prepare(session: Session) -> str:
    """The database's dialect name, with the session set up for the report's queries."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # The recursive CTE's row estimate inflates the plan's cost past jit_above_cost, and
        # compiling it costs seconds more than running it (docs/reconciliation.md).
        session.execute(text("SET LOCAL jit = off"))
    return dialect


def log_state(session: Session) -> tuple[int, bytes]:
    """The log's size and root as ``session`` sees it (on a replica: as far as it replayed)."""
    # Columns, not the entity: the identity map would hand back a stale LogHead.
    row = session.execute(select(LogHead.size, LogHead.root).where(LogHead.id == 1)).one()
    return int(row.size), bytes(row.root)


def _labels(session: Session) -> tuple[Callable[[str], str], Callable[[str], str]]:
    cat = load_catalogue()

    def code_name(code: str) -> str:
        entry = describe_code(session, code)  # the newest loaded edition that lists it
        return entry.description if entry is not None else ""

    def category_name(code: str) -> str:
        if code == GENERAL_CATEGORY:
            return "一般工业固体废物"
        try:
            return cat.category(code).name
        except LedgerError:
            return ""

    return code_name, category_name


@dataclass(frozen=True)
class RegionTotals:
    """Declared and utilised-or-disposed mass of the original batches of one county."""

    region: str
    batches: int
    declared_g: int
    disposed_g: int


def totals_by_region(session: Session, f: ReportFilters,
                     principal: Principal | None = None) -> list[RegionTotals]:
    """Per county (the original batch's region), one GROUP BY over the same summary rows and
    filters as the report: mass consolidated elsewhere counts for its original's county."""
    bb = BatchBalance
    rows = session.execute(
        select(bb.region, func.count(), func.sum(bb.declared),
               func.sum(bb.disposed_utilisation + bb.disposed_disposal))
        .where(*_balance_population(f, principal)).group_by(bb.region).order_by(bb.region))
    return [RegionTotals(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows]


def _balance_population(f: ReportFilters,
                        principal: Principal | None) -> list[ColumnElement[bool]]:
    """``_population`` on the summary rows: the same filters on ``batch_balances`` columns
    (every original has exactly one row there), so no join back to ``batches`` is needed."""
    bb = BatchBalance
    where = _filter_clauses(f, bb)
    if principal is not None and not principal.is_operator:
        if principal.is_regulator:
            # batch_visibility is the regulator's region: the same range on the summary
            lo, hi = region_bounds(principal.region)
            where += [bb.region >= lo, bb.region <= hi]
        else:
            clause = batch_visibility(principal)
            if clause is not None:
                where.append(bb.origin.in_(select(Batch.code).where(clause)))
    return where


def _balance_sums() -> list[ColumnElement[Any]]:
    bb = BatchBalance
    return [*(func.sum(getattr(bb, name)).label(name) for name in SUMMED),
            func.count().label("batches")]


_KEYS: Final = ("generator", "region", "waste_code", "category", "month")


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _report_source(f: ReportFilters, principal: Principal | None) -> Subquery:
    """The rows a report groups: (generator, region, waste code, category, month, every summed
    figure, batches). Whole months of the period come from ``balance_months``; the originals
    of a partial first or last month (and every original, for a viewer whose scope is not a
    region) from ``batch_balances``, one row each. Summing either gives the same figures."""
    bb, bm = BatchBalance, BalanceMonth

    def rows(table: Any, batches: Any, where: Sequence[ColumnElement[bool]]) -> Any:
        return select(*(getattr(table, k) for k in _KEYS),
                      *(getattr(table, name) for name in SUMMED),
                      batches.label("batches")).where(*where)

    one: ColumnElement[int] = literal_column("1", BigInteger)
    where = _balance_population(f, principal)
    by_region = principal is None or principal.is_operator or principal.is_regulator
    # whole months within the period: [first, last) as month starts
    first: dt.date | None = None
    last: dt.date | None = None
    if f.period_from is not None:
        first = f.period_from if f.period_from.day == 1 else _next_month(f.period_from)
    if f.period_to is not None:
        last = _month_start(f.period_to + dt.timedelta(days=1))
    if not by_region or (first and last and first >= last):
        return rows(bb, one, where).subquery("source")
    month_where = [c for c in _filter_clauses(replace(f, period_from=None, period_to=None), bm)]
    if principal is not None and principal.is_regulator and not principal.is_operator:
        lo, hi = region_bounds(principal.region)
        month_where += [bm.region >= lo, bm.region <= hi]
    if first:
        month_where.append(bm.month >= first.strftime("%Y-%m"))
    if last:
        month_where.append(bm.month < last.strftime("%Y-%m"))
    parts: list[Any] = [rows(bm, bm.batches, month_where)]
    if first is not None and f.period_from != first:  # the days before the first month
        parts.append(rows(bb, one, [*where, bb.declared_t_ms < beijing_day_start_ms(first)]))
    if last is not None and f.period_to is not None and (
            f.period_to + dt.timedelta(days=1) != last):  # the days of the last, partial month
        parts.append(rows(bb, one, [*where, bb.declared_t_ms >= beijing_day_start_ms(last)]))
    source: Any = parts[0] if len(parts) == 1 else union_all(*parts)
    return source.subquery("source")


def _grouped(session: Session, src: Subquery, dialect: str,
             progress: ProgressFn) -> tuple[list[Any], list[Any], list[Any]]:
    """Aggregate the report's rows (``_report_source``) by (waste code, category), by
    generator and by month.

    PostgreSQL does it in one pass with GROUPING SETS; SQLite has none, so it runs one GROUP
    BY per breakdown. Either way Python only receives one row per group."""
    code_cols = (src.c.waste_code, src.c.category)
    sums = [*(func.sum(src.c[name]).label(name) for name in SUMMED),
            func.sum(src.c.batches).label("batches")]

    def query(*cols: Any) -> Select[Any]:
        return select(*cols, *sums)

    if dialect == "postgresql":
        progress(0, 1, "all breakdowns")
        rows = session.execute(
            query(*code_cols, src.c.generator, src.c.month,
                  func.grouping(src.c.waste_code).label("g_code"),
                  func.grouping(src.c.generator).label("g_gen"))
            .group_by(func.grouping_sets(tuple_(*code_cols), tuple_(src.c.generator),
                                         tuple_(src.c.month)))).all()
        # GROUPING(x) is 0 where x is part of the row's grouping set
        progress(1, 1, "done")
        return ([r for r in rows if r.g_code == 0], [r for r in rows if r.g_gen == 0],
                [r for r in rows if r.g_code == 1 and r.g_gen == 1])
    progress(0, 3, "by waste code")
    by_code = list(session.execute(query(*code_cols).group_by(*code_cols)))
    progress(1, 3, "by generator")
    by_gen = list(session.execute(query(src.c.generator).group_by(src.c.generator)))
    progress(2, 3, "by month")
    by_month = list(session.execute(query(src.c.month).group_by(src.c.month)))
    progress(3, 3, "done")
    return by_code, by_gen, by_month


def _compute(session: Session, filters: ReportFilters, principal: Principal | None,
             progress: ProgressFn) -> tuple[Figures, dict[str, Any]]:
    dialect = _prepare(session)
    by_code, by_gen, by_month = _grouped(session, _report_source(filters, principal),
                                         dialect, progress)
    code_name, category_name = _labels(session)
    waste_rows = tuple(sorted((Row(r.waste_code, code_name(r.waste_code), _figures(r))
                               for r in by_code), key=lambda r: r.key))
    categories: dict[str, Figures] = {}
    for r in by_code:  # aggregate rows (one per waste code), not batches
        categories[r.category] = categories.get(r.category, Figures()) + _figures(r)
    category_rows = tuple(Row(k, category_name(k), v) for k, v in sorted(categories.items()))
    totals = sum((row.figures for row in category_rows), Figures())
    names = _generator_names(session, [r.generator for r in by_gen])
    generator_rows = tuple(sorted((Row(r.generator, names.get(r.generator, ""), _figures(r))
                                   for r in by_gen), key=lambda r: r.key))
    month_rows = tuple(sorted((Row(r.month, r.month, _figures(r)) for r in by_month),
                              key=lambda r: r.key))
    rows = {"by_generator": generator_rows, "by_waste_code": waste_rows,
            "by_category": category_rows, "by_month": month_rows}
    pieces = _plan_pieces(session, filters, principal)
    if pieces:
        names = _generator_names(session, sorted({p.org for p in pieces} | set(names)))
        labels: dict[str, Callable[[str], str]] = {
            "by_generator": lambda k: names.get(k, ""), "by_waste_code": code_name,
            "by_category": category_name, "by_month": lambda k: k}
        for name, attr in (("by_generator", "org"), ("by_waste_code", "waste_code"),
                           ("by_category", "category"), ("by_month", "month")):
            rows[name] = _with_plans(rows[name], pieces, attr, labels[name])
        totals = totals + Figures(planned=sum(p.planned for p in pieces),
                                  reported=sum(p.reported for p in pieces))
    return totals, {**rows, "exempt": _exempt_handovers(session, filters, principal)}


def _plan_pieces(session: Session, f: ReportFilters,
                 principal: Principal | None) -> list[Piece]:
    """The plans' and declarations' monthly pieces within the report's filters, as far as
    ``principal`` may see them (a regulator its region and an enterprise its own, both already
    in the filters by ``scope_for``; anyone else nothing of others')."""
    if principal is not None and not (principal.is_operator or principal.is_regulator) and (
            f.generator != principal.org):
        return []
    return plan_pieces(session, region=f.region, period_from=f.period_from,
                       period_to=f.period_to, generator=f.generator, waste_code=f.waste_code,
                       category=f.category)


def plans_behind_filters(session: Session, figure: str, filters: ReportFilters, *,
                         principal: Principal | None = None) -> list[str]:
    """The drill-down of ``planned`` or ``reported``: the streams of the plans or declarations
    that contribute to it (non-zero) within the filters, in order."""
    if figure not in PLAN_FIGURES:
        raise InvalidInput(f"{figure} is not one of {', '.join(PLAN_FIGURES)}",
                           code="figure_unknown", field="figure")
    return sorted({p.source for p in _plan_pieces(session, filters, principal)
                   if getattr(p, figure)})


def _with_plans(rows: tuple[Row, ...], pieces: Sequence[Piece], attr: str,
                label: Callable[[str], str]) -> tuple[Row, ...]:
    """The rows with the planned and declared generation of their key, and a row (no batches)
    for a key that only a plan or a declaration has."""
    planned: dict[str, int] = {}
    reported: dict[str, int] = {}
    for p in pieces:
        key = getattr(p, attr)
        planned[key] = planned.get(key, 0) + p.planned
        reported[key] = reported.get(key, 0) + p.reported
    out = {r.key: r for r in rows}
    for key in planned:
        row = out.get(key) or Row(key, label(key), Figures())
        out[key] = replace(row, figures=replace(row.figures, planned=planned[key],
                                                reported=reported[key]))
    return tuple(out[k] for k in sorted(out))


def _exempt_handovers(session: Session, f: ReportFilters,
                      principal: Principal | None) -> tuple[ExemptHandover, ...]:
    """Settled handovers of the report's batches (consolidated ones included) that claimed an
    exemption, in log order."""
    c, h = ExemptionClaim, Handover
    where = _filter_clauses(f, Batch)
    if principal is not None:
        clause = batch_visibility(principal)
        if clause is not None:
            where.append(clause)
    opened = func.coalesce(h.released_at, h.answered_at)
    both = and_(h.released_at.is_not(None), h.answered_at.is_not(None))
    first = case((both, case((h.released_at < h.answered_at, h.released_at),
                             else_=h.answered_at)), else_=opened)
    rows = session.execute(
        select(h.batch, h.from_org, h.to_org, h.manifest, h.accepted_mass_g, c.edition, c.item,
               c.row, c.stage, c.fits)
        .join(c, c.handover_entry == first)
        .join(Batch, Batch.code == h.batch)
        .where(h.status == "confirmed", *where)
        .order_by(c.claimed_at))
    return tuple(ExemptHandover(r.batch, r.from_org, r.to_org, r.manifest, r.accepted_mass_g,
                                r.edition, r.item, r.row, r.stage, r.fits) for r in rows)


def _generator_names(session: Session, usccs: Sequence[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for i in range(0, len(usccs), 1000):  # one row per generator in the report
        chunk = list(usccs[i:i + 1000])
        names.update(session.execute(select(Organisation.uscc, Organisation.name)
                                     .where(Organisation.uscc.in_(chunk))).all())
    return names


# --- the summary: maintained in the append transaction ----------------------------------------


def _balance_select(where: Sequence[ColumnElement[bool]], dialect: str) -> Any:
    """One ``batch_balances`` row per original matching ``where`` (on ``Batch``), computed from
    the projections by the reference query (the recursive CTE and the facts)."""
    h = _Facts([*_ORIGINALS, *where], dialect).subquery()
    sums = (select(h.c.origin, *_sums(h)).group_by(h.c.origin).subquery("sums"))
    return (select(Batch.code, Batch.generator, Batch.region, Batch.waste_code, Batch.category,
                   Batch.declared_t_ms, _month(Batch.declared_t_ms, dialect),
                   *(cast(func.coalesce(getattr(sums.c, name), 0), BigInteger)
                     for name in SUMMED))
            .join(sums, sums.c.origin == Batch.code))


_BALANCE_COLUMNS: Final = ("origin", "generator", "region", "waste_code", "category",
                           "declared_t_ms", "month", *SUMMED)


_ORIGINS: Final[BindParameter[Any]] = bindparam("origins", expanding=True)
_WALK: Final[BindParameter[Any]] = bindparam("walk", expanding=True)


@functools.cache
def _refresh_statements(dialect: str) -> tuple[Any, Any, Any]:
    """The statements of a refresh, built once per dialect: building them costs far more
    Python time than running them for a few originals (the compiled form is cached too)."""
    up = select(Batch.code.label("code"), literal(0).label("depth")).where(
        Batch.code.in_(_WALK)).cte("up", recursive=True)
    up = up.union_all(select(Lineage.parent, up.c.depth + 1)
                      .join(up, Lineage.child == up.c.code)
                      .where(up.c.depth < MAX_LINEAGE_DEPTH))
    ancestors = (select(Batch.code).distinct().join(up, up.c.code == Batch.code)
                 .where(Batch.consolidated == false()))
    remove = delete(BatchBalance).where(BatchBalance.origin.in_(_ORIGINS))
    add = insert(BatchBalance).from_select(
        _BALANCE_COLUMNS, _balance_select([Batch.code.in_(_ORIGINS)], dialect))
    return ancestors, remove, add


@functools.cache
def _month_statements(dialect: str) -> tuple[Any, Any, Any]:
    """``balance_months`` kept with the summary: the originals' rows are taken out of their
    months before they are recomputed, put back after, and months left empty are deleted."""
    bb, bm = BatchBalance, BalanceMonth
    upsert: Any = (sqlite_insert if dialect == "sqlite" else postgresql_insert)

    def moved(sign: int) -> Any:
        keys = [getattr(bb, k) for k in _KEYS]
        figures = [(func.sum(getattr(bb, n)) * sign).label(n) for n in SUMMED]
        rows = (select(*keys, *figures, (func.count() * sign).label("batches"))
                .where(bb.origin.in_(_ORIGINS)).group_by(*keys))
        stmt = upsert(bm).from_select([*_KEYS, *SUMMED, "batches"], rows)
        return stmt.on_conflict_do_update(
            index_elements=list(_KEYS),
            set_={n: getattr(bm, n) + getattr(stmt.excluded, n) for n in (*SUMMED, "batches")})

    empty = delete(bm).where(bm.batches == 0, bm.generator.in_(
        select(bb.generator).where(bb.origin.in_(_ORIGINS))))
    return moved(-1), moved(1), empty


def _month_rows() -> Any:
    bb = BatchBalance
    keys = [getattr(bb, k) for k in _KEYS]
    return (select(*keys, *(func.sum(getattr(bb, n)) for n in SUMMED), func.count())
            .group_by(*keys))


def origins_of(session: Session, codes: Iterable[str]) -> list[str]:
    """The original batches whose mass is in any of ``codes`` (an original is its own)."""
    plain: list[str] = []
    walk: list[str] = []
    for code in sorted(set(codes)):
        known = session.get(Batch, code)  # already loaded by the handler: no query
        (plain if known is not None and not known.consolidated else walk).append(code)
    if not walk:
        return plain
    ancestors = _refresh_statements(session.get_bind().dialect.name)[0]
    found = session.connection().scalars(ancestors, {"walk": walk}).all()
    return sorted(set(plain) | set(found))


def refresh_balances(session: Session, codes: Iterable[str]) -> int:
    """Recompute the summary rows of the originals whose mass is in ``codes``; called by the
    custody handlers after every entry that changes a batch (in its transaction)."""
    session.flush()
    origins = origins_of(session, codes)
    if not origins:
        return 0
    dialect = session.get_bind().dialect.name
    _, remove, add = _refresh_statements(dialect)
    take_out, put_back, empty = _month_statements(dialect)
    conn = session.connection()
    conn.execute(take_out, {"origins": origins})
    conn.execute(remove, {"origins": origins})
    conn.execute(add, {"origins": origins})
    conn.execute(put_back, {"origins": origins})
    conn.execute(empty, {"origins": origins})
    return len(origins)


def rebuild_balances(session: Session) -> int:
    """Recompute every summary row in one set-based statement (bulk loads, repairs)."""
    session.flush()
    dialect = _prepare(session)
    conn = session.connection()
    conn.execute(delete(BatchBalance))
    conn.execute(insert(BatchBalance).from_select(_BALANCE_COLUMNS, _balance_select([], dialect)))
    rebuild_months(session)
    return int(session.scalar(select(func.count()).select_from(BatchBalance)) or 0)


def rebuild_months(session: Session) -> int:
    """Recompute ``balance_months`` from the summary rows, set-based."""
    session.flush()
    conn = session.connection()
    conn.execute(delete(BalanceMonth))
    conn.execute(insert(BalanceMonth).from_select([*_KEYS, *SUMMED, "batches"], _month_rows()))
    return int(session.scalar(select(func.count()).select_from(BalanceMonth)) or 0)


def balance_differences(session: Session) -> list[str]:
    """Originals whose maintained summary row differs from a fresh computation (empty when
    the summary is right): what the tests and ``rebuild --check`` rely on."""
    dialect = _prepare(session)
    fresh = {tuple(r) for r in session.execute(_balance_select([], dialect))}
    cols = [getattr(BatchBalance, c) for c in _BALANCE_COLUMNS]
    kept = {tuple(r) for r in session.execute(select(*cols))}
    return sorted({r[0] for r in fresh ^ kept})


def month_differences(session: Session) -> list[tuple[Any, ...]]:
    """``balance_months`` rows that differ from the summary rows summed afresh (empty when
    right)."""
    cols = [getattr(BalanceMonth, c) for c in (*_KEYS, *SUMMED, "batches")]
    kept = {tuple(r) for r in session.execute(select(*cols))}
    fresh = {tuple(r) for r in session.execute(_month_rows())}
    return sorted(kept ^ fresh, key=repr)


def reference_figures(session: Session, filters: ReportFilters) -> Figures:
    """The totals of a report computed without the summary (the recursive CTE over the
    projections), to check the summary against and as the benchmark's reference."""
    h = _Facts(_population(filters, None), _prepare(session)).subquery()
    row = session.execute(select(*_sums(h)).select_from(h)).one()
    return _figures(row)


def _consistent(session: Session, work: Callable[[], Any], attempts: int = 3) -> tuple[
        int, bytes, Any]:
    """Run ``work`` and the log head it saw: under READ COMMITTED each statement may see a
    newer commit, so the head is read before and after and the work redone if it moved (an
    append changes the head and the projections in one transaction)."""
    for _ in range(attempts):
        before = log_state(session)
        result = work()
        if log_state(session) == before:
            return before[0], before[1], result
    raise Conflict("the log kept growing while the report was computed; try again",
                   code="report_race")


def reconcile(session: Session, *, region: str | None = None,
              period_from: dt.date | None = None, period_to: dt.date | None = None,
              generator: str | None = None, waste_code: str | None = None,
              category: str | None = None, principal: Principal | None = None,
              progress: ProgressFn | None = None) -> Report:
    """The mass balance (对账) of the original batches matching the filters, as ``principal``
    may see them (None: everything), with the log size and root it was computed at."""
    filters = ReportFilters.checked(region=region, period_from=period_from,
                                    period_to=period_to, generator=generator,
                                    waste_code=waste_code, category=category)
    return reconcile_filters(session, filters, principal=principal, progress=progress)


def reconcile_filters(session: Session, filters: ReportFilters, *,
                      principal: Principal | None = None,
                      progress: ProgressFn | None = None) -> Report:
    """``reconcile`` with filters already checked."""
    report_progress: ProgressFn = progress or (lambda _done, _total, _what: None)
    size, root, (totals, rows) = _consistent(
        session, lambda: _compute(session, filters, principal, report_progress))
    return Report(filters=filters, viewer=principal.org if principal else None,
                  log_size=size, root=b64(root),
                  computed_at=format_time(time.time_ns() // 1_000_000 // 1000 * 1000),
                  totals=totals, **rows)


def batches_behind(session: Session, figure: str, *, region: str | None = None,
                   period_from: dt.date | None = None, period_to: dt.date | None = None,
                   generator: str | None = None, waste_code: str | None = None,
                   category: str | None = None, principal: Principal | None = None,
                   after: str | None = None, limit: int | None = None) -> list[str]:
    """The codes of the original batches that contribute to ``figure`` (non-zero), in code
    order, after the code ``after``; the drill-down of a report with the same filters."""
    filters = ReportFilters.checked(region=region, period_from=period_from,
                                    period_to=period_to, generator=generator,
                                    waste_code=waste_code, category=category)
    return batches_behind_filters(session, figure, filters, principal=principal, after=after,
                                  limit=limit)


def batches_behind_filters(session: Session, figure: str, filters: ReportFilters, *,
                           principal: Principal | None = None, after: str | None = None,
                           limit: int | None = None) -> list[str]:
    """``batches_behind`` with filters already checked."""
    Figures().figure(figure)  # InvalidInput for an unknown name
    if figure in PLAN_FIGURES:
        raise InvalidInput(f"{figure} comes from plans and declarations, not batches: see "
                           "plans_behind", code="figure_not_batches", field="figure")
    bb = BatchBalance
    stock: ColumnElement[int] = sum((getattr(bb, name) for name in STOCK),
                                    literal_column("0"))
    condition: ColumnElement[bool]
    if figure == "unaccounted":
        condition = bb.declared - stock != 0
    elif figure == "disposed":
        condition = bb.disposed_utilisation + bb.disposed_disposal != 0
    elif figure == "batches":
        condition = true()
    else:
        condition = getattr(bb, figure) != 0
    query = (select(bb.origin).where(*_balance_population(filters, principal), condition)
             .order_by(bb.origin))
    if after:
        query = query.where(bb.origin > after)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


# --- the signed report bundle ---------------------------------------------------------------


def canonical_report(report: Report | Mapping[str, Any]) -> bytes:
    """The RFC 8785 bytes of a report's JSON: what the bundle's note commits to."""
    body = report.to_json() if isinstance(report, Report) else report
    try:
        return rfc8785.dumps(body)
    except rfc8785.CanonicalizationError as exc:
        raise InvalidInput(f"the report cannot be canonicalised: {exc}",
                           code="report_not_canonical", field="report") from None


def report_note_text(digest_hex: str, size: int, root_b64: str) -> bytes:
    """The text the operator signs for a report (docs/reconciliation.md, "Report bundle")."""
    return f"{NOTE_HEADER}\n{digest_hex}\n{size}\n{root_b64}\n".encode()


def report_bundle(report: Report, operator: Signer, checkpoint: bytes | None = None) -> bytes:
    """The report with the operator's signed note over its hash and log state: RFC 8785
    JSON ``{"format", "report", "note"[, "checkpoint"]}``; ``checkpoint``, when given, must be
    the operator's checkpoint at exactly the report's log size."""
    body = report.to_json()
    digest = hashlib.sha256(canonical_report(body)).hexdigest()
    note = sign_note(report_note_text(digest, report.log_size, report.root), operator)
    bundle: dict[str, Any] = {"format": BUNDLE_FORMAT, "report": body, "note": note.decode()}
    if checkpoint is not None:
        cp = parse_checkpoint(checkpoint, operator.verifier)
        if (cp.size, b64(cp.root)) != (report.log_size, report.root):
            raise InvalidInput("the checkpoint is not at the report's log state",
                               code="checkpoint_mismatch", field="checkpoint")
        bundle["checkpoint"] = checkpoint.decode()
    return rfc8785.dumps(bundle)


def signed_report_bundle(session: Session, config: LogConfig, filters: ReportFilters, *,
                         principal: Principal | None = None,
                         progress: ProgressFn | None = None,
                         primary: Session | None = None) -> bytes:
    """Reconcile and sign: a checkpoint is issued first, so that unless the log grows in the
    meantime the bundle carries the operator's published checkpoint at the report's size.
    When ``session`` reads a replica, ``primary`` is the database the checkpoint is issued on
    and looked up in (a replica that lags computes at an older size; the bundle then carries
    the checkpoint published at exactly that size if there is one, else none)."""
    primary = primary or session
    issue_checkpoint(primary, config)
    report = reconcile_filters(session, filters, principal=principal, progress=progress)
    try:
        checkpoint: bytes | None = checkpoint_at(primary, report.log_size)
    except NotFound:
        checkpoint = None  # the log grew between the checkpoint and the report
    return report_bundle(report, config.operator, checkpoint)


@dataclass(frozen=True)
class VerifiedReport:
    """A report bundle that verified: the report, its hash and the log state it names."""

    report: dict[str, Any]
    sha256: str
    log_size: int
    root: bytes
    checkpoint: SignedCheckpoint | None


def _bundle_error(message: str, code: str = "bundle_invalid") -> InvalidInput:
    return InvalidInput(message, code=code, field="bundle")


def verify_report_bundle(bundle: bytes | str, operator_vkey: VerifierKey | str) -> VerifiedReport:
    """Check a report bundle offline: exact canonical bytes, the operator's signature, the
    report's hash, and that the report and any checkpoint name the same log state.

    Raises InvalidInput (malformed, not canonical, hash or state mismatch) or
    SignatureInvalid; any change to any byte of a bundle makes it fail."""
    key = parse_vkey(operator_vkey) if isinstance(operator_vkey, str) else operator_vkey
    try:
        raw = bundle.encode() if isinstance(bundle, str) else bytes(bundle)
        obj = json.loads(raw.decode("utf-8"))
        canonical = rfc8785.dumps(obj)
    except (ValueError, RecursionError):  # also UnicodeError, CanonicalizationError
        raise _bundle_error("the bundle is not JSON") from None
    if canonical != raw:
        raise _bundle_error("the bundle is not in RFC 8785 canonical form",
                            "bundle_not_canonical")
    if not isinstance(obj, dict) or obj.get("format") != BUNDLE_FORMAT:
        raise _bundle_error(f"the bundle's format is not {BUNDLE_FORMAT}", "bundle_format")
    if not {"format", "report", "note"} <= set(obj) <= {"format", "report", "note",
                                                         "checkpoint"}:
        raise _bundle_error("the bundle has format, report, note and optionally checkpoint")
    report, note_text = obj["report"], obj["note"]
    if not isinstance(report, dict) or not isinstance(note_text, str):
        raise _bundle_error("report must be an object and note a signed note")
    note = parse_note(note_text.encode("utf-8"), max_size=64 * 1024)
    sig = next((s for s in note.signatures
                if s.name == key.name and s.key_id == key.key_id), None)
    if sig is None:
        raise SignatureInvalid("the report is not signed by the operator key",
                               code="report_unsigned", field="bundle")
    verify_signature(note, sig, key)
    lines = note.text.decode("utf-8").split("\n")[:-1]
    if len(lines) != 4 or lines[0] != NOTE_HEADER:
        raise _bundle_error(f"the note is not a {NOTE_HEADER} note")
    digest, size_text, root_text = lines[1:]
    if not re.fullmatch(r"0|[1-9][0-9]{0,18}", size_text):
        raise _bundle_error("the note's log size is not a decimal number")
    size, root = int(size_text), unb64(root_text, field="bundle", length=32)
    actual = hashlib.sha256(canonical_report(report)).hexdigest()
    if actual != digest:
        raise _bundle_error("the report does not match the signed hash", "report_hash_mismatch")
    if report.get("log") != {"size": size, "root": root_text}:
        raise _bundle_error("the report names another log state than the signed note",
                            "report_state_mismatch")
    checkpoint = None
    if "checkpoint" in obj:
        if not isinstance(obj["checkpoint"], str):
            raise _bundle_error("checkpoint must be a signed note")
        checkpoint = parse_checkpoint(obj["checkpoint"].encode("utf-8"), key)
        if (checkpoint.size, checkpoint.root) != (size, root):
            raise _bundle_error("the checkpoint is at another log state",
                                "checkpoint_mismatch")
    return VerifiedReport(report, digest, size, root, checkpoint)

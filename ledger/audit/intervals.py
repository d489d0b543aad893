"""The custody-interval summary (时段汇总): one row per situation a time-based gap is about.

A situation is an original batch waiting to be collected, a handover waiting for its second
signature, or a holder keeping a batch (a stay: with a transporter, at a station, at a
disposer). Transfer manifests are not in it: their times are kept on the manifest row itself
(``manifests.closed_t_ms`` and ``span_ms``, set by the custody handlers where ``closed_at``
is, see ``rebuild_manifest_times`` below), and their due time follows the statutory calendar
from the arrival, computed for the few candidates the scan reads.
Each row holds when the situation started, when and by which entry it ended (NULL while it is
open), its length (``span``), its region and what a finding names. The rows are computed by
the same SQL the gap scan used to run over the whole projections, restricted to the batches
an entry changed, and kept in the append transaction (``refresh_intervals``, wired by
``ledger.bootstrap`` as an after-batch-change hook), so the scan reads only rows still open or
longer than the smallest configured threshold (one index on ``(kind, span)``) instead of
passing over every handover and stay.

Thresholds stay out of the rows: they are per query and per region, so the scan compares each
candidate with its own threshold (``ledger.audit.gaps``). The rows depend on a batch's own
projection rows (its batch row, handovers, disposal, its entries' times) and on the holders'
roles, which never change once an organisation is registered (``custody.on_org_registered``
adds the row once). ``rebuild`` replays the log through the same hook and compares the table
like any other projection.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session, aliased

from ledger.audit.kept import kept_differences, rebuild_kept
from ledger.audit.models import CustodyInterval
from ledger.custody.kinds import CONSOLIDATED, WITHDRAWN
from ledger.custody.projections import Batch, Disposal, Handover, Manifest, Organisation
from ledger.tlog.models import LogEntry

UNCOLLECTED: Final = "uncollected_overdue"
UNCONFIRMED: Final = "handover_unconfirmed"
STAY_TYPES: Final = ("in_transit_overdue", "undisposed_overdue", "stored_overdue")
KINDS: Final = (UNCOLLECTED, UNCONFIRMED, *STAY_TYPES)

# Inlined, not bound, so both databases can match them to the partial indexes' predicates.
CONFIRMED: ColumnElement[str] = literal_column("'confirmed'")

_COLUMNS: Final = ("kind", "ref", "batch", "region", "entry", "start_t", "end_t", "end_at",
                   "span", "org_a", "org_b", "manifest", "mass_g", "note")
_CODES: Final[BindParameter[Any]] = bindparam("codes", expanding=True)


def later(t1: Any, i1: Any, t2: Any, i2: Any) -> ColumnElement[bool]:
    """(t1, i1) >= (t2, i2), tuples compared as Python compares them."""
    return or_(t1 > t2, and_(t1 == t2, i1 >= i2))


def z(column: Any) -> ColumnElement[int]:
    return func.coalesce(column, 0)


def _ref(*parts: Any) -> ColumnElement[str]:
    """A row's key within its kind, as the finding's id spells it after ``kind:``."""
    out: ColumnElement[str] = cast(parts[0], String)
    for part in parts[1:]:
        out = out + literal_column("':'", String) + cast(part, String)
    return out


def _row(kind: Any, ref: Any, batch: Any, region: Any, entry: Any, start: Any, end_t: Any,
         end_at: Any, org_a: Any, org_b: Any = None, manifest: Any = None, mass: Any = None,
         note: Any = None) -> list[ColumnElement[Any]]:
    """The summary's columns in ``_COLUMNS`` order (typed NULLs where a kind has none)."""

    def typed(value: Any, type_: Any) -> ColumnElement[Any]:
        return cast(null(), type_) if value is None else value

    return [typed(kind, String).label("kind"), ref.label("ref"),
            typed(batch, String).label("batch"), region.label("region"),
            typed(entry, BigInteger).label("entry"), start.label("start_t"),
            end_t.label("end_t"), end_at.label("end_at"), (end_t - start).label("span"),
            org_a.label("org_a"), typed(org_b, String).label("org_b"),
            typed(manifest, String).label("manifest"), typed(mass, BigInteger).label("mass_g"),
            typed(note, String).label("note")]


def _uncollected(where: list[ColumnElement[bool]]) -> Any:
    """Each original batch from its declaration to its first collection: the first settled
    handover out of the generator, timed when its later side was signed. A withdrawn batch
    (``batch.withdrawn``) was never generated: it waits for nothing."""
    b = Batch

    def confirmed(ho: Any) -> tuple[ColumnElement[int], ColumnElement[int]]:
        """(time, entry) a handover was confirmed: its later-signed side."""
        a_t, r_t, a_i, r_i = (z(ho.answered_t_ms), z(ho.released_t_ms), z(ho.answered_at),
                              z(ho.released_at))
        answer_last = later(a_t, a_i, r_t, r_i)
        return case((answer_last, a_t), else_=r_t), case((answer_last, a_i), else_=r_i)

    ho = aliased(Handover, name="ho")
    conf_t, _ = confirmed(ho)
    first_t = func.min(case((ho.batch.is_not(None), conf_t)))  # NULL: never collected
    firsts = (select(b.code, b.region, b.generator, b.declared_at, b.declared_mass_g,
                     b.declared_t_ms, first_t.label("conf_t"))
              .outerjoin(ho, and_(ho.batch == b.code, ho.from_org == b.generator,
                                  ho.status == CONFIRMED))
              .where(b.consolidated == false(), b.state != WITHDRAWN, *where)
              .group_by(b.code)
              .subquery("firsts"))
    again = aliased(Handover, name="again")
    again_t, again_at = confirmed(again)
    first_at = (select(func.min(again_at))  # the entry of that first collection
                .where(again.batch == firsts.c.code, again.status == CONFIRMED,
                       again.from_org == firsts.c.generator, again_t == firsts.c.conf_t)
                .correlate(firsts).scalar_subquery())
    return select(*_row(literal(UNCOLLECTED), _ref(firsts.c.code), firsts.c.code,
                        firsts.c.region, firsts.c.declared_at, firsts.c.declared_t_ms,
                        firsts.c.conf_t, first_at, firsts.c.generator,
                        mass=firsts.c.declared_mass_g))


def _unconfirmed(where: list[ColumnElement[bool]]) -> Any:
    """Each live handover from its first signed side to its second (open while one is
    missing)."""
    ho, b = Handover, Batch
    both = and_(ho.released_at.is_not(None), ho.answered_at.is_not(None))
    release_first = or_(ho.answered_at.is_(None), and_(
        ho.released_at.is_not(None),
        later(ho.answered_t_ms, ho.answered_at, ho.released_t_ms, ho.released_at)))
    first_t = case((release_first, ho.released_t_ms), else_=ho.answered_t_ms)
    first_at = case((release_first, ho.released_at), else_=ho.answered_at)
    last_t = case((release_first, ho.answered_t_ms), else_=ho.released_t_ms)
    last_at = case((release_first, ho.answered_at), else_=ho.released_at)
    missing = case((both, null()), (ho.answered_at.is_(None), literal_column("'answer'")),
                   else_=literal_column("'release'"))
    return (select(*_row(literal(UNCONFIRMED), _ref(ho.batch, first_at), ho.batch, b.region,
                         first_at, first_t, case((both, last_t)), case((both, last_at)),
                         ho.from_org, ho.to_org, ho.manifest, note=missing))
            .join(b, b.code == ho.batch)
            .where(ho.status.not_in(("superseded", "withdrawn")), *where))


def _stays(where: list[ColumnElement[bool]]) -> Any:
    """How long each holder kept each batch: from a settled handover to the holder's next
    release of it, its disposal (disposers only) or its pouring all of it into other batches.

    One pass over the batch's settled handovers in answer order with LEAD() for the next one;
    the kind of stay comes from the holder's roles."""
    ho, b, d, o = Handover, Batch, Disposal, Organisation

    def following(column: Any) -> ColumnElement[Any]:
        return func.lead(column).over(partition_by=ho.batch, order_by=ho.answered_at)

    settled = (select(ho.batch, ho.to_org, ho.answered_at,
                      z(ho.answered_t_ms).label("a_t"), z(ho.released_t_ms).label("r_t"),
                      following(ho.from_org).label("next_from"),
                      following(ho.released_t_ms).label("next_t"),
                      following(ho.released_at).label("next_at"))
               .where(ho.status == CONFIRMED, *where).subquery("settled"))
    roles: ColumnElement[str] = " " + o.roles + " "
    holders = select(o.uscc, case(
        (o.roles.in_(("", "transporter")), STAY_TYPES[0]),
        (or_(roles.like("% disposer %"), roles.like("% receiver %")), STAY_TYPES[1]),
        else_=STAY_TYPES[2]).label("kind")).subquery("holders")
    kind = func.coalesce(holders.c.kind, STAY_TYPES[0])  # an unknown holder: no roles
    start = case((settled.c.a_t >= settled.c.r_t, settled.c.a_t), else_=settled.c.r_t)
    handed_on = and_(settled.c.next_from == settled.c.to_org, settled.c.next_t.is_not(None))
    disposed = and_(kind == STAY_TYPES[1], d.batch.is_not(None))
    # not handed on nor disposed of: ended when the holder poured all of the batch into
    # others, at the batch's last entry (every entry of a batch's stream sets updated_at, and
    # times never decrease along a stream)
    poured = and_(b.holder == settled.c.to_org, b.state == CONSOLIDATED)
    last_t = (select(LogEntry.t_ms).where(LogEntry.idx == b.updated_at)
              .correlate(b).scalar_subquery())
    end_t = case((handed_on, settled.c.next_t), (disposed, d.t_ms), (poured, last_t))
    end_at = case((handed_on, settled.c.next_at), (disposed, d.entry), (poured, b.updated_at))
    how = case((or_(handed_on, disposed), null()), (poured, literal_column("'poured'")))
    return (select(*_row(kind, _ref(settled.c.batch, z(settled.c.answered_at)), settled.c.batch,
                         b.region, settled.c.answered_at, start, end_t, end_at,
                         settled.c.to_org, note=how))
            .select_from(settled)
            .join(b, b.code == settled.c.batch)
            .outerjoin(holders, holders.c.uscc == settled.c.to_org)
            .outerjoin(d, d.batch == settled.c.batch))


def _all_rows(restricted: bool) -> Any:
    """Every summary row, or (``restricted``) those of the batches named by the ``codes``
    parameter."""
    def on(column: Any) -> list[ColumnElement[bool]]:
        return [column.in_(_CODES)] if restricted else []

    return union_all(_uncollected(on(Batch.code)), _unconfirmed(on(Handover.batch)),
                     _stays(on(Handover.batch)))


@functools.cache
def _statements(dialect: str) -> tuple[Any, Any]:
    """The refresh's two statements, built once per dialect (building them costs far more
    Python time than running them for one batch)."""
    ci = CustodyInterval
    remove = delete(ci).where(ci.batch.in_(_CODES))
    add = insert(ci).from_select(_COLUMNS, _all_rows(True))
    return remove, add


def refresh_intervals(session: Session, codes: Iterable[str]) -> None:
    """Recompute the summary rows of the batches ``codes``; called after
    every entry that changes a batch, in its transaction."""
    codes = sorted(set(codes))
    if not codes:
        return
    session.flush()
    remove, add = _statements(session.get_bind().dialect.name)
    conn = session.connection()
    conn.execute(remove, {"codes": codes})
    conn.execute(add, {"codes": codes})


def rebuild_intervals(session: Session) -> int:
    """Recompute every summary row, set-based (bulk loads, an upgrade, repairs)."""
    return rebuild_kept(session, CustodyInterval, _COLUMNS, _all_rows(False))


def interval_differences(session: Session) -> list[tuple[Any, ...]]:
    """Rows of the kept summary that differ from a fresh computation (empty when it is right)."""
    return kept_differences(session, CustodyInterval, _COLUMNS, _all_rows(False))


# --- the manifests' times (kept on the manifests projection) ---------------------------------


def _manifest_times() -> Any:
    """Each manifest's closing time (the time of the entry at ``closed_at``) and its span
    (closing − arrival: the carrier's signed arrival, else the opening), as the custody
    handlers keep them (``ledger.custody.kinds.manifest_span``); NULL while open."""
    m = Manifest
    closed = (select(LogEntry.t_ms).where(LogEntry.idx == m.closed_at).correlate(m)
              .scalar_subquery())
    return closed, closed - func.coalesce(m.arrived_t_ms, m.opened_t_ms)


def rebuild_manifest_times(session: Session) -> int:
    """Set every manifest's ``closed_t_ms`` and ``span_ms`` from the log, set-based (bulk
    loads, repairs; migration 0017 runs the same statements for an upgrade). Only rows that
    differ are written. Returns how many were."""
    session.flush()
    table = Manifest.__table__
    assert isinstance(table, Table)
    m = table.c
    conn = session.connection()
    closed = (update(table)
              .values(closed_t_ms=LogEntry.t_ms,
                      span_ms=LogEntry.t_ms - func.coalesce(m.arrived_t_ms, m.opened_t_ms))
              .where(LogEntry.idx == m.closed_at,
                     or_(m.closed_t_ms.is_distinct_from(LogEntry.t_ms),
                         m.span_ms.is_distinct_from(
                             LogEntry.t_ms - func.coalesce(m.arrived_t_ms, m.opened_t_ms)))))
    still_open = (update(table).values(closed_t_ms=None, span_ms=None)
                  .where(m.closed_at.is_(None),
                         or_(m.closed_t_ms.is_not(None), m.span_ms.is_not(None))))
    return sum(conn.execute(statement).rowcount for statement in (closed, still_open))


def manifest_time_differences(session: Session) -> list[tuple[Any, ...]]:
    """Manifests whose kept ``closed_t_ms`` or ``span_ms`` differ from the log's (empty when
    they are right): (number, kept closing, kept span, computed closing, computed span)."""
    m = Manifest
    closed, span = _manifest_times()
    return [tuple(r) for r in session.execute(
        select(m.number, m.closed_t_ms, m.span_ms, closed, span)
        .where(or_(m.closed_t_ms.is_distinct_from(closed), m.span_ms.is_distinct_from(span)))
        .order_by(m.number))]

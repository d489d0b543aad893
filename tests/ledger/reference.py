"""The mass balance computed independently in Python from the projection rows: the tests'
own reading of docs/reconciliation.md, against which the SQL report is checked (used by the
ledger and the API tests)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.models import Declaration, DeclarationLine, PlanLine
from ledger.audit.reconcile import Figures
from ledger.custody.projections import Batch, Disposal, Handover, Lineage, Organisation


def reference(session: Session, originals: Iterable[str]) -> dict[str, Counter[str]]:
    """The same rule computed in Python from the projection rows (the test's own reading of
    the spec): own situation, plus m/M of each child's situation, floor per level."""
    batches = {b.code: b for b in session.scalars(select(Batch))}
    disposals = {d.batch: d for d in session.scalars(select(Disposal))}
    links: dict[str, list[Lineage]] = defaultdict(list)
    for link in session.scalars(select(Lineage)):
        links[link.parent].append(link)
    handovers: dict[str, list[Handover]] = defaultdict(list)
    for h in session.scalars(select(Handover).order_by(Handover.id)):
        handovers[h.batch].append(h)

    def situation(b: Batch) -> tuple[str, int] | None:
        if b.state == "consolidated":
            return None
        if b.state == "disposed":
            d = disposals[b.code]
            return "disposed_" + d.method, d.mass_g
        if b.state == "declared" and b.consolidated and any(
                h.refused_part == b.code for hs in handovers.values() for h in hs):
            return "returned", b.mass_g  # a refused part taken back by its generator
        if b.state == "declared" and b.consolidated:  # left "declared" by its maker
            maker = session.get(Organisation, b.holder)
            at_disposer = maker is not None and {"disposer", "receiver"} & set(
                maker.roles.split())
            return ("received_at_disposers" if at_disposer else "in_storage"), b.mass_g
        if b.state == "declared":
            back = any(h.to_org == b.generator and h.status == "confirmed"
                       for h in handovers[b.code])
            return ("returned" if back else "at_generator"), b.mass_g
        return {"pending": "in_transit", "in_transit": "in_transit", "stored": "in_storage",
                "received": "received_at_disposers", "refused": "refused"}[b.state], b.mass_g

    def add(out: Counter[str], b: Batch, share: int | None) -> None:
        def part(g: int) -> int:
            return g if share is None else g * share // b.declared_mass_g
        where = situation(b)
        if where is not None:
            out[where[0]] += part(where[1])
        for h in handovers[b.code]:
            if h.status == "confirmed" and h.refused_mass_g is not None and (
                    h.refused_part is None):
                out["refused"] += part(h.refused_mass_g)
        for link in links[b.code]:
            child = batches.get(link.child)
            if child is not None:
                inner = link.mass_g if share is None else share * link.mass_g // \
                    b.declared_mass_g
                add(out, child, inner)

    result = {}
    for code in originals:
        b = batches[code]
        out: Counter[str] = Counter(declared=b.declared_mass_g)
        first = next((h for h in handovers[code] if h.status == "confirmed"
                      and h.from_org == b.generator and h.to_org != b.generator), None)
        if first is not None:
            out["collected"] += first.accepted_mass_g or 0
        add(out, b, None)
        result[code] = out
    return result


def as_figures(counts: Counter[str]) -> Figures:
    return Figures(batches=1, **{k: v for k, v in counts.items()})


def reference_plan_columns(session: Session, lo: dt.date | None, hi: dt.date | None,
                           generator: str | None = None,
                           waste_code: str | None = None) -> dict[str, Counter[tuple[str, str]]]:
    """Planned and declared generation per (breakdown, key), the test's own reading of
    docs/plans.md: walk every day of each plan's year (each declaration's period) inside the
    filter period, count the days per month, and take ``mass × days ÷ days of the year (the
    period)`` per month, rounded down; every level sums those monthly pieces."""
    out: dict[str, Counter[tuple[str, str]]] = {"planned": Counter(), "reported": Counter()}

    def spread(figure: str, org: str, code: str, start: dt.date, end: dt.date,
               mass: int) -> None:
        if (generator and org != generator) or (waste_code and code != waste_code):
            return
        total = (end - start).days + 1
        days: Counter[str] = Counter()
        day = start
        while day <= end:
            if (lo is None or day >= lo) and (hi is None or day <= hi):
                days[day.strftime("%Y-%m")] += 1
            day += dt.timedelta(days=1)
        for month, n in days.items():
            piece = mass * n // total
            for key in (("by_generator", org), ("by_waste_code", code),
                        ("by_category", "HW" + code[-2:]), ("by_month", month),
                        ("totals", "")):
                out[figure][key] += piece

    for line in session.scalars(select(PlanLine)):
        spread("planned", line.org, line.waste_code, dt.date(line.year, 1, 1),
               dt.date(line.year, 12, 31), line.generation_g)
    periods = {(d.org, d.period): d for d in session.scalars(select(Declaration))}
    for dl in session.scalars(select(DeclarationLine)):
        d = periods[(dl.org, dl.period)]
        spread("reported", dl.org, dl.waste_code, dt.date.fromisoformat(d.period_from),
               dt.date.fromisoformat(d.period_to), dl.generated_g)
    return out

"""The mass balance computed independently in Python from the projection rows: the tests'
own reading of docs/reconciliation.md, against which the SQL report is checked (used by the
ledger and the API tests)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

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
            if h.status == "confirmed" and h.refused_mass_g is not None:
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

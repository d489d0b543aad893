"""Recompute every projection from index 0 and compare it with what the database holds.

The log is the evidence; the projections (tree nodes, key registry, organisations, batches,
handovers, ...) are derived from it. ``rebuild`` replays every stored entry through the same
rules and handlers as an append, re-verifying every signature on the way, and reports any row
that differs. With ``commit=False`` (a check) nothing is changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from ledger.tlog.db import write_transaction
from ledger.tlog.entries import parse_entry
from ledger.tlog.log import (
    HEAD_ID,
    LogConfig,
    apply_entry,
    entries_between,
    genesis_operator_vkey,
    read_head,
    write_head,
)
from ledger.tlog.merkle import EMPTY_ROOT
from ledger.tlog.models import Base, IntegrityFinding, IntegrityWatermark, LogHead

# Evidence and access control are not projections of the log (witness cosignatures are the
# witnesses' signatures: nothing in the log could remake them).
PRESERVED = frozenset({"log_entries", "checkpoints", "checkpoint_cosignatures", "log_head",
                       "users", "api_tokens",
                       "pickup_requests", "pickup_items", "login_failures",
                       "code_reservations", "login_sessions", "rate_counters",
                       "catalogue_editions", "case_evidence", "rule_changes",
                       "reference_lists",
                       # notifications and their delivery state: what was told, once
                       "notifications", "push_subscriptions", "webhook_subscriptions",
                       "notification_deliveries", "job_runs"})
# Verification state of the gap scan (ledger.audit.gaps.advance_integrity): not replayed but reset,
# so the next scan re-verifies the rebuilt tree from index 0.
VERIFICATION = frozenset({"integrity_watermark", "integrity_findings"})
SURROGATE_KEYS = frozenset({"id"})  # autoincrement ids differ after a replay


@dataclass
class RebuildReport:
    entries: int = 0
    differences: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return not self.differences


class _CheckOnly(Exception):
    pass


def projection_tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables
            if t.name not in PRESERVED and t.name not in VERIFICATION]


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection row (surrogate ids left out), sorted, per table."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in projection_tables():
        cols = [c for c in table.columns if c.name not in SURROGATE_KEYS]
        rows = session.execute(select(*cols)).all()
        out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    head = session.get(LogHead, HEAD_ID)
    out["log_head"] = [] if head is None else [(head.size, head.root, head.frontier,
                                                head.operator_org, head.operator_vkey)]
    return out


def rebuild(session: Session, config: LogConfig, *, commit: bool,
            progress: Callable[[int, int], None] | None = None) -> RebuildReport:
    """Replay the log into fresh projections; report differences; keep them if ``commit``.

    The reconciliation summary (``batch_balances``) is a projection like the others: the
    replay maintains it through the same custody handlers, and it is compared too. The
    integrity watermark is reset, so the next gap scan re-verifies the rebuilt tree."""
    report = RebuildReport()
    try:
        with write_transaction(session):
            before = snapshot(session)
            size = _reset(session)
            head = read_head(session, lock=True)
            assert head is not None
            for row in entries_between(session, 0, size):
                entry = parse_entry(row.note, max_size=len(row.note))
                apply_entry(session, head, entry, config, row.received_ms, store=False)
                # An append commits after every entry; the replay runs in one transaction, so
                # flush what a handler left pending before the next entry's checks read it.
                session.flush()
                report.entries += 1
                if progress is not None and (report.entries % 5000 == 0
                                             or report.entries == size):
                    progress(report.entries, size)
            write_head(session, head)
            session.flush()
            session.expire_all()
            report.differences = _diff(before, snapshot(session))
            if not commit:
                raise _CheckOnly
    except _CheckOnly:
        pass
    return report


def _reset(session: Session) -> int:
    head = session.get(LogHead, HEAD_ID)
    assert head is not None
    size = head.size
    genesis_vkey = genesis_operator_vkey(session)  # the replay follows rotations from it
    for table in reversed(projection_tables()):
        session.execute(delete(table))
    session.execute(update(LogHead).where(LogHead.id == HEAD_ID).values(
        size=0, root=EMPTY_ROOT, frontier=b"", operator_org=None, operator_vkey=genesis_vkey))
    session.execute(delete(IntegrityFinding))
    session.execute(update(IntegrityWatermark).values(verified_size=0, frontier=b""))
    # stored checkpoints are kept (they were published); the head keeps pointing at the newest
    session.expire_all()
    return size


def _diff(before: dict[str, list[tuple[Any, ...]]],
          after: dict[str, list[tuple[Any, ...]]]) -> dict[str, dict[str, list[Any]]]:
    out = {}
    for name in before:
        b, a = set(before[name]), set(after.get(name, []))
        if b != a:
            out[name] = {"only_in_database": sorted(b - a, key=repr)[:20],
                         "only_in_rebuild": sorted(a - b, key=repr)[:20]}
    return out

"""Wiring at start-up: the log's kinds with the audit layer's hooks attached.

``ledger.custody`` must not import ``ledger.audit`` (the domain does not know who reads it), yet
the reconciliation, custody-interval and lineage summaries have to be refreshed in the same
transaction as every batch entry, and the case, plan and declaration kinds (``ledger.audit.cases``,
``ledger.audit.plans``) are the audit layer's own. This module is the one place that knows
both, as cosmicpython's ``bootstrap.py`` is: the app, the CLI, the benchmarks and the tests get
their handlers here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from ledger.audit.cases import CaseSettings, case_kinds
from ledger.audit.intervals import refresh_intervals
from ledger.audit.lineage import refresh_lineage_totals
from ledger.audit.notifications import after_append
from ledger.audit.plans import PlanSettings, plan_kinds
from ledger.audit.reconcile import refresh_balances
from ledger.custody.kinds import CustodySettings, custody_kinds
from ledger.tlog.log import AppendContext, KindHandler


def after_batch_change(session: Session, codes: Iterable[str]) -> None:
    """What the audit layer keeps in step with the batches an entry changed: the
    reconciliation summary, and the custody-interval summary and the consolidated batches'
    lineage totals the gap scan reads."""
    codes = list(codes)
    refresh_balances(session, codes)
    refresh_intervals(session, codes)
    refresh_lineage_totals(session, codes)


def ledger_kinds(settings: CustodySettings | None = None,
                 cases: CaseSettings | None = None,
                 plans: PlanSettings | None = None) -> dict[str, KindHandler]:
    """Every domain kind with its handler, the audit layer's summaries kept up to date, and
    whoever must act next told (``ledger.audit.notifications``, in the same transaction)."""
    kinds = {**custody_kinds(settings, after_batch_change=after_batch_change),
             **case_kinds(cases), **plan_kinds(plans)}
    return {kind: _notifying(handler) for kind, handler in kinds.items()}


def _notifying(handler: KindHandler) -> KindHandler:
    def run(ctx: AppendContext) -> None:
        handler(ctx)
        after_append(ctx)  # never raises: a notification cannot refuse an entry

    run.__doc__ = handler.__doc__
    return run

"""回头看 as one call for the command line and the scheduler: run the look-back of closed cases
with the app's configuration (``ledger.audit.cases.run_lookbacks``; docs/cases.md)."""

from __future__ import annotations

from flask import Flask

from api.extensions import db
from api.runtime import log_config
from api.scoping import gap_settings
from ledger.audit.cases import LookbackSettings, Recurrence, run_lookbacks


def lookback_settings(app: Flask) -> LookbackSettings:
    return LookbackSettings(after_days=int(app.config["CASE_LOOKBACK_AFTER_DAYS"]),
                            within_days=int(app.config["CASE_LOOKBACK_WITHIN_DAYS"]))


def run_lookback(app: Flask, now_ms: int | None = None) -> list[Recurrence]:
    """Look at every closed case that is due again; reopen (signed by the operator key) those
    whose problem came back. Idempotent and safe to run from several processes at once."""
    with app.app_context():
        return run_lookbacks(db.session, log_config(), gap_settings(app),
                             lookback_settings(app), now_ms)

"""Bringing the app's database up at start: schema at the head revision, operator key, entry 0.

``waste-ledger init``, ``serve``, ``seed-demo`` and ``simulate`` all start here, and so do the
tests' apps. The schema is Alembic's (``ledger.migrations``): an empty database is built by the
migrations, a current one is left as it is, and one made by the release before migrations is
adopted in place (docs/deployment.md, "Schema changes").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import jobs, runtime
from api.extensions import db
from api.lookback import run_lookback
from api.notify import deliver, webpush
from api.scoping import plan_settings
from ledger import clock, migrations
from ledger.audit.intervals import rebuild_intervals
from ledger.audit.models import BalanceMonth, CustodyInterval
from ledger.audit.notifications import (
    DueDeclaration,
    remind_deadlines,
    remind_declarations,
)
from ledger.audit.plans import obligations_due
from ledger.audit.reconcile import rebuild_balances, rebuild_months
from ledger.custody.projections import Batch, BatchBalance
from ledger.tlog import log

DECLARATION_DAYS = 7  # a plan or declaration is reminded this many days before it is due


def upgrade_schema(app: Flask) -> migrations.SchemaUpgrade:
    """Bring the schema to head at a server's start (``api.wsgi``), and let go of the
    connections, so workers forked afterwards (gunicorn --preload) share none. Workers that
    start together upgrade once: the migrations take a lock. The operator key and entry 0 are
    ``waste-ledger init``'s, not a worker's."""
    webpush.ensure_vapid_key(Path(app.config["VAPID_KEY_FILE"]))  # 0600; kept once made
    with app.app_context():
        try:
            done = migrations.upgrade(db.engine)
        finally:
            db.engine.dispose()
    if done.changed:
        app.logger.warning("database schema upgraded from %s to %s", done.before, done.after)
    return done


def ensure_initialised(report: Callable[[str], None] | None = None) -> bool:
    """Upgrade the schema to head; create the operator key and entry 0 if they do not exist.

    True if it created the log. ``report`` hears what was upgraded (default: the app's log).
    """
    app = current_app
    say = report or app.logger.info
    schema = migrations.upgrade(db.engine)
    if schema.adopted:
        say(f"adopted a database made before migrations; schema now at {schema.after}")
    elif schema.changed and schema.before is not None:
        say(f"upgraded the database schema from {schema.before} to {schema.after}")
    if webpush.ensure_vapid_key(Path(app.config["VAPID_KEY_FILE"])):
        say(f"Web Push key made: {app.config['VAPID_KEY_FILE']}")
    filled = _fill_summary(db.session)
    if filled is not None:
        say(f"reconciliation summary filled for {filled} batches")
    intervals = _fill_intervals(db.session)
    if intervals is not None:
        say(f"custody-interval summary filled with {intervals} rows")
    if log.read_head(db.session, lock=False) is None:
        db.session.rollback()
        config_signer = runtime.create_operator_key(app)
        cfg = runtime.log_config(app)
        assert cfg.operator.verifier == config_signer.verifier
        log.init_log(db.session, cfg, app.config["OPERATOR_ORG"], {
            "name": app.config["OPERATOR_NAME"],
            "region": app.config["OPERATOR_REGION"],
            "roles": ["operator"],
        })
        return True
    # The log exists: its operator key must be the file's. A missing file is never replaced
    # by a new key (the log could then not be continued under its identity).
    db.session.rollback()
    check_operator_key(app)
    return False


def check_operator_key(app: Flask) -> None:
    """Refuse to start when the log exists and the operator key file is missing or does not
    hold the key in force (entry 0's, or the one the last rotation named): what every server
    runs at start. Before ``init`` there is nothing to compare (init makes the key). The
    connections are let go after, as in ``upgrade_schema``, so forked workers share none."""
    with app.app_context():
        try:
            head = log.read_head(db.session, lock=False)
            if head is None:
                app.logger.warning("the log is not initialised: run `waste-ledger init`")
            else:
                log.require_operator(runtime.log_config(app), head.operator_vkey)
        finally:
            db.session.close()
            db.engine.dispose()


def _fill_summary(session: Session) -> int | None:
    """The reconciliation summary of a database from before ``batch_balances`` existed is
    empty; fill it (derived data: nothing signed is touched). None when there was nothing to do.
    Checked on every start, so a start interrupted after the schema upgrade still fills it."""
    has_batches = session.scalar(select(Batch.code).limit(1)) is not None
    if not has_batches or session.scalar(select(BatchBalance.origin).limit(1)) is not None:
        session.rollback()
        return None
    filled = rebuild_balances(session)
    session.commit()
    return filled


def _fill_intervals(session: Session) -> int | None:
    """The custody-interval summary the gap scan reads and the reconciliation summary's monthly
    totals (revision 0016) start empty on a database that has batches; fill them from the
    projections. None when there was nothing to do; checked on every start, as
    ``_fill_summary``."""
    has_batches = session.scalar(select(Batch.code).limit(1)) is not None
    if not has_batches:
        session.rollback()
        return None
    if session.scalar(select(BalanceMonth.month).limit(1)) is None:
        rebuild_months(session)
    if session.scalar(select(CustodyInterval.kind).limit(1)) is not None:
        session.commit()
        return None
    filled = rebuild_intervals(session)
    session.commit()
    return filled


def register_jobs(app: Flask) -> None:
    """The scheduled jobs of this app (docs/notifications.md, "Jobs"). Other modules add theirs
    with ``api.jobs.register`` at start-up, as these are."""
    jobs.register(app, "deliveries", lambda a: deliver.deliver_pending(a),
                  int(app.config["DELIVERY_EVERY_SECONDS"]),
                  "send pending Web Push and webhook deliveries, retrying failed ones")
    jobs.register(app, "deadline-reminders",
                  lambda a: remind_deadlines(db.session, clock.beijing_today().isoformat()),
                  int(app.config["REMINDER_EVERY_SECONDS"]),
                  "tell assignees of cases due within 3 days (Beijing dates)")
    jobs.register(app, "look-back", lambda a: f"{len(run_lookback(a))} case(s) reopened",
                  int(app.config["REMINDER_EVERY_SECONDS"]),
                  "回头看: re-run the gap query of cases closed long enough ago (docs/cases.md)")
    jobs.register(app, "declarations-due", remind_declarations_due,
                  int(app.config["REMINDER_EVERY_SECONDS"]),
                  f"tell generators of a plan or declaration due within {DECLARATION_DAYS} days")


def remind_declarations_due(app: Flask) -> int:
    """``declaration.due`` for each plan or declaration (ledger.audit.plans.obligations_due)
    falling due from today to DECLARATION_DAYS days on (Beijing dates); once per due date."""
    today = clock.beijing_today()
    last = today + dt.timedelta(days=DECLARATION_DAYS)
    due = [DueDeclaration(o.organisation, o.kind, o.period, o.due.isoformat())
           for o in obligations_due(db.session, today, plan_settings(app))
           if today <= o.due <= last]
    return remind_declarations(db.session, due)

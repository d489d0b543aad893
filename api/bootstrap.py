"""Bringing the app's database up at start: schema at the head revision, operator key, entry 0.

``waste-ledger init``, ``serve``, ``seed-demo`` and ``simulate`` all start here, and so do the
tests' apps. The schema is Alembic's (``ledger.migrations``): an empty database is built by the
migrations, a current one is left as it is, and one made by the release before migrations is
adopted in place (docs/deployment.md, "Schema changes").
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import runtime
from api.extensions import db
from ledger import migrations
from ledger.audit.reconcile import rebuild_balances
from ledger.custody.projections import Batch, BatchBalance
from ledger.tlog import log


def upgrade_schema(app: Flask) -> migrations.SchemaUpgrade:
    """Bring the schema to head at a server's start (``api.wsgi``), and let go of the
    connections, so workers forked afterwards (gunicorn --preload) share none. Workers that
    start together upgrade once: the migrations take a lock. The operator key and entry 0 are
    ``waste-ledger init``'s, not a worker's."""
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
    filled = _fill_summary(db.session)
    if filled is not None:
        say(f"reconciliation summary filled for {filled} batches")
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

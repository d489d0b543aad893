"""``waste-ledger jobs``: run the due scheduled jobs once (for cron and tests), list them."""

from __future__ import annotations

import datetime as dt

import click
from flask import current_app
from flask.cli import with_appcontext

from api import jobs
from api.extensions import db
from ledger.audit.jobs import job_runs
from ledger.errors import LedgerError


@click.group("jobs")
def jobs_group() -> None:
    """Scheduled jobs: reminders, 回头看, Web Push and webhook deliveries."""


@jobs_group.command("run")
@click.argument("name", required=False)
@with_appcontext
def run_command(name: str | None) -> None:
    """Run every due job once; with NAME, run that job now even if it is not due."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # LocalProxy's
    try:
        outcomes = jobs.run_due(app, name)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    failed = False
    for o in outcomes:
        click.echo(f"{o.name}: {o.result if o.ran else 'skipped (' + o.result + ')'}")
        failed |= o.ran and o.result.startswith("failed")
    if failed:
        raise SystemExit(1)


@jobs_group.command("list")
@with_appcontext
def list_command() -> None:
    """The registered jobs, when each last ran and is due next (UTC)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # LocalProxy's
    rows = {r.name: r for r in job_runs(db.session)}
    for name, job in sorted(jobs.registered(app).items()):
        row = rows.get(name)
        due = _utc(row.next_due_ms) if row else "now"
        last = _utc(row.last_finished_ms) if row and row.last_finished_ms else "never"
        click.echo(f"{name}\tevery {job.every_seconds}s\tlast {last}\tnext {due}\t"
                   f"{job.description}")


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")

"""Scheduled jobs: a registry that code fills at start-up, a run of the due ones, and
APScheduler in the serving process as the clock.

What runs when is decided in the database (``ledger.audit.jobs``: a lease per job run), not by
the scheduler, so any number of processes may tick: ``waste-ledger serve`` (APScheduler in a
background thread), every gunicorn worker with ``JOBS_IN_PROCESS``, or cron calling
``waste-ledger jobs run``. docs/notifications.md, "Jobs".
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from api.extensions import db
from ledger.audit import jobs as runs
from ledger.errors import ConfigurationError, LedgerError

EXT = "waste_ledger_jobs"
log = logging.getLogger(__name__)

JobFunction = Callable[[Flask], object]
"""A job: called in an app context; what it returns is recorded as its result (a summary)."""


@dataclass(frozen=True)
class Job:
    name: str
    run: JobFunction
    every_seconds: int
    description: str


@dataclass(frozen=True)
class Outcome:
    name: str
    ran: bool  # False: not due, or another process holds it
    result: str


def init_app(app: Flask) -> None:
    app.extensions[EXT] = {"jobs": {}, "scheduler": None, "pid": None,
                           "owner": f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"}
    if app.config.get("JOBS_IN_PROCESS"):
        # Started by the first request, in the serving process (not before a gunicorn fork).
        app.before_request(lambda: _ensure_running(app))


def _ensure_running(app: Flask) -> None:
    state = app.extensions[EXT]
    if state["pid"] != os.getpid():
        state["pid"], state["scheduler"] = os.getpid(), None
        state["owner"] = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        start_scheduler(app)


def register(app: Flask, name: str, run: JobFunction, every_seconds: int,
             description: str) -> None:
    """Add a job (at start-up: api.bootstrap registers the reminders and deliveries)."""
    if every_seconds <= 0:
        raise ConfigurationError(f"job {name}: every_seconds must be positive",
                                 code="job_interval_invalid")
    app.extensions[EXT]["jobs"][name] = Job(name, run, every_seconds, description)


def registered(app: Flask) -> dict[str, Job]:
    jobs: dict[str, Job] = app.extensions[EXT]["jobs"]
    return jobs


def run_due(app: Flask, name: str | None = None) -> list[Outcome]:
    """Run every due job once (or only ``name``, then even if not yet due), each under its
    lease; a job that fails is recorded and the others still run."""
    jobs = registered(app)
    if name is not None and name not in jobs:
        raise ConfigurationError(f"no job called {name}; known: {', '.join(sorted(jobs))}",
                                 code="job_unknown")
    owner = app.extensions[EXT]["owner"]
    lease_ms = int(app.config["JOBS_LEASE_SECONDS"]) * 1000
    out = []
    for job in [jobs[name]] if name else list(jobs.values()):
        with app.app_context():
            session = db.session
            if not runs.claim(session, job.name, owner, lease_ms, force=name is not None):
                out.append(Outcome(job.name, False, "not due, or running elsewhere"))
                continue
            try:
                result = str(job.run(app))
            except (LedgerError, SQLAlchemyError, OSError) as exc:
                log.exception("job %s failed", job.name)
                result = f"failed: {exc}"
            runs.release(session, job.name, owner, job.every_seconds * 1000, result)
            out.append(Outcome(job.name, True, result))
    return out


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Tick in a background thread of this process: every ``JOBS_TICK_SECONDS``, run what is
    due. One tick at a time (max_instances=1); a tick missed while the process slept is run
    once, not many times (coalesce)."""
    state = app.extensions[EXT]
    if state["scheduler"] is not None:
        return state["scheduler"]
    scheduler = BackgroundScheduler(timezone="UTC", daemon=True)
    scheduler.add_job(_tick, "interval", args=[app], id="waste-ledger-jobs",
                      seconds=float(app.config["JOBS_TICK_SECONDS"]), max_instances=1,
                      coalesce=True)
    scheduler.start()
    state["scheduler"] = scheduler
    return scheduler


def stop_scheduler(app: Flask) -> None:
    scheduler = app.extensions[EXT]["scheduler"]
    if scheduler is not None:
        scheduler.shutdown(wait=True)
        app.extensions[EXT]["scheduler"] = None


def _tick(app: Flask) -> None:
    try:
        for outcome in run_due(app):
            if outcome.ran and outcome.result.startswith("failed"):
                log.warning("job %s: %s", outcome.name, outcome.result)
    except (LedgerError, SQLAlchemyError, OSError) as exc:
        log.warning("job tick failed: %s", exc)

"""Runs of scheduled jobs (reminders, 回头看, deliveries): one row per job, leased per run.

Several server processes (gunicorn workers, machines) each run a scheduler, and cron may run
``waste-ledger jobs run`` besides. A run starts only after a conditional UPDATE of the job's
row took the lease (the job is due and nobody's lease is current): one statement, atomic on
SQLite and PostgreSQL alike, so exactly one process runs each due job, and a process that died
mid-run holds the job only until its lease expires. The jobs are also idempotent themselves
(a reminder has a unique key), so a run repeated after a crash adds nothing.
"""

from __future__ import annotations

import time

from sqlalchemy import String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.tlog.models import Base


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class JobRun(Base):
    """A scheduled job: when it is due next, and who runs it now (the lease)."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_due_ms: Mapped[int]
    lease_until_ms: Mapped[int]
    owner: Mapped[str | None] = mapped_column(String(100))
    last_started_ms: Mapped[int | None]
    last_finished_ms: Mapped[int | None]
    last_result: Mapped[str | None] = mapped_column(Text)  # what the job said, or its error


def claim(session: Session, name: str, owner: str, lease_ms: int, *, force: bool = False,
          at_ms: int | None = None) -> bool:
    """Take the lease of job ``name`` if it is due (or ``force``) and not leased; commits."""
    now = now_ms() if at_ms is None else at_ms
    if session.get(JobRun, name) is None:
        try:
            with session.begin_nested():
                session.add(JobRun(name=name, next_due_ms=0, lease_until_ms=0))
        except IntegrityError:
            pass  # another process made the row first
        session.commit()
    stmt = update(JobRun).where(JobRun.name == name, JobRun.lease_until_ms < now)
    if not force:
        stmt = stmt.where(JobRun.next_due_ms <= now)
    taken = session.execute(stmt.values(
        lease_until_ms=now + lease_ms, owner=owner, last_started_ms=now))
    session.commit()
    return bool(taken.rowcount)  # type: ignore[attr-defined]  # a CursorResult


def release(session: Session, name: str, owner: str, every_ms: int, result: str) -> None:
    """End a run: the job is due again ``every_ms`` after it started; the lease is let go."""
    session.rollback()
    row = session.get(JobRun, name)
    started = row.last_started_ms if row is not None and row.last_started_ms else now_ms()
    session.execute(update(JobRun).where(JobRun.name == name, JobRun.owner == owner).values(
        lease_until_ms=0, next_due_ms=started + every_ms, last_finished_ms=now_ms(),
        last_result=result[:2000]))
    session.commit()


def job_runs(session: Session) -> list[JobRun]:
    return list(session.scalars(select(JobRun).order_by(JobRun.name)))

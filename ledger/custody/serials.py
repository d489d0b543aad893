"""Handing out batch codes (数字识别码) before they are signed.

A device signs ``batch.declared`` (or ``batch.consolidated``) under a code it chose, so it
asks first for a free serial. Serials handed out are held for a while in the database, so two
devices, tabs or server workers asking at once get different codes; the ledger still has the
last word (a stream has one seq 0), and a client that loses a race asks again.
"""

from __future__ import annotations

import time

from sqlalchemy import String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.custody.projections import Batch, Lineage
from ledger.errors import Conflict
from ledger.tlog.models import Base

HOLD_MS = 15 * 60 * 1000
MAX_SERIAL = 999
ATTEMPTS = 5


class CodeReservation(Base):
    """A batch code handed out and not yet declared (or lapsed)."""

    __tablename__ = "code_reservations"

    code: Mapped[str] = mapped_column(String(37), primary_key=True)
    org: Mapped[str] = mapped_column(String(18))
    reserved_ms: Mapped[int]


def reserve_code(session: Session, prefix: str, org: str, now_ms: int | None = None) -> str:
    """A free code ``prefix + serial`` (prefix: USCC + waste code + YYYYMMDD), held for
    ``HOLD_MS``: above every serial declared, linked as a consolidation child or held."""
    for _ in range(ATTEMPTS):
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        session.execute(delete(CodeReservation).where(
            CodeReservation.code.like(prefix + "%"), CodeReservation.reserved_ms <= now - HOLD_MS))
        code = f"{prefix}{_next_serial(session, prefix):03d}"
        session.add(CodeReservation(code=code, org=org, reserved_ms=now))
        try:
            session.commit()
            return code
        except IntegrityError:  # another worker took it between our read and write
            session.rollback()
    raise Conflict("too many devices are asking for codes at once; try again",
                   code="serial_race")


def _next_serial(session: Session, prefix: str) -> int:
    like = prefix + "%"
    codes = set(session.scalars(select(Batch.code).where(Batch.code.like(like))))
    codes |= set(session.scalars(select(Lineage.child).where(Lineage.child.like(like))))
    codes |= set(session.scalars(select(CodeReservation.code).where(
        CodeReservation.code.like(like))))
    used = {int(c[-3:]) for c in codes if c[-3:].isdigit()}
    serial = max(used, default=0) + 1
    if serial <= MAX_SERIAL:
        return serial
    # Past 999: the first serial never used (a lapsed reservation frees its serial again).
    free = sorted(set(range(1, MAX_SERIAL + 1)) - used)
    if not free:
        raise Conflict("no serial (001-999) is left for this waste code on this day",
                       code="serial_exhausted", field="generated_on")
    return free[0]

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
from ledger.tlog.db import write_transaction
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


def reserve_codes(session: Session, prefix: str, org: str, count: int = 1,
                  now_ms: int | None = None) -> list[str]:
    """``count`` free codes ``prefix + serial`` (prefix: USCC + waste code + YYYYMMDD), held
    for ``HOLD_MS``: above every serial declared, linked as a consolidation child or held.
    One transaction for all of them, which takes the write lock before it reads (a device
    declaring 60 drums at once waits for one commit, not 60)."""
    for _ in range(ATTEMPTS):
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        try:
            with write_transaction(session):
                session.execute(delete(CodeReservation).where(
                    CodeReservation.code.like(prefix + "%"),
                    CodeReservation.reserved_ms <= now - HOLD_MS))
                codes = [f"{prefix}{n:03d}" for n in _next_serials(session, prefix, count)]
                session.add_all(CodeReservation(code=c, org=org, reserved_ms=now) for c in codes)
            return codes
        except IntegrityError:  # another worker took one between our read and write
            continue
    raise Conflict("too many devices are asking for codes at once; try again",
                   code="serial_race")


def reserve_code(session: Session, prefix: str, org: str, now_ms: int | None = None) -> str:
    """One free code, as :func:`reserve_codes`."""
    return reserve_codes(session, prefix, org, 1, now_ms)[0]


def _next_serials(session: Session, prefix: str, count: int) -> list[int]:
    like = prefix + "%"
    codes = set(session.scalars(select(Batch.code).where(Batch.code.like(like))))
    codes |= set(session.scalars(select(Lineage.child).where(Lineage.child.like(like))))
    codes |= set(session.scalars(select(CodeReservation.code).where(
        CodeReservation.code.like(like))))
    used = {int(c[-3:]) for c in codes if c[-3:].isdigit()}
    top = max(used, default=0)
    serials = list(range(top + 1, min(top + count, MAX_SERIAL) + 1))
    if len(serials) < count:
        # Past 999: the first serials never used (a lapsed reservation frees its serial again).
        free = sorted(set(range(1, top)) - used)
        serials += free[:count - len(serials)]
    if len(serials) < count:
        raise Conflict("no serial (001-999) is left for this waste code on this day",
                       code="serial_exhausted", field="generated_on")
    return serials

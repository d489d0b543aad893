"""Business permits (危险废物经营许可证): which permit covers a waste code, an activity and a
day, and which receivers a generator can hand its waste to.

The append rules (``ledger.custody.kinds``) and the pages ask the same questions here, so a
receiver the pickup form offers is one the release will accept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.custody.pickups import RECEIVING_ROLES
from ledger.custody.projections import Organisation, Permit


def permit_covers(permit: Permit, waste_code: str, activity: str, day: str) -> bool:
    """``permit`` is valid on ``day`` and covers the code (or its HW category) and activity."""
    codes = set(permit.codes.split())
    return (permit.valid_from <= day <= permit.valid_to
            and activity in permit.activities.split()
            and (waste_code in codes or "HW" + waste_code[-2:] in codes))


def covering_permit(session: Session, org: str, waste_code: str, activity: str,
                    day: str) -> Permit | None:
    """A permit of ``org`` valid on ``day`` covering the code (or its category) and activity."""
    for permit in session.scalars(select(Permit).where(Permit.org == org)):
        if permit_covers(permit, waste_code, activity, day):
            return permit
    return None



@dataclass(frozen=True)
class Receiver:
    """An organisation a generator can hand waste to, and whether its permit covers it."""

    uscc: str
    name: str
    roles: tuple[str, ...]
    covers: bool
    covered: frozenset[str] = frozenset()  # which of the asked codes a valid permit covers


def _activities(roles: set[str]) -> tuple[str, ...]:
    """What a receiver's permit must allow: a disposer utilises, disposes or stores; a collector
    collects or stores."""
    if roles & {"receiver", "disposer"}:
        return ("dispose", "store", "utilise")
    return ("collect", "store")


def receivers_for(session: Session, generator: str, codes: Iterable[str],
                  day: str) -> list[Receiver]:
    """Organisations with a receiving role other than ``generator``, each marked whether a
    permit valid on ``day`` covers every one of ``codes``; collectors first, covering first.

    Two queries whatever the number of organisations (organisations, then all their permits)."""
    wanted = sorted(set(codes))
    orgs = [o for o in session.scalars(select(Organisation).order_by(Organisation.name))
            if o.uscc != generator and set(o.roles.split()) & RECEIVING_ROLES]
    permits: dict[str, list[Permit]] = defaultdict(list)
    for permit in session.scalars(select(Permit).where(
            Permit.org.in_([o.uscc for o in orgs]))):
        permits[permit.org].append(permit)
    out = []
    for org in orgs:
        roles = set(org.roles.split())
        if roles <= {"transporter"}:  # carries under a road-transport permit
            covered = frozenset(wanted)
        else:
            covered = frozenset(code for code in wanted if any(
                permit_covers(p, code, a, day)
                for p in permits[org.uscc] for a in _activities(roles)))
        out.append(Receiver(org.uscc, org.name, tuple(org.roles.split()),
                            bool(wanted) and covered == set(wanted), covered))
    # Collectors before disposers (a small enterprise's waste is collected), covering first.
    return sorted(out, key=lambda r: (not r.covers, "collector" not in r.roles, r.name))

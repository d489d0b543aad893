"""One item, one code (一物一码): every container is its own batch with its own code.

HJ 1276-2022 (in force 2023-07-01) identifies each container of hazardous waste: one label, one
数字识别码, one ledger stream per drum or bag. (General industrial solid waste is outside
HJ 1276; a lot of its bags may still share one code.) Declaring several containers at once
makes several batches, each with ``container.count`` 1, linked by a shared lot reference
(``data.lot``) that is only a convenience for people (it groups the labels and the list;
custody moves per container).

Logs written before this rule may hold batches of ``container.count`` > 1: one code on several
containers. They keep their history and are read as they were written, a lot of N containers
sharing one code that always moved together. So that a replay (``waste-ledger rebuild``)
decides exactly as the original append did, the rule applies from the log size at which the
installation adopted it (``rule_changes.from_index``, written by migration 0010 when it upgrades
a database that already has entries; a new log has no row and the rule applies from index 0),
and, like the catalogue editions (``ledger.custody.editions``), by the day the waste was
generated: waste generated before HJ 1276-2022 came into force may still be declared as a lot
under one code. The offline verifier checks integrity only, never custody rules, so it accepts
old and new logs alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.errors import PayloadInvalid, RuleViolation
from ledger.tlog.models import Base

#: HJ 1276-2022 危险废物识别标志设置技术规范: in force from this day.
HJ1276_FROM: Final = "2023-07-01"
RULE: Final = "one_code_per_container"
#: The most containers one declaration makes (the serial of a batch code has three digits).
MAX_LOT: Final = 999


class RuleChange(Base):
    """A custody rule adopted by an installation whose log already had entries, and the log
    size from which it applies. Not a projection: ``rebuild`` keeps it."""

    __tablename__ = "rule_changes"

    rule: Mapped[str] = mapped_column(String(40), primary_key=True)
    from_index: Mapped[int] = mapped_column(Integer)


def rule_from_index(session: Session, rule: str = RULE) -> int:
    """The log index from which ``rule`` applies (0 when adopted with an empty log)."""
    found = session.scalar(select(RuleChange.from_index).where(RuleChange.rule == rule))
    return 0 if found is None else found


def check_one_code(session: Session, index: int, data: Mapping[str, Any],
                   generated_on: str, hazardous: bool = True) -> None:
    """Refuse one code for several containers of hazardous waste (new declarations of waste
    generated since HJ 1276-2022 came into force); check the lot reference when one is given.
    General industrial solid waste is outside HJ 1276: a lot of bags may share one code."""
    container = data.get("container")
    count = container.get("count") if isinstance(container, dict) else None
    if hazardous and isinstance(count, int) and count > 1 and generated_on >= HJ1276_FROM and (
            index >= rule_from_index(session)):
        raise RuleViolation(
            f"one code per container (HJ 1276-2022 一物一码): declare these {count} "
            f"containers as {count} batches, each its own batch.declared with container.count "
            "1 and the same data.lot; the declare page does this when 数量 is more than 1",
            code=RULE, field="data.container.count")
    _check_lot(data.get("lot"))


def _check_lot(lot: Any) -> None:
    """``lot``: ``{"ref": text 1-40, "no": n, "of": N}``, container n of N declared together."""
    if lot is None:
        return
    ok = isinstance(lot, dict) and set(lot) == {"ref", "no", "of"} and isinstance(
        lot["ref"], str) and 0 < len(lot["ref"].strip()) and len(lot["ref"]) <= 40
    if ok:
        no, of = lot["no"], lot["of"]
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (no, of)) and (
            1 <= no <= of <= MAX_LOT)
    if not ok:
        raise PayloadInvalid("data.lot is {\"ref\": text of 1-40 characters, \"no\": n, "
                             "\"of\": N} with 1 <= n <= N <= 999", code="field_invalid",
                             field="data.lot")


def lot_of(data: Mapping[str, Any]) -> tuple[str, int, int] | None:
    """The lot reference of a declaration (ref, n, N), or None."""
    lot = data.get("lot")
    if isinstance(lot, dict) and isinstance(lot.get("ref"), str):
        return lot["ref"], int(lot.get("no", 1)), int(lot.get("of", 1))
    return None


def containers_under_code(data: Mapping[str, Any]) -> int:
    """How many containers one code stands for: 1, or N on a lot declared before the rule."""
    container = data.get("container")
    count = container.get("count") if isinstance(container, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 1 else 1

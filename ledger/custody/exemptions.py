"""Claims under the exemption list (危险废物豁免管理清单) on handovers and disposals.

A row of the list says that, under a condition, one stage of a waste's management (收集, 运输,
利用, 处置, or 全部环节) is not managed as hazardous waste: an aluminium smelter that recovers
metal from 铝灰渣 (2021 list, item 22) needs no hazardous waste business permit for that
utilisation. A party claims a row by putting it in the entry it signs::

    "exemption": {"edition": "2021", "item": 22, "row": 1, "stage": "利用",
                  "condition": "回收金属铝。"}

``condition`` must repeat the row's 豁免条件 word for word: it is the party's signed statement
that the condition is met, kept in the log. Rows that name no waste code (生活垃圾, 突发环境事件,
历史遗留, 点对点) also need ``basis``: the plan or approval that puts the waste under the row.

The append path (``ledger.custody.kinds``) checks the claim against the list of the edition the
batch was declared under, and waives the permit only when the claimed stage is what the
receiver does (`stage_fits`); a claim that does not fit is recorded with ``fits = False`` and
shown to regulators as the gap ``exemption_misfit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.custody.catalogue import STAGES, Exemption
from ledger.custody.editions import batch_edition, catalogue
from ledger.custody.projections import Batch
from ledger.errors import NotFound, PayloadInvalid, RuleViolation
from ledger.tlog.models import Base

__all__ = ["METHOD_STAGES", "MISFIT_NOT_DONE", "MISFIT_ROLE", "STAGE_ROLES", "TERMINAL_STAGES",
           "Claim", "ExemptionClaim", "Option", "applicable_exemptions", "check_claim",
           "handover_entry", "parse_claim", "stage_fits"]

#: Which receiving roles perform each stage this product records.
STAGE_ROLES: dict[str, frozenset[str]] = {
    "收集": frozenset({"collector"}),
    "运输": frozenset({"transporter"}),
    "利用": frozenset({"receiver", "disposer"}),
    "处置": frozenset({"receiver", "disposer"}),
}
#: The stage a disposal method is; the stages that end a waste's journey at the receiver.
METHOD_STAGES = {"utilisation": "利用", "disposal": "处置"}
TERMINAL_STAGES = frozenset(METHOD_STAGES.values())
MISFIT_ROLE = "receiver_not_stage"  # the receiver does not perform the claimed stage
MISFIT_NOT_DONE = "stage_not_done"  # the waste left the receiver without that stage


class ExemptionClaim(Base):
    """A claimed exemption row on a handover (by either party) or a disposal, and whether it
    fits what happened (a projection: ``kinds`` maintains it on append)."""

    __tablename__ = "exemption_claims"
    __table_args__ = (
        Index("ix_exemption_claims_misfit", "batch", postgresql_where=text("NOT fits"),
              sqlite_where=text("NOT fits")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch: Mapped[str] = mapped_column(ForeignKey("batches.code"), index=True)
    # The handover's first entry (release or early answer): ids are surrogates a replay renumbers.
    handover_entry: Mapped[int | None] = mapped_column(ForeignKey("log_entries.idx"),
                                                       unique=True)
    disposal_entry: Mapped[int | None] = mapped_column(ForeignKey("log_entries.idx"),
                                                       unique=True)
    org: Mapped[str] = mapped_column(String(18))  # who performs the stage (the receiver)
    edition: Mapped[str] = mapped_column(String(4))
    item: Mapped[int]
    row: Mapped[int]
    stage: Mapped[str] = mapped_column(String(4))
    by_release: Mapped[bool] = mapped_column(Boolean, default=False)
    by_answer: Mapped[bool] = mapped_column(Boolean, default=False)
    fits: Mapped[bool] = mapped_column(Boolean, default=True)
    misfit: Mapped[str | None] = mapped_column(String(20))
    claimed_at: Mapped[int] = mapped_column(ForeignKey("log_entries.idx"))
    claimed_t_ms: Mapped[int]
    misfit_at: Mapped[int | None] = mapped_column(ForeignKey("log_entries.idx"))


@dataclass(frozen=True)
class Claim:
    """A claim as signed: which row, which stage, the condition stated, any basis."""

    edition: str
    item: int
    row: int
    stage: str
    condition: str
    basis: str | None = None

    @property
    def key(self) -> tuple[str, int, int, str]:
        return (self.edition, self.item, self.row, self.stage)


def _bad(message: str, field: str, code: str = "exemption_invalid") -> PayloadInvalid:
    return PayloadInvalid(message, code=code, field=f"data.exemption{field}")


def parse_claim(data: Mapping[str, Any]) -> Claim | None:
    """The ``exemption`` object of an entry's data, checked for form; None if absent."""
    raw = data.get("exemption")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _bad("data.exemption is an object naming edition, item, row, stage and "
                   "condition", "")
    unknown = set(raw) - {"edition", "item", "row", "stage", "condition", "basis"}
    if unknown:
        raise _bad(f"data.exemption has unknown fields {sorted(unknown)}", "")
    edition, item, row = raw.get("edition"), raw.get("item"), raw.get("row", 1)
    if not isinstance(edition, str) or len(edition) != 4:
        raise _bad("data.exemption.edition is the catalogue edition, e.g. 2021", ".edition")
    for name, value in (("item", item), ("row", row)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 999:
            raise _bad(f"data.exemption.{name} is a whole number 1-999", f".{name}")
    if raw.get("stage") not in STAGES:
        raise _bad(f"data.exemption.stage is one of {', '.join(STAGES)}", ".stage")
    condition, basis = raw.get("condition"), raw.get("basis")
    if not isinstance(condition, str) or not condition.strip() or len(condition) > 1000:
        raise _bad("data.exemption.condition repeats the row's 豁免条件 (1-1000 characters)",
                   ".condition")
    if basis is not None and (not isinstance(basis, str) or not basis.strip()
                              or len(basis) > 200):
        raise _bad("data.exemption.basis is 1-200 characters", ".basis")
    return Claim(edition, item, row, raw["stage"], condition, basis)  # type: ignore[arg-type]


def check_claim(session: Session, claim: Claim, batch: Batch) -> Exemption:
    """The row claimed, if it may be claimed for this batch at this stage (else an error)."""
    if not batch.hazardous:
        raise RuleViolation("general industrial solid waste needs no exemption",
                            code="exemption_not_for_code", field="data.exemption")
    edition = batch_edition(session, batch.generated_on, batch.declared_at)
    if claim.edition != edition:
        raise RuleViolation(f"batch {batch.code} was declared under the {edition} catalogue; "
                            f"claim a row of its exemption list, not {claim.edition}'s",
                            code="exemption_edition_mismatch", field="data.exemption.edition")
    try:
        row = catalogue(session, edition).exemption(claim.item, claim.row)
    except NotFound as exc:
        raise NotFound(exc.message, code=exc.code, field="data.exemption.item") from None
    if not row.concerns(batch.waste_code):
        raise RuleViolation(f"exemption item {row.seq} ({row.subject}) does not concern "
                            f"{batch.waste_code}", code="exemption_not_for_code",
                            field="data.exemption.item")
    if claim.stage not in row.stages:
        raise RuleViolation(f"exemption item {row.seq} row {row.row} exempts {row.stage}, "
                            f"not {claim.stage}", code="exemption_stage_invalid",
                            field="data.exemption.stage")
    if claim.condition != row.condition:
        raise RuleViolation("data.exemption.condition must repeat the row's 豁免条件 word for "
                            f"word: {row.condition}", code="exemption_condition_mismatch",
                            field="data.exemption.condition")
    if not row.names_code and claim.basis is None:
        raise PayloadInvalid(f"exemption item {row.seq} ({row.subject}) names no waste code: "
                             "say in data.exemption.basis what puts this waste under it",
                             code="exemption_basis_missing", field="data.exemption.basis")
    return row


def handover_entry(ho: Any) -> int | None:
    """The log index that opened a handover: its release, or an answer signed before it."""
    opened = [i for i in (ho.released_at, ho.answered_at) if i is not None]
    return min(opened) if opened else None


@dataclass(frozen=True)
class Option:
    """An exemption row a holder may claim when handing a batch to a receiver."""

    row: Exemption
    stage: str

    @property
    def claim(self) -> dict[str, Any]:
        """The ``exemption`` object to sign."""
        return {"edition": self.row.edition, "item": self.row.seq, "row": self.row.row,
                "stage": self.stage, "condition": self.row.condition}


def applicable_exemptions(session: Session, batch: Batch, roles: set[str]) -> list[Option]:
    """Rows of the batch's edition naming its code or category whose stage the receiver
    performs. Rows about an origin (no code) are left out: they need a basis only the parties
    can state."""
    if not batch.hazardous:
        return []
    cat = catalogue(session, batch_edition(session, batch.generated_on, batch.declared_at))
    return [Option(row, stage) for row in cat.exemptions()
            if row.names_code and row.concerns(batch.waste_code)
            for stage in sorted(row.stages) if stage_fits(stage, roles)]


def stage_fits(stage: str, roles: set[str] | frozenset[str]) -> bool:
    """Whether an organisation with ``roles`` performs ``stage`` when it receives waste."""
    return bool(STAGE_ROLES[stage] & roles)

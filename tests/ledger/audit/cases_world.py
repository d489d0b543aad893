"""A log with regulators, generators and a case to act on: shared by the case tests."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from ledger.audit.cases import CaseSettings, case_stream
from ledger.audit.models import Case
from ledger.bootstrap import ledger_kinds
from ledger.custody.uscc import make_uscc
from ledger.errors import LedgerError
from ledger.tlog.log import log_head
from tests.ledger.custody_world import batch_code, description
from tests.ledger.factories import OPERATOR_ORG, make_world

COUNTY_REG = make_uscc("331002", 901)  # 椒江区 bureau
CITY_REG = make_uscc("331000", 902)  # 台州市 bureau
OTHER_REG = make_uscc("331003", 903)  # 黄岩区 bureau
GEN = make_uscc("331002", 1)
OTHER_GEN = make_uscc("331002", 2)
GAP = "uncollected_overdue:" + batch_code(GEN)
CASE = "331002-2026-0001"
BATCH = batch_code(GEN)
PHOTO = hashlib.sha256(b"photo of the cleaned store").hexdigest()


class Cases:
    """A log with two regulators of the county's region, one of another, two generators."""

    def __init__(self, engine: Any, settings: CaseSettings | None = None) -> None:
        self.world = make_world(engine, kinds=ledger_kinds(cases=settings))
        self.keys = {}
        for org, region, role in ((COUNTY_REG, "331002", "regulator"),
                                  (CITY_REG, "331000", "regulator"),
                                  (OTHER_REG, "331003", "regulator"),
                                  (GEN, "331002", "generator"),
                                  (OTHER_GEN, "331002", "generator")):
            self.world.register_org(org, f"单位{org[-4:]}", region, (role,))
            self.keys[org] = self.world.register_key(org, f"key-{org[-6:]}")
        self.world.act(self.keys[GEN], GEN, BATCH, "batch.declared",
                       description("900-039-49", 120_000))  # the batch the gap is about

    def act(self, org: str, kind: str, data: dict[str, Any], case: str = CASE, *cosigners: str):
        w = self.world
        signer = w.operator if org == OPERATOR_ORG else self.keys[org]
        payload = w.draft(signer, org, case_stream(case), kind, data)
        return w.append(w.sign(payload, signer, *(self.keys[c] for c in cosigners)))

    def case(self, case: str = CASE) -> Case | None:
        self.world.session.rollback()
        return self.world.session.get(Case, case)

    def root(self) -> bytes:
        self.world.session.rollback()
        return log_head(self.world.session).root

    def refused(self, code: str, org: str, kind: str, data: dict[str, Any],
                case: str = CASE, *cosigners: str) -> None:
        """The append fails with ``code`` and changes neither the log nor the case."""
        before = self.root()
        row = self.case(case)
        state = None if row is None else (row.state, row.updated_at)
        with pytest.raises(LedgerError) as err:
            self.act(org, kind, data, case, *cosigners)
        assert err.value.code == code, err.value
        assert self.root() == before
        row = self.case(case)
        assert (None if row is None else (row.state, row.updated_at)) == state


def opened(**over: Any) -> dict[str, Any]:
    data = {"region": "331002", "source": "gap", "gap": GAP, "type": "uncollected_overdue",
            "severity": "high", "title": "危废超期贮存未转移",
            "facts": "仓库内废活性炭贮存超过 90 天",
            "organisations": [GEN], "batches": [BATCH]}
    return {k: v for k, v in (data | over).items() if v is not None}  # None: leave the field out


def assigned(**over: Any) -> dict[str, Any]:
    return {"assignee": GEN, "person": "张三", "measures": "委托有资质单位转移处置",
            "deadline": "2026-10-31", **over}


def responded(**over: Any) -> dict[str, Any]:
    return {"report": "已委托收集单位转移，联单已闭环",
            "evidence": [{"sha256": PHOTO, "name": "仓库照片.jpg"}], "entries": [1], **over}



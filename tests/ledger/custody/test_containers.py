"""One item, one code (一物一码, HJ 1276-2022), on SQLite and PostgreSQL: a declaration puts one
code on one container; a lot of containers declared together shares a reference; a log written
before the rule keeps its multi-container batches, moves them whole and replays identically."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import delete, func, select

from ledger import migrations
from ledger.custody.containers import HJ1276_FROM, RULE, RuleChange, rule_from_index
from ledger.custody.projections import Batch
from ledger.errors import PayloadInvalid, RuleViolation
from ledger.tlog.log import export_log
from ledger.tlog.models import LogEntry
from ledger.tlog.rebuild import rebuild
from ledger.tlog.verify import verify_export
from tests.ledger.custody_world import COLLECTOR, GENERATORS, Region, batch_code, description

GEN = GENERATORS[0]


def declare(parties: Region, serial: int, count: int, *, day: str = "20260921",
            **extra) -> str:
    code = f"{GEN}90003949{day}{serial:03d}"
    data = {**description("900-039-49", 50_000),
            "container": {"type": "铁桶", "count": count, "volume_l": 200},
            "generated_on": f"{day[:4]}-{day[4:6]}-{day[6:]}", **extra}
    parties.act(GEN, code, "batch.declared", data)
    return code


def log_size(parties: Region) -> int:
    parties.world.session.rollback()
    return parties.world.session.scalar(select(func.count()).select_from(LogEntry))


def test_one_code_on_several_containers_is_refused_naming_the_fix(parties):
    before = log_size(parties)
    with pytest.raises(RuleViolation) as err:
        declare(parties, 1, 3)
    assert (err.value.code, err.value.field) == (RULE, "data.container.count")
    assert "3 batches" in err.value.message and "container.count 1" in err.value.message
    assert "data.lot" in err.value.message
    assert log_size(parties) == before


def test_a_lot_declared_together_is_one_batch_per_container_sharing_a_reference(parties):
    first = batch_code(GEN, 1)
    codes = [declare(parties, n, 1, lot={"ref": first, "no": n, "of": 3}) for n in (1, 2, 3)]
    parties.world.session.rollback()
    assert [parties.world.session.get(Batch, c).state for c in codes] == ["declared"] * 3
    # Each container moves on its own: two of the three go to the collector.
    for code in codes[:2]:
        parties.hand_over(code, GEN, COLLECTOR, 50_000)
    parties.world.session.rollback()
    assert [parties.world.session.get(Batch, c).holder for c in codes] == [
        COLLECTOR, COLLECTOR, GEN]


@pytest.mark.parametrize("lot", [
    {"ref": "", "no": 1, "of": 2}, {"ref": "x", "no": 3, "of": 2}, {"ref": "x", "no": 0, "of": 2},
    {"ref": "x", "no": 1}, {"ref": "x", "no": True, "of": 2}, "x",
    {"ref": "x" * 41, "no": 1, "of": 1},
])
def test_a_malformed_lot_reference_is_refused(parties, lot):
    with pytest.raises(PayloadInvalid) as err:
        declare(parties, 1, 1, lot=lot)
    assert (err.value.code, err.value.field) == ("field_invalid", "data.lot")


def test_waste_generated_before_hj_1276_came_into_force_may_still_be_a_lot(parties):
    assert HJ1276_FROM == "2023-07-01"
    code = declare(parties, 1, 4, day="20230630")
    parties.world.session.rollback()
    assert parties.world.session.get(Batch, code).state == "declared"
    with pytest.raises(RuleViolation):
        declare(parties, 1, 4, day="20230701")


def test_an_upgraded_log_keeps_its_multi_container_batches(parties, tmp_path):
    """A batch of three drums under one code, declared before the rule (as an older release
    did), then the schema upgrade that adopts the rule at the log's size."""
    session = parties.world.session
    session.add(RuleChange(rule=RULE, from_index=10**9))  # the rule not yet in this log
    session.commit()
    old = declare(parties, 1, 3)
    session.execute(delete(RuleChange))  # the schema before revision 0010 ...
    session.commit()
    engine = session.get_bind()
    with engine.begin() as conn:
        command.downgrade(migrations.config(conn), "0009")
    migrations.upgrade(engine)  # ... upgraded: 0010 records where the rule starts
    # and started: start-up fills the summaries a revision added empty (0016's monthly totals;
    # api/bootstrap._fill_intervals), as the first start after an upgrade does
    from ledger.audit.reconcile import rebuild_months

    rebuild_months(session)
    session.commit()
    size = log_size(parties)
    assert rule_from_index(session) == size
    session.rollback()
    # The old batch is read as it was written and moves whole, three drums under one code.
    parties.hand_over(old, GEN, COLLECTOR, 50_000)
    session.rollback()
    assert session.get(Batch, old).holder == COLLECTOR
    # A replay decides as the appends did: the old declaration is accepted again.
    report = rebuild(session, parties.world.config, commit=False)
    assert report.identical, report.differences
    # New declarations follow the rule.
    with pytest.raises(RuleViolation):
        declare(parties, 2, 3)
    declare(parties, 2, 1)
    # The offline verifier accepts the old log with the new entries.
    export_log(session, parties.world.config, str(tmp_path / "export"))
    assert verify_export(tmp_path / "export").entries == log_size(parties)


def test_a_new_log_applies_the_rule_from_its_first_entry(parties):
    assert rule_from_index(parties.world.session) == 0

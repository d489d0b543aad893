"""The simulator's injected faults are each found as the right gap; a clean run has none."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import select

from api.demo.simulate import simulate
from api.extensions import db
from api.runtime import log_config
from ledger.audit.gaps import GapQuery, GapSettings, find_gaps
from ledger.audit.models import Declaration, Plan
from ledger.tlog.log import export_log
from ledger.tlog.rebuild import rebuild
from ledger.tlog.verify import verify_export
from tests.conftest import initialised_app
from tests.ledger.gap_reference import reference_gaps


@pytest.fixture
def sim_app(database, tmp_path):
    # the county of the unlicensed receiver records and flags instead of refusing
    with initialised_app(database, tmp_path,
                         PERMIT_POLICY={"*": "refuse", "331081": "flag"}) as app:
        yield app


def scan(app, at_ms: int):
    with app.app_context():
        gaps = find_gaps(db.session, GapQuery(now_ms=at_ms), GapSettings())
        db.session.remove()
    return gaps


def test_every_injected_fault_is_found_as_the_right_gap(sim_app):
    sim = simulate(sim_app, enterprises=8, months=7, faults=True)
    gaps = scan(sim_app, int(sim.end.timestamp() * 1000))
    kinds = {f.kind for f in sim.faults}
    assert kinds >= {"never_collected", "disappeared_in_transit", "tampered_mass",
                     "unlicensed_receiver", "refusal_left_unresolved", "never_disposed",
                     "stuck_in_transit", "hand_off_into_nothing", "stopped_declaring",
                     "tampered_tree"}
    for fault in sim.faults:
        for expected in fault.expect:
            found = [g for g in gaps if g.type == expected and (
                set(fault.batches) & set(g.batches) or set(fault.organisations)
                & set(g.organisations) or expected == "integrity")]
            assert found, (fault, expected)
    explained = {b for f in sim.faults for b in f.batches}
    orgs = {o for f in sim.faults for o in f.organisations}
    for g in gaps:  # nothing reported that was not injected
        assert g.type == "integrity" or set(g.batches) & explained or (
            not g.batches and set(g.organisations) & orgs), g
    start_ms = int((sim.end - dt.timedelta(days=8 * 31)).timestamp() * 1000)  # 7 months back
    for g in gaps:  # each opened within the simulated months, not at some index read as time
        assert start_ms <= g.opened_ms, g
    with sim_app.app_context():  # the summary's scan = the projections' scan, at two clocks
        end_ms = int(sim.end.timestamp() * 1000)
        for now in (end_ms, end_ms - 40 * 86_400_000):
            q = GapQuery(now_ms=now)
            assert find_gaps(db.session, q, GapSettings()) == reference_gaps(
                db.session, q, GapSettings())
            db.session.rollback()
        db.session.remove()
    with sim_app.app_context():  # the replay finds the one tampered projection, nothing else
        report = rebuild(db.session, log_config(), commit=False)
        db.session.remove()
    assert set(report.differences) == {"merkle_nodes"}, report.differences


def test_a_clean_run_reports_no_gaps(sim_app, tmp_path):
    sim = simulate(sim_app, enterprises=5, months=3, faults=False)
    assert sim.faults == []
    assert scan(sim_app, int(sim.end.timestamp() * 1000)) == []
    assert scan(sim_app, time.time_ns() // 1_000_000) == []
    with sim_app.app_context():  # plans and declarations in, and the log verifies offline
        assert len(db.session.scalars(select(Plan)).all()) >= 5
        assert db.session.scalars(select(Declaration)).all()
        export_log(db.session, log_config(), str(tmp_path / "export"))
        db.session.remove()
    assert verify_export(tmp_path / "export").entries > 0


def test_the_faulty_run_verifies_offline_up_to_the_tampered_tree(sim_app, tmp_path):
    """The injected faults are all signed entries the verifier accepts; only the tampered
    tree node (a projection, not an entry) is not in what it checks."""
    simulate(sim_app, enterprises=8, months=7, faults=True)
    with sim_app.app_context():
        late = db.session.scalars(select(Declaration).where(Declaration.late)).all()
        assert late  # the late declaration is marked
        export_log(db.session, log_config(), str(tmp_path / "export"))
        db.session.remove()
    assert verify_export(tmp_path / "export").entries > 0

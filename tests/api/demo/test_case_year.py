"""A simulated year of the case loop: every outcome reached, each step signed by its party,
the look-back reopening the case closed without a fix, the dashboard's figures, rebuild and
the offline verifier. Both databases."""

from __future__ import annotations

import re

import pytest

from api.demo.case_year import OUTCOMES
from api.demo.simulate import simulate
from api.extensions import db
from api.lookback import run_lookback
from api.runtime import log_config
from api.scoping import gap_settings
from ledger.audit.cases import case_history, case_stream
from ledger.audit.gaps import GapQuery, find_gaps
from ledger.audit.models import Case
from ledger.custody import access
from ledger.tlog.client import ApiError
from ledger.tlog.log import export_log, log_head
from ledger.tlog.rebuild import rebuild
from ledger.tlog.verify import verify_export
from tests.api.logins import log_in_as
from tests.conftest import initialised_app


@pytest.fixture
def year(database, tmp_path):
    with initialised_app(database, tmp_path) as app:
        sim = simulate(app, enterprises=6, months=2, faults=False, cases=True)
        yield app, sim


def test_a_year_of_cases(year, tmp_path):
    app, sim = year
    outcomes = sim.cases.cases
    assert set(outcomes) == set(OUTCOMES)
    reg = sim.parties["regulator"]
    gens = sim.parties["generators"]
    with app.app_context():
        state = {o: db.session.get(Case, c) for o, c in outcomes.items()}
        assert {o: c.state for o, c in state.items()} == {
            "fixed": "closed", "returned_then_fixed": "closed", "closed_not_fixed": "reopened",
            "ignored": "assigned", "fixed_late": "closed", "returned": "returned"}
        assert db.session.get(Case, sim.cases.inspection).state == "closed"
        # every step by its own party; the look-back's reopening by the operator, marked
        op = app.config["OPERATOR_ORG"]
        for outcome, case_id in outcomes.items():
            for step in case_history(db.session, case_id):
                want = gens[OUTCOMES.index(outcome)] if step.kind == "case.responded" else (
                    op if step.data.get("lookback") else reg)
                assert step.org == want, (outcome, step)
        last = case_history(db.session, outcomes["closed_not_fixed"])[-1]
        assert (last.kind, last.org) == ("case.reopened", op)
        assert last.data["lookback"]["gap"] == state["closed_not_fixed"].gap_id
        assert [r.case_id for r in sim.cases.recurred] == [outcomes["closed_not_fixed"]]
        # the transitions each outcome went through
        kinds = {o: [s.kind.split(".")[1] for s in case_history(db.session, c)]
                 for o, c in outcomes.items()}
        assert kinds["returned_then_fixed"] == ["opened", "assigned", "responded", "reviewed",
                                                "responded", "reviewed", "closed"]
        assert kinds["ignored"] == ["opened", "assigned"]
        # overdue: the ignored, the returned and the reopened ones open; the late one resolved
        # by its close-out
        gaps = {g.id: g for g in find_gaps(db.session, GapQuery(
            now_ms=log_config().clock(), types=frozenset({"case_overdue"})),
            gap_settings(app))}
        assert {i: g.status for i, g in gaps.items()} == {
            f"case_overdue:{outcomes['ignored']}": "open",
            f"case_overdue:{outcomes['returned']}": "open",
            f"case_overdue:{outcomes['closed_not_fixed']}": "open",
            f"case_overdue:{outcomes['fixed_late']}": "resolved"}
        # evidence was stored and named by the signed reports
        fixed = case_history(db.session, outcomes["fixed"])
        assert fixed[2].data["evidence"][0]["sha256"] and fixed[2].data["entries"]
        # the log replays to the same projections and verifies offline
        assert rebuild(db.session, log_config(), commit=False).identical
        export_log(db.session, log_config(), str(tmp_path / "export"))
        head = log_head(db.session)
        summary = verify_export(tmp_path / "export")
        assert (summary.entries, summary.root) == (head.size, head.root)
        # 回头看 again: nothing more
        size = head.size
        ignored = db.session.get(Case, outcomes["ignored"])
        gap = ignored.gap_id
    # refusals on the simulated cases: each the right code, the log unchanged
    clients = sim.demo.clients
    for client in clients.values():
        client.clock = None  # sign now, after the simulated steps
    refused = [
        (clients[gens[0]], "case.reopened", outcomes["fixed"], {"reason": "x"},
         "case_forbidden"),
        (clients[reg], "case.closed", outcomes["ignored"], {}, "case_state_invalid"),
        # another unit does not see the case: its draft is refused as for GET /cases/<id>
        (clients[gens[1]], "case.responded", outcomes["ignored"], {"report": "x"},
         "case_unknown"),
        (clients[reg], "case.reviewed", outcomes["fixed"], {"result": "accepted"},
         "case_state_invalid"),
        (clients[reg], "case.reopened", outcomes["fixed"],
         {"reason": "x", "lookback": {"gap": gap, "days": 1}}, "case_forbidden"),
        (clients[reg], "case.opened", "331002-2026-0099", {
            "region": "331002", "source": "gap", "gap": gap, "type": "uncollected_overdue",
            "severity": "high", "title": "t", "facts": "f", "organisations": [gens[3]]},
         "case_exists_for_gap"),
    ]
    for client, kind, case_id, data, code in refused:
        with pytest.raises(ApiError) as err:
            client.act(kind, case_stream(case_id), data)
        assert err.value.code == code, (kind, case_id, err.value.body)
    with app.app_context():
        assert run_lookback(app) == []
        assert log_head(db.session).size == size
        access.add_user(db.session, "reg", "a long password 2026", reg, "监管")
        db.session.commit()
    # the dashboard over the year: 7 cases; 4 rectified and closed (3 fixed, the inspection)
    client = app.test_client()
    log_in_as(client, "reg", "a long password 2026")
    page = client.get("/regulator/?from=2000-01-01").get_data(as_text=True)
    figures = dict(re.findall(r'data-figure="(cases|rectify_rate|close_rate|overdue|recurred)"'
                              r'>([^<]*)<', page))
    assert figures == {"cases": "7", "rectify_rate": "57%", "close_rate": "57%",
                       "overdue": "3", "recurred": "1"}

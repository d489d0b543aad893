"""Reports and gap scans on a second database URL (WASTE_LEDGER_REPORTS_DATABASE_URL, a
streaming replica): they read there (pages, API, command line), write nothing there, and a
replica that lags gives a report that names the older log state it was computed at."""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import Any

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import event

from api.extensions import REPORTS_BIND, db
from api.runtime import log_config
from ledger.audit.reconcile import reconcile, verify_report_bundle
from ledger.tlog.log import issue_checkpoint, log_head, root_at
from ledger.tlog.notes import b64
from tests.api.lifecycle import GENERATORS, REGULATOR, build_region, code_for, description
from tests.conftest import initialised_app

URL = "/api/v1/reconciliation"
GEN = GENERATORS[0]


def statements_on_reports(app) -> list[str]:
    """Every SQL statement the reports engine runs from now on."""
    with app.app_context():
        engine = db.engines[REPORTS_BIND]
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _conn, _cur, statement, *_rest: seen.append(statement))
    return seen


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def run_cli(app, *args: str) -> Any:
    from api.cli.main import main

    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app),
                              catch_exceptions=False)


def declare(region, serials: range) -> None:
    for n in serials:
        region[GEN].declare(code_for(GEN, n), description(1_000 * n))


@pytest.fixture
def replica_app(database, tmp_path):
    """An app whose reports database is a second engine on the same database."""
    with initialised_app(database, tmp_path, REPORTS_DATABASE_URL=database.url) as app:
        yield app


def test_reports_and_gap_scans_read_the_reports_database(replica_app, tmp_path):
    region = build_region(replica_app, generators=2)
    declare(region, range(1, 4))
    token = region[REGULATOR].token
    client = replica_app.test_client()
    seen = statements_on_reports(replica_app)

    body = client.get(URL, headers=bearer(token)).get_json()
    assert body["totals"]["declared"] == 6_000
    assert any("batch" in s.lower() for s in seen)  # the report read the reports engine
    with replica_app.app_context():
        head = log_head(db.session)
        assert body["log"] == {"size": head.size, "root": b64(head.root)}
        assert reconcile(db.session, region="331002").totals.declared == 6_000

    before = len(seen)
    gaps = client.get("/api/v1/gaps", headers=bearer(token)).get_json()
    assert len(seen) > before and gaps["log"]["size"] == body["log"]["size"]
    drill = client.get(f"{URL}/drilldown?figure=declared", headers=bearer(token)).get_json()
    assert drill["items"] == sorted(code_for(GEN, n) for n in range(1, 4))

    # the signed bundle: checkpoint issued on the primary, the report read on the replica
    bundle = client.get(f"{URL}?format=bundle", headers=bearer(token)).get_data()
    with replica_app.app_context():
        verified = verify_report_bundle(bundle, log_config().operator.verifier)
    assert verified.checkpoint is not None and verified.log_size == body["log"]["size"]

    before = len(seen)
    page = client.get("/regulator/", headers=bearer(token))
    assert page.status_code in (200, 302)
    result = run_cli(replica_app, "reconcile", "--format", "json", "-o", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["totals"]["declared"] == 6_000
    result = run_cli(replica_app, "gaps", "--format", "json")
    assert result.exit_code == 0, result.output
    assert len(seen) > before


# SQLite only: a stale copy of the database file stands for a lagging replica (PostgreSQL's
# replication is not on this machine); the PostgreSQL side is the second engine above.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_lagging_replica_gives_the_older_state_and_names_it(database, app, tmp_path):
    region = build_region(app, generators=2)
    declare(region, range(1, 3))
    with app.app_context():
        issue_checkpoint(db.session, log_config())
        db.session.commit()
        old_size = log_head(db.session).size
        db.session.remove()
    primary = database.url.removeprefix("sqlite:///")
    stale = tmp_path / "replica.db"
    with sqlite3.connect(primary) as src, sqlite3.connect(stale) as dst:
        src.backup(dst)  # the replica as it was, then the primary moves on
    declare(region, range(3, 6))

    with initialised_app(database, tmp_path, REPORTS_DATABASE_URL=f"sqlite:///{stale}") as lag:
        client = lag.test_client()
        token = region[REGULATOR].token
        body = client.get(URL, headers=bearer(token)).get_json()
        assert body["totals"]["declared"] == 3_000  # batches 3..5 not replayed yet
        with lag.app_context():
            assert log_head(db.session).size > old_size
            assert body["log"] == {"size": old_size,
                                   "root": b64(root_at(db.session, old_size))}
        gaps = client.get("/api/v1/gaps", headers=bearer(token)).get_json()
        assert gaps["log"]["size"] == old_size
        bundle = client.get(f"{URL}?format=bundle", headers=bearer(token)).get_data()
        with lag.app_context():
            verified = verify_report_bundle(bundle, log_config().operator.verifier)
        # signed at the replica's size, with the primary's checkpoint published at that size
        assert verified.log_size == old_size and verified.checkpoint is not None
        assert verified.checkpoint.size == old_size
        assert base64.b64decode(body["log"]["root"]) == verified.checkpoint.root

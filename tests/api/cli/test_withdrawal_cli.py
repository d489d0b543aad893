"""A withdrawn batch through the command line, on SQLite and PostgreSQL: `rebuild --check`
replays the withdrawal into identical projections (the batch, the reconciliation summary,
the custody intervals), and the export verifies (an ordinary entry to the generic verifier)."""

from __future__ import annotations

from api.extensions import db
from ledger.custody.projections import Batch
from tests.api.lifecycle import COLLECTOR, GENERATORS, build_region, code_for, description

GEN = GENERATORS[0]


def test_rebuild_check_and_verify_after_a_withdrawal(cli, app, tmp_path):
    region = build_region(app, generators=1)
    gen, collector = region[GEN], region[COLLECTOR]
    gone, kept = code_for(GEN, 1), code_for(GEN, 2)
    gen.declare(gone, description(40_000))
    gen.declare(kept, description(30_000))
    pickup = gen.request("POST", "/api/v1/pickups", {"collector": COLLECTOR,
                                                     "batches": [gone, kept]})
    gen.act("batch.withdrawn", gone, {"reason": "重复申报"})
    gen.release(kept, COLLECTOR, 30_000, pickup["manifest"])
    collector.accept(kept, GEN, 29_900, pickup["manifest"])
    with app.app_context():
        assert db.session.get(Batch, gone).state == "withdrawn"
        db.session.remove()
    check = cli("rebuild", "--check")
    assert check.exit_code == 0 and "projections identical" in check.output, check.output
    export = tmp_path / "export"
    assert cli("checkpoint").exit_code == 0
    assert cli("export", str(export)).exit_code == 0
    verified = cli("verify", str(export), "--quiet")
    assert verified.exit_code == 0 and verified.output.startswith("OK: "), verified.output

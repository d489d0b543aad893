"""The bulk path of bench/reconcile.py (entries signed in workers, projections written by a
mirror of the handlers, loaded with COPY/executemany) at a small size: a replay through the
real rules and handlers reproduces every projection, and the export verifies."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ledger import migrations
from ledger.bootstrap import ledger_kinds
from ledger.tlog.db import configure_engine
from ledger.tlog.log import LogConfig, export_log
from ledger.tlog.rebuild import rebuild
from ledger.tlog.verify import verify_export

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """bench/reconcile.py as a module, its data generated once (300 batches) in a temp dir."""
    spec = importlib.util.spec_from_file_location("bench_reconcile", ROOT / "bench" /
                                                  "reconcile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and the signing pool look it up by name
    spec.loader.exec_module(module)
    module.CACHE = tmp_path_factory.mktemp("bench-cache")
    module.generate(300, jobs=1)
    yield module
    del sys.modules[spec.name]


def test_a_bulk_loaded_log_rebuilds_identically_and_verifies(bench, database, tmp_path):
    engine = database.engine()
    configure_engine(engine)
    migrations.upgrade(engine)
    config = LogConfig(operator=bench.signer_for(bench.OPERATOR_ORG), kinds=ledger_kinds(),
                       clock=lambda: bench.SCAN_NOW)
    try:
        bench.load_rows(engine, 300)
        with Session(engine) as session:
            report = rebuild(session, config, commit=False)
            assert report.entries > 1_000
            assert report.identical, report.differences
            export_log(session, config, str(tmp_path / "export"))
    finally:
        engine.dispose()
    assert verify_export(tmp_path / "export").entries == report.entries

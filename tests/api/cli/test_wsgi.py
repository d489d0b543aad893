"""The production entry point brings the schema to head before serving, once, even when
several workers start on the same database at the same time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ledger import migrations

ROOT = Path(__file__).resolve().parents[3]


def test_workers_starting_together_upgrade_the_schema_once(database, tmp_path):
    env = {**os.environ, "WASTE_LEDGER_DATABASE_URL": database.url,
           "WASTE_LEDGER_SQLALCHEMY_ENGINE_OPTIONS": json.dumps(database.engine_options),
           "WASTE_LEDGER_SECRET_KEY": "test",
           "WASTE_LEDGER_OPERATOR_KEY_FILE": str(tmp_path / "operator.key"),
           "WASTE_LEDGER_VAPID_KEY_FILE": str(tmp_path / "vapid.pem")}
    workers = [subprocess.Popen([sys.executable, "-c", "import api.wsgi"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(3)]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    upgraded = [o for o in outputs if "database schema upgraded from None to" in o]
    assert len(upgraded) == 1, outputs  # the others found it done
    engine = database.engine()
    assert migrations.current(engine) == migrations.heads()[0]
    engine.dispose()
    assert not (tmp_path / "operator.key").exists()  # that is init's, not a worker's

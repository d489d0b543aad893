"""All state in one instance directory (WASTE_LEDGER_INSTANCE_PATH), readable by its owner only:
the directory 0700; the SQLite database (and its WAL files), the operator key, the session
secret and the TLS key 0600 — under the usual umask 022, in a process of its own."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from api import create_app
from api.cli.tls import ensure_certificate
from api.extensions import db

ROOT = Path(__file__).resolve().parents[3]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def waste_ledger(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "waste-ledger"), *args],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: os.umask(0o022))


def base_env(state: Path, database) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASTE_LEDGER_")}
    env["WASTE_LEDGER_INSTANCE_PATH"] = str(state)
    if database.kind == "postgresql":
        env["WASTE_LEDGER_DATABASE_URL"] = database.url
        env["WASTE_LEDGER_SQLALCHEMY_ENGINE_OPTIONS"] = json.dumps(database.engine_options)
    return env


def test_all_state_goes_to_the_instance_path_owner_only(database, tmp_path):
    state = tmp_path / "var" / "lib" / "waste-ledger"  # does not exist yet
    env = base_env(state, database)
    out = waste_ledger(env, "init")
    assert out.returncode == 0, out.stderr
    assert mode(state) == 0o700
    made = {p.name for p in state.iterdir()}
    assert {"operator.key", "secret_key"} <= made
    private = [state / "operator.key", state / "secret_key"]
    if database.kind == "sqlite":
        assert "waste-ledger.db" in made
        private += [state / n for n in made if n.startswith("waste-ledger.db")]
    for p in private:
        assert mode(p) == 0o600, (p, oct(mode(p)))
    # the TLS certificate for `serve --https` is made there too, its key 0600
    os.environ["WASTE_LEDGER_INSTANCE_PATH"] = str(state)
    try:
        app = create_app({"SQLALCHEMY_ENGINE_OPTIONS": database.engine_options,
                          **({"DATABASE_URL": database.url}
                             if database.kind == "postgresql" else {})})
    finally:
        del os.environ["WASTE_LEDGER_INSTANCE_PATH"]
    try:
        assert Path(app.instance_path) == state
        assert Path(app.config["OPERATOR_KEY_FILE"]) == state / "operator.key"
        assert Path(app.config["TLS_DIR"]) == state / "tls"
        if database.kind == "sqlite":
            assert app.config["DATABASE_URL"] == f"sqlite:///{state / 'waste-ledger.db'}"
        cert = ensure_certificate(Path(app.config["TLS_DIR"]))
        assert mode(state / "tls") == 0o700 and mode(cert.key) == 0o600
    finally:
        with app.app_context():
            db.engine.dispose()


def test_an_existing_instance_made_with_wide_modes_is_tightened(tmp_path):
    state = tmp_path / "old-install"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    database = state / "waste-ledger.db"
    database.write_bytes(b"")
    database.chmod(0o644)
    app = create_app({"INSTANCE_PATH": str(state), "SECRET_KEY": "x"})
    with app.app_context():
        db.engine.dispose()
    assert mode(state) == 0o700 and mode(database) == 0o600

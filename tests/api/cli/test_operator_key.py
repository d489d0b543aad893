"""The operator key file must be the log's operator key: `init`, `serve` and the WSGI app refuse
to start otherwise (and make no new key), and `waste-ledger operator rotate` changes it the
planned way, as a signed entry the offline verifier follows."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from werkzeug.datastructures import FileStorage

from api import create_app
from api.cli.main import main
from api.extensions import db
from api.pages.regulator import verify_checkpoint_text, verify_uploaded_export
from ledger.custody.uscc import make_uscc
from ledger.tlog.log import log_head
from ledger.tlog.notes import Signer
from tests.api.replay import assert_rebuild_identical_and_export_verifies

ROOT = Path(__file__).resolve().parents[3]
ORG_A, ORG_B = make_uscc("331002", 42), make_uscc("331002", 43)


@pytest.fixture
def fresh_app():
    """Another process's view of the same installation (nothing cached: the key is re-read)."""
    made = []

    def make(app):
        keys = ("TESTING", "DATABASE_URL", "SQLALCHEMY_ENGINE_OPTIONS", "OPERATOR_KEY_FILE",
                "SECRET_KEY")
        made.append(create_app({k: app.config[k] for k in keys}))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def run(app, *args: str):
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app),
                              catch_exceptions=False)


def log_state(app) -> tuple[int, bytes, str]:
    with app.app_context():
        head = log_head(db.session)
        state = (head.size, head.root, head.operator_vkey)
        db.session.remove()
    return state


def wsgi_start(app) -> subprocess.CompletedProcess[str]:
    """Import the WSGI module as gunicorn does, in a process of its own."""
    env = {**os.environ, "WASTE_LEDGER_DATABASE_URL": app.config["DATABASE_URL"],
           "WASTE_LEDGER_OPERATOR_KEY_FILE": app.config["OPERATOR_KEY_FILE"],
           "WASTE_LEDGER_SECRET_KEY": "x",
           "WASTE_LEDGER_SQLALCHEMY_ENGINE_OPTIONS":
               json.dumps(app.config["SQLALCHEMY_ENGINE_OPTIONS"])}
    return subprocess.run([sys.executable, "-c", "import api.wsgi"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_a_missing_operator_key_stops_init_serve_and_wsgi_and_none_is_made(app, fresh_app):
    key_file = Path(app.config["OPERATOR_KEY_FILE"])
    assert wsgi_start(app).returncode == 0  # the right key: it starts
    before = log_state(app)
    key_file.unlink()
    for args in (("init",), ("serve", "--no-demo", "--port", "1")):
        out = run(fresh_app(app), *args)
        assert out.exit_code != 0 and "operator_key_missing" in out.output, out.output
        assert not key_file.exists()
    started = wsgi_start(app)
    assert started.returncode != 0 and "operator_key_missing" in started.stderr
    assert not key_file.exists()
    assert log_state(app) == before


def test_a_replaced_operator_key_stops_everything_and_signs_nothing(app, tmp_path,
                                                                   fresh_app):
    key_file = Path(app.config["OPERATOR_KEY_FILE"])
    before = log_state(app)
    impostor = Signer.generate(app.config["LOG_ORIGIN"])
    key_file.write_text(impostor.private_key_text() + "\n")
    other = fresh_app(app)
    for args in (("init",), ("serve", "--no-demo", "--port", "1"), ("checkpoint",),
                 ("export", str(tmp_path / "x")),
                 ("org", "add", ORG_A, "--name", "某厂", "--region", "331002",
                  "--role", "generator")):
        out = run(other, *args)
        assert out.exit_code != 0 and "operator_key_mismatch" in out.output, (args, out.output)
    assert key_file.read_text() == impostor.private_key_text() + "\n"  # not replaced
    started = wsgi_start(app)
    assert started.returncode != 0 and "operator_key_mismatch" in started.stderr
    assert log_state(app) == before


def test_operator_rotate_hands_the_log_to_a_new_key(app, tmp_path, fresh_app):
    key_file = Path(app.config["OPERATOR_KEY_FILE"])
    old = Signer.from_private_key_text(key_file.read_text())
    assert run(app, "org", "add", ORG_A, "--name", "某厂", "--region", "331002",
               "--role", "generator").exit_code == 0
    before_rotation = run(app, "checkpoint").output.encode()
    new_file = tmp_path / "next-operator.key"
    out = run(app, "operator", "rotate", "--new-key", str(new_file))
    assert out.exit_code == 0, out.output
    new = Signer.from_private_key_text(new_file.read_text())
    assert new.name == old.name and new.verifier != old.verifier
    assert Signer.from_private_key_text(key_file.read_text()).verifier == new.verifier
    retired = [p for p in tmp_path.iterdir() if p.name.startswith("operator.key.retired-")]
    assert len(retired) == 1
    for p in (key_file, new_file, retired[0]):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert log_state(app)[2] == new.verifier.vkey
    # a new process starts with the new key and keeps appending; the old key is refused
    after = fresh_app(app)
    assert run(after, "init").exit_code == 0
    assert run(after, "org", "add", ORG_B, "--name", "某厂二", "--region",
               "331002", "--role", "generator").exit_code == 0
    assert wsgi_start(app).returncode == 0
    key_file.write_text(retired[0].read_text())
    refused = run(fresh_app(app), "init")
    assert refused.exit_code != 0 and "operator_key_mismatch" in refused.output
    key_file.write_text(new_file.read_text())
    # everything before and after the rotation verifies from entry 0's key, and replays
    after = fresh_app(app)
    assert_rebuild_identical_and_export_verifies(lambda *a: run(after, *a), tmp_path)
    assert (tmp_path / "export" / "operator.vkey").read_text() == old.verifier.vkey + "\n"
    shown = run(after, "operator", "show").output
    assert new.verifier.vkey in shown and old.verifier.vkey in shown
    # the regulator's verify page: the export, and checkpoints from either side of the rotation
    export = tmp_path / "export"
    with after.test_request_context():
        files = [FileStorage(io.BytesIO((export / n).read_bytes()), filename=n)
                 for n in ("entries.bin", "checkpoint", "operator.vkey")]
        assert verify_uploaded_export(files).ok
        for note in (before_rotation, (export / "checkpoint").read_bytes()):
            checked = verify_checkpoint_text(note)
            assert checked.ok, checked.reason


def test_rotate_refuses_a_key_with_another_name_and_changes_nothing(app, tmp_path):
    before = log_state(app)
    stranger = tmp_path / "stranger.key"
    stranger.write_text(Signer.generate("other.example/log").private_key_text() + "\n")
    out = run(app, "operator", "rotate", "--new-key", str(stranger))
    assert out.exit_code != 0 and "field_invalid" in out.output
    assert log_state(app) == before
    assert not list(tmp_path.glob("operator.key.*"))

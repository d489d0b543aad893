"""`waste-ledger witness serve` and `witness vkey` as a regulator runs them: a real process on
127.0.0.1 (port 0), cosigning a checkpoint of the log it follows and nothing else."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from api.witness import from_env
from ledger.errors import ConfigurationError
from ledger.tlog.checkpoints import sign_checkpoint
from ledger.tlog.cosignatures import cosigners, format_add_checkpoint, parse_cosigner_vkey
from ledger.tlog.notes import Signer, parse_note

CLI = Path(sys.executable).parent / "waste-ledger"


def test_witness_serve_cosigns_over_http(tmp_path: Path):
    key = tmp_path / "w.key"
    made = subprocess.run([str(CLI), "keygen", "witness.test/w9", "-o", str(key)],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    shown = subprocess.run([str(CLI), "witness", "vkey", "--key", str(key)],
                           capture_output=True, text=True, timeout=60)
    witness = parse_cosigner_vkey(shown.stdout.strip())
    operator = Signer.generate("trial.example/log")
    proc = subprocess.Popen(
        [str(CLI), "witness", "serve", "--key", str(key), "--log", operator.verifier.vkey,
         "--database", f"sqlite:///{tmp_path / 'w.db'}", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 120  # the process needs a moment; no timing assertion
        while port is None and time.monotonic() < deadline and proc.stderr is not None:
            line = proc.stderr.readline()
            if not line:
                break
            found = re.search(r"Running on http://127\.0\.0\.1:(\d+)", line)
            port = int(found[1]) if found else None
        assert port, "the witness did not start"
        checkpoint = sign_checkpoint(operator, 1, bytes(32))
        req = urllib.request.Request(f"http://127.0.0.1:{port}/add-checkpoint", method="POST",
                                     data=format_add_checkpoint(0, [], checkpoint))
        with urllib.request.urlopen(req, timeout=60) as r:
            line = r.read()
        assert cosigners(parse_note(checkpoint + line), [witness]) == [witness]
        stranger = sign_checkpoint(Signer.generate("other.example/log"), 1, bytes(32))
        req = urllib.request.Request(f"http://127.0.0.1:{port}/add-checkpoint", method="POST",
                                     data=format_add_checkpoint(0, [], stranger))
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=60)
        assert err.value.code == 404
        err.value.close()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_the_wsgi_factory_reads_its_environment(tmp_path: Path):
    key = tmp_path / "w.key"
    key.write_text(Signer.generate("witness.test/w8").private_key_text() + "\n")
    operator = Signer.generate("trial.example/log")
    app = from_env({"WASTE_LEDGER_WITNESS_KEY_FILE": str(key),
                    "WASTE_LEDGER_WITNESS_LOGS": operator.verifier.vkey,
                    "WASTE_LEDGER_WITNESS_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"})
    try:
        checkpoint = sign_checkpoint(operator, 2, bytes(32))
        r = app.test_client().post("/add-checkpoint",
                                   data=format_add_checkpoint(0, [], checkpoint))
        assert r.status_code == 200 and r.get_data().startswith("— witness.test/w8 ".encode())
    finally:
        app.extensions["witness_engine"].dispose()
    with pytest.raises(ConfigurationError):
        from_env({"WASTE_LEDGER_WITNESS_KEY_FILE": str(key)})

"""`waste-ledger serve` (what `make run` starts) really serves the app over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_http(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "WASTE_LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}",
           "WASTE_LEDGER_OPERATOR_KEY_FILE": str(tmp_path / "op.key"),
           "WASTE_LEDGER_SECRET_KEY": "x"}
    cli = Path(sys.executable).parent / "waste-ledger"
    proc = subprocess.Popen([str(cli), "serve", "--no-demo", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        body = None
        for _ in range(300):  # the server needs a moment to start; poll, no timing assertion
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/checkpoint") as r:
                    body = r.read()
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        assert body is not None, proc.stdout.read().decode() if proc.stdout else ""
        assert body.split(b"\n")[1] == b"1"  # entry 0, the operator registering itself
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:
            assert "危险废物全过程台账" in r.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()

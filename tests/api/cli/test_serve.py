"""`waste-ledger serve` (what `make run` starts) really serves the app over HTTP."""

from __future__ import annotations

import os
import socket
import sqlite3
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
           "WASTE_LEDGER_VAPID_KEY_FILE": str(tmp_path / "vapid.pem"),
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


def test_serve_https_for_phones_on_a_lan(tmp_path: Path):
    """`serve --https`: a self-signed certificate naming this machine, and the app over TLS
    with the headers and cookie flags that HTTPS calls for."""
    import ssl

    port = free_port()
    env = {**os.environ, "WASTE_LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}",
           "WASTE_LEDGER_OPERATOR_KEY_FILE": str(tmp_path / "op.key"),
           "WASTE_LEDGER_VAPID_KEY_FILE": str(tmp_path / "vapid.pem"),
           "WASTE_LEDGER_SECRET_KEY": "x", "WASTE_LEDGER_TLS_DIR": str(tmp_path / "tls")}
    cli = Path(sys.executable).parent / "waste-ledger"
    proc = subprocess.Popen([str(cli), "serve", "--no-demo", "--https", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    context = ssl.create_default_context(cafile=None)
    try:
        for _ in range(300):
            if (tmp_path / "tls" / "cert.pem").exists():
                break
            time.sleep(0.1)
        context.load_verify_locations(cafile=str(tmp_path / "tls" / "cert.pem"))
        resp = None
        for _ in range(300):
            try:
                resp = urllib.request.urlopen(f"https://localhost:{port}/login", context=context)
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        assert resp is not None, proc.stdout.read().decode() if proc.stdout else ""
        with resp:
            assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
            assert "Secure" in resp.headers["Set-Cookie"]  # the session cookie stays on TLS
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        out = proc.stdout.read().decode() if proc.stdout else ""
        if proc.stdout:
            proc.stdout.close()
    assert "certificate SHA-256" in out and f"https://127.0.0.1:{port}/" in out


def test_the_certificate_names_this_machine_and_is_reused(tmp_path: Path):
    from api.cli.tls import ensure_certificate

    first = ensure_certificate(tmp_path, ["localhost", "127.0.0.1", "192.168.1.20"])
    assert {"localhost", "127.0.0.1", "192.168.1.20"} <= set(first.names)
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600
    again = ensure_certificate(tmp_path, ["localhost", "192.168.1.20"])
    assert again.sha256 == first.sha256  # still covers them: kept, phones need not re-trust
    moved = ensure_certificate(tmp_path, ["localhost", "10.0.0.5"])  # a new LAN address
    assert moved.sha256 != first.sha256 and "10.0.0.5" in moved.names


def test_serve_runs_the_jobs_in_its_own_process(tmp_path: Path):
    """APScheduler inside `serve` ticks without any request: every registered job gets its row
    in job_runs, run once and leased by this process, with a result."""
    port = free_port()
    database = tmp_path / "d.db"
    env = {**os.environ, "WASTE_LEDGER_DATABASE_URL": f"sqlite:///{database}",
           "WASTE_LEDGER_OPERATOR_KEY_FILE": str(tmp_path / "op.key"),
           "WASTE_LEDGER_VAPID_KEY_FILE": str(tmp_path / "vapid.pem"),
           "WASTE_LEDGER_JOBS_TICK_SECONDS": "0.2", "WASTE_LEDGER_SECRET_KEY": "x"}
    cli = Path(sys.executable).parent / "waste-ledger"
    proc = subprocess.Popen([str(cli), "serve", "--no-demo", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wanted = {"deliveries", "deadline-reminders", "look-back", "declarations-due"}
    done: dict[str, str] = {}
    try:
        for _ in range(600):  # poll the database, no timing assertion
            if database.exists():
                with sqlite3.connect(database) as conn:
                    try:
                        done = dict(conn.execute("SELECT name, last_result FROM job_runs "
                                                 "WHERE last_finished_ms IS NOT NULL"))
                    except sqlite3.OperationalError:  # the schema is not there yet
                        done = {}
            if wanted <= set(done) or proc.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        output = proc.stdout.read().decode() if proc.stdout else ""
        if proc.stdout:
            proc.stdout.close()
    assert wanted <= set(done), (done, output)
    assert not any(r.startswith("failed") for r in done.values()), done
    assert (tmp_path / "vapid.pem").stat().st_mode & 0o777 == 0o600

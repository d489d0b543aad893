"""kill -9 of every server process in the middle of a load: no acknowledged entry is lost, the
log neither forks nor has a gap, and an export still verifies, on both databases.

Real processes: gunicorn with several workers and threads (the production server,
docs/deployment.md) on 127.0.0.1 port 0, a bounded number of writers for a bounded time."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ledger.clock import now_ms
from ledger.custody.uscc import make_uscc
from ledger.tlog import merkle
from ledger.tlog.checkpoints import verify_tlog_proof
from ledger.tlog.entries import entry_text, format_time, prev_field
from ledger.tlog.log import log_head, root_at
from ledger.tlog.models import LogEntry
from ledger.tlog.notes import Signer, sign_note
from ledger.tlog.rules import org_stream

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
WRITERS = 8  # threads posting one entry at a time, plus one posting batches
CHAIN = 120  # entries signed ahead per writer: more than it can post before the kill
LOAD_SECONDS = 4.0  # the kill comes after this long, or once enough entries are acknowledged
KILL_AFTER_ACKS = 150


@dataclass
class Writer:
    """One organisation's registry stream, signed ahead; what the server acknowledged."""

    notes: list[bytes]
    acked: list[tuple[bytes, dict]] = field(default_factory=list)  # (note, receipt)
    next: int = 0
    errors: list[str] = field(default_factory=list)


def _chain(operator: Signer, operator_org: str, org: str) -> list[bytes]:
    """org.registered then key.registered entries, chained, all signed by the operator."""
    t = format_time(now_ms() // 1000 * 1000)
    notes: list[bytes] = []
    prev = None
    for seq in range(CHAIN):
        if seq == 0:
            kind, data = "org.registered", {"name": f"负载测试单位{org[-4:]}",
                                            "region": "331002", "roles": ["generator"]}
        else:
            key = Signer.generate(f"load-{org[-6:]}-{seq}")
            kind, data = "key.registered", {"vkey": key.verifier.vkey, "label": f"k{seq}"}
        payload = {"stream": org_stream(org), "seq": seq, "org": operator_org,
                   "key": operator.verifier.fingerprint, "t": t, "kind": kind, "data": data}
        if prev is not None:
            payload["prev"] = prev_field(prev)
        note = sign_note(entry_text(payload), operator)
        notes.append(note)
        prev = merkle.leaf_hash(note)
    return notes


def _post(base: str, path: str, body: bytes, content_type: str) -> tuple[int, dict]:
    req = urllib.request.Request(base + path, data=body, method="POST",
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _single_writer(base: str, w: Writer, stop: threading.Event) -> None:
    while not stop.is_set() and w.next < len(w.notes):
        note = w.notes[w.next]
        try:
            status, body = _post(base, "/api/v1/entries", note, "text/plain")
        except (OSError, http.client.HTTPException):  # killed under us: not acknowledged
            return
        if status not in (200, 201):
            w.errors.append(f"{status} {body}")
            return
        w.acked.append((note, body))
        w.next += 1


def _batch_writer(base: str, w: Writer, stop: threading.Event) -> None:
    while not stop.is_set() and w.next < len(w.notes):
        notes = w.notes[w.next:w.next + 5]
        body = json.dumps({"notes": [n.decode() for n in notes]}).encode()
        try:
            status, out = _post(base, "/api/v1/entries/batch", body, "application/json")
        except (OSError, http.client.HTTPException):
            return
        if status != 200 or out["rejected"]:
            w.errors.append(f"{status} {out}")
            return
        for note, result in zip(notes, out["results"], strict=True):
            w.acked.append((note, result["receipt"]))
        w.next += len(notes)


def _start_gunicorn(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """The production server as docs/deployment.md runs it (2 workers x 4 threads here), on an
    ephemeral loopback port; its own process group, so one signal reaches every process."""
    fh = log.open("wb")
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "--bind", "127.0.0.1:0", "--workers", "2", "--threads", "4",
         "api.wsgi:app"], cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
        start_new_session=True)
    fh.close()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(rb"Listening at: http://127\.0\.0\.1:(\d+)", log.read_bytes())
        if found:
            base = f"http://127.0.0.1:{int(found.group(1))}"
            # every worker imports the app and upgrades the schema; wait until one answers
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(base + "/api/v1/checkpoint", timeout=30):
                        return proc, base
                except OSError:
                    time.sleep(0.1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    _kill(proc)
    raise AssertionError("gunicorn did not start:\n" + log.read_text(errors="replace"))


def _kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)  # the master and every worker, at once
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "waste-ledger"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_kill_9_mid_load_loses_no_acknowledged_entry(database, tmp_path):
    env = {**os.environ, "WASTE_LEDGER_DATABASE_URL": database.url,
           "WASTE_LEDGER_SQLALCHEMY_ENGINE_OPTIONS": json.dumps(database.engine_options),
           "WASTE_LEDGER_SECRET_KEY": "test",
           "WASTE_LEDGER_OPERATOR_KEY_FILE": str(tmp_path / "operator.key")}
    env.pop("WASTE_LEDGER_WITNESSES", None)
    _cli(env, "init")
    operator = Signer.from_private_key_text((tmp_path / "operator.key").read_text())
    engine = database.engine()
    session = sessionmaker(engine)()
    operator_org = log_head(session).operator_org
    session.rollback()
    assert operator_org is not None
    writers = [Writer(_chain(operator, operator_org, make_uscc("331002", 700 + i)))
               for i in range(WRITERS + 1)]

    proc, base = _start_gunicorn(env, tmp_path / "gunicorn-1.log")
    stop = threading.Event()
    threads = [threading.Thread(target=_single_writer, args=(base, w, stop))
               for w in writers[:-1]]
    threads.append(threading.Thread(target=_batch_writer, args=(base, writers[-1], stop)))
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < deadline and sum(len(w.acked) for w in writers) < KILL_AFTER_ACKS:
            time.sleep(0.05)
    finally:
        _kill(proc)  # kill -9 of every server process, with requests in flight
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert not any(w.errors for w in writers), [w.errors for w in writers]
    acked = [(note, r) for w in writers for note, r in w.acked]
    assert acked, "no entry was acknowledged before the kill"
    print(f"{len(acked)} entries acknowledged before kill -9")

    # Every acknowledged entry is in the log at its receipt's index, byte for byte, and its
    # receipt's checkpoint is a prefix of today's log (no fork); indexes have no gap.
    session.rollback()
    stored: dict[int, bytes] = dict(session.execute(select(LogEntry.idx, LogEntry.note)).all())
    assert sorted(stored) == list(range(len(stored)))
    head = log_head(session)
    leaves = session.scalars(select(LogEntry.leaf_hash).order_by(LogEntry.idx)).all()
    assert head.size == len(stored) and head.root == merkle.root(leaves)
    for note, receipt in acked:
        assert stored[receipt["index"]] == note
        cp = verify_tlog_proof(receipt["proof"], note, operator.verifier)
        assert root_at(session, cp.size) == cp.root
    session.rollback()

    # Restarted, the server answers as before: an acknowledged note again gives a receipt for
    # its first index; the note that was in flight at the kill landed whole or not at all, so it now
    # lands or is found, never half-applied (no seq_mismatch for its successor).
    proc, base = _start_gunicorn(env, tmp_path / "gunicorn-2.log")
    try:
        for w in writers:
            if w.acked:
                note, first = w.acked[-1]
                status, again = _post(base, "/api/v1/entries", note, "text/plain")
                assert (status, again["index"]) == (200, first["index"])
                verify_tlog_proof(again["proof"], note, operator.verifier)
            for note in w.notes[w.next:w.next + 6]:  # in flight (a batch: up to 5), then new
                status, body = _post(base, "/api/v1/entries", note, "text/plain")
                assert status in (200, 201), body
    finally:
        _kill(proc, signal.SIGTERM)
    out = tmp_path / "export"
    _cli(env, "export", str(out))
    verified = subprocess.run([str(BIN / "waste-ledger"), "verify", str(out)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    session.close()
    engine.dispose()

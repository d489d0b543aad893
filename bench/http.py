"""Appends measured from outside: gunicorn with the production settings, real HTTP clients.

Prints one JSON document on stdout, progress on stderr. Not a test: nothing passes or fails.

    .venv/bin/python bench/http.py            # full run, about 5 minutes
    .venv/bin/python bench/http.py --quick    # the same keys in under 3 minutes

Method
------
For each database (SQLite in a temporary file; PostgreSQL in a schema of its own on
``WASTE_LEDGER_BENCH_PG``, dropped afterwards) the log is initialised with ``waste-ledger init``
and served by ``gunicorn --workers 2 --threads 8 api.wsgi:app`` on 127.0.0.1 (the command of
docs/deployment.md). Every entry is signed before any timing starts (signing is the client's
job): each client owns an organisation's registry stream, ``org.registered`` then
``key.registered`` entries (each registering a fresh key: a rule check, a key lookup and a
projection row per entry), chained by seq/prev and signed by the operator (~480-byte notes).

Closed loop, N = 16 and 64 clients (asyncio + httpx, one connection each), each posting its next
entry as soon as the previous one is acknowledged: ``POST /api/v1/entries`` (one entry per
request) and ``POST /api/v1/entries/batch`` (100 entries per request). Open loop: single entries
at a fixed 200 requests/s over 64 streams; latency is counted from when a request was due, so a
slow server cannot hide its queue (no coordinated omission).

Baseline, in the same run against the same database: ``bench/http_baseline.py``, a minimal Flask
app under the same gunicorn command whose endpoint inserts the request body (the same notes, so
rows of the same size) as one row in one transaction, with the log's durability settings.
``http_append_vs_trivial_insert`` = appended entries/s / inserted rows/s at the same N.

Who used the CPU: each phase also reports ``cpu_ms_per_request`` (the CPU time this process, the
clients, gunicorn's processes and PostgreSQL's processes spent per request over the phase, from
/proc) and ``cpu_idle_share`` (the machine's idle share): on a 2-core machine all of them share
the cores, so a phase's rate is bounded by their sum.

Where the time goes: ``profile`` runs the same requests in this process through Flask's test
client under cProfile (one thread, SQLite and PostgreSQL) and reports the share of wall time
spent in each step of the append path.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# Run as a script, this file's folder would come first on sys.path, and this file is called
# http.py: the standard library's `http` (which httpx and werkzeug import) must win.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]

import argparse  # noqa: E402 - after the path set-up above
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Coroutine, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from ledger.clock import now_ms  # noqa: E402
from ledger.custody.uscc import make_uscc  # noqa: E402
from ledger.tlog import merkle  # noqa: E402
from ledger.tlog.entries import entry_text, format_time, prev_field  # noqa: E402
from ledger.tlog.notes import Signer, sign_note  # noqa: E402
from ledger.tlog.rules import org_stream  # noqa: E402

PG_URL = os.environ.get("WASTE_LEDGER_BENCH_PG",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BIN = Path(sys.executable).parent
GUNICORN = ["--workers", "2", "--threads", "8"]  # docs/deployment.md (2 cores)
BATCH = 100  # entries per POST /entries/batch
OPEN_LOOP_RATE = 200  # requests/s
OPEN_LOOP_STREAMS = 64
OPERATOR_ORG = make_uscc("330000", 1)  # api/settings.py's default


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- the entries, signed before any timing ----------------------------------------------------


class Chains:
    """Registry streams signed ahead by the operator, handed out to clients."""

    def __init__(self, operator: Signer) -> None:
        self.operator = operator
        self.t = format_time(now_ms() // 1000 * 1000)
        self.serial = 1000

    def chain(self, length: int) -> list[bytes]:
        self.serial += 1
        org = make_uscc("331002", self.serial)
        notes, prev = [], None
        for seq in range(length):
            if seq == 0:
                kind, data = "org.registered", {"name": f"压测单位{self.serial}",
                                                "region": "331002", "roles": ["generator"]}
            else:
                key = Signer.generate(f"bench-{self.serial}-{seq}")
                kind, data = "key.registered", {"vkey": key.verifier.vkey,
                                                "label": f"设备{seq}"}
            payload: dict[str, Any] = {
                "stream": org_stream(org), "seq": seq, "org": OPERATOR_ORG,
                "key": self.operator.verifier.fingerprint, "t": self.t, "kind": kind,
                "data": data}
            if prev is not None:
                payload["prev"] = prev_field(prev)
            note = sign_note(entry_text(payload), self.operator)
            notes.append(note)
            prev = merkle.leaf_hash(note)
        return notes


# --- databases and servers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    kind: str
    url: str
    engine_options: dict[str, Any]


@contextmanager
def database(kind: str, scratch: Path) -> Iterator[Database]:
    if kind == "sqlite":
        yield Database(kind, f"sqlite:///{scratch / 'ledger.db'}", {})
        return
    schema = f"bench_http_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Database(kind, PG_URL, {"connect_args": {"options": f"-csearch_path={schema}"}})
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def environment(db: Database, scratch: Path, operator_key: Path) -> dict[str, str]:
    env = {**os.environ, "WASTE_LEDGER_DATABASE_URL": db.url,
           "WASTE_LEDGER_SQLALCHEMY_ENGINE_OPTIONS": json.dumps(db.engine_options),
           "WASTE_LEDGER_SECRET_KEY": "bench", "WASTE_LEDGER_OPERATOR_KEY_FILE": str(operator_key)}
    env.pop("WASTE_LEDGER_WITNESSES", None)
    return env


@contextmanager
def gunicorn(apps: dict[str, Path], env: dict[str, str]) -> Iterator[list[str]]:
    """One gunicorn per app (module:app -> its log file) with the production settings, each on
    an ephemeral loopback port, started together; yields their URLs."""
    procs = []
    try:
        for app, log in apps.items():
            with log.open("wb") as fh:
                procs.append(subprocess.Popen(
                    [str(BIN / "gunicorn"), "--bind", "127.0.0.1:0", *GUNICORN, app], cwd=ROOT,
                    env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True))
        yield [_wait_listening(proc, log) for proc, log in zip(procs, apps.values(), strict=True)]
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            proc.wait(timeout=120)


def _wait_listening(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(rb"Listening at: http://127\.0\.0\.1:(\d+)", log.read_bytes())
        booted = len(re.findall(rb"Booting worker", log.read_bytes()))
        if found and booted >= int(GUNICORN[GUNICORN.index("--workers") + 1]):
            base = f"http://127.0.0.1:{int(found.group(1))}"
            asyncio.run(_warm_up(base))
            return base
        time.sleep(0.2)
    raise SystemExit("gunicorn did not start:\n" + log.read_text(errors="replace"))


async def _warm_up(base: str) -> None:
    """Until 32 requests at once are all answered: the workers have imported the app."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        for _ in range(600):
            answers = await asyncio.gather(*(http.get("/") for _ in range(32)),
                                           return_exceptions=True)
            if not any(isinstance(a, BaseException) for a in answers):
                return
            await asyncio.sleep(0.2)


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Tally:
    entries: int = 0
    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    status_409: int = 0
    status_5xx: int = 0
    other: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)  # "status code" of each non-2xx
    out_of_entries: int = 0  # clients that posted everything signed for them before the end

    def count(self, status: int, latency: float, entries: int, content: Any = b"") -> None:
        self.requests += 1
        self.latencies.append(latency)
        if status not in (200, 201):
            why = f"{status} {_error_code(content)}"
            self.refusals[why] = self.refusals.get(why, 0) + 1
        if status in (200, 201):
            self.entries += entries
        elif status == 409:
            self.status_409 += 1
        elif status >= 500:
            self.status_5xx += 1
        else:
            self.other[str(status)] = self.other.get(str(status), 0) + 1

    def result(self, seconds: float) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

        return {"entries_per_s": round(self.entries / seconds, 1),
                "requests_per_s": round(self.requests / seconds, 1), "entries": self.entries,
                "requests": self.requests, "seconds": round(seconds, 2),
                "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
                "status_409": self.status_409, "status_5xx": self.status_5xx,
                "other_status": self.other, "refusals": self.refusals,
                "clients_out_of_entries": self.out_of_entries}


def _error_code(content: Any) -> str:
    """The error code of a refusal's JSON body (or what the client saw instead)."""
    if isinstance(content, str):
        return content  # the client's own exception name
    try:
        body = json.loads(content)
    except ValueError:
        return "not JSON: " + bytes(content[:80]).decode(errors="replace")
    return str(body.get("code") or body.get("error") or body)[:80] if isinstance(body, dict) \
        else str(body)[:80]


async def _post(client: httpx.AsyncClient, path: str, body: bytes,
                content_type: str) -> tuple[int, Any]:
    try:
        r = await client.post(path, content=body, headers={"Content-Type": content_type})
    except httpx.HTTPError as exc:
        return 599, type(exc).__name__
    return r.status_code, r.content


async def closed_loop(base: str, path: str, streams: list[list[bytes]], per_request: int,
                      seconds: float) -> dict[str, Any]:
    """One client per stream, each posting its next request once the last one is answered."""
    tally = Tally()
    deadline = time.monotonic() + seconds

    async def client(notes: list[bytes]) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            pos = 0
            while time.monotonic() < deadline and pos < len(notes):
                chunk = notes[pos:pos + per_request]
                if path.endswith("/batch"):
                    body = json.dumps({"notes": [n.decode() for n in chunk]}).encode()
                    kind = "application/json"
                elif path == "/rows":
                    body, kind = chunk[0], "application/octet-stream"
                else:
                    body, kind = chunk[0], "text/plain"
                t0 = time.monotonic()
                status, content = await _post(http, path, body, kind)
                accepted = len(chunk)
                if status == 200 and path.endswith("/batch"):
                    accepted = json.loads(content)["accepted"]
                tally.count(status, time.monotonic() - t0, accepted, content)
                if status not in (200, 201):
                    return  # the stream cannot go on past a refused entry
                pos += len(chunk)
            if pos >= len(notes):
                tally.out_of_entries += 1

    start = time.monotonic()
    await asyncio.gather(*(client(s) for s in streams))
    return tally.result(time.monotonic() - start)


async def open_loop(base: str, streams: list[list[bytes]], rate: int,
                    seconds: float) -> dict[str, Any]:
    """Single entries due at a fixed rate, round-robin over the streams (each in order)."""
    tally = Tally()
    locks = [asyncio.Lock() for _ in streams]
    positions = [0] * len(streams)
    limits = httpx.Limits(max_connections=len(streams), max_keepalive_connections=len(streams))
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:

        async def one(k: int, due: float) -> None:
            s = k % len(streams)
            async with locks[s]:
                if positions[s] >= len(streams[s]):
                    return
                note = streams[s][positions[s]]
                status, content = await _post(http, "/api/v1/entries", note, "text/plain")
                tally.count(status, time.monotonic() - due, 1, content)
                if status in (200, 201):
                    positions[s] += 1

        start = time.monotonic()
        tasks = []
        for k in range(int(rate * seconds)):
            due = start + k / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(one(k, due)))
        await asyncio.gather(*tasks)
        result = tally.result(time.monotonic() - start)
    result["target_requests_per_s"] = rate
    return result


# --- one database -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    seconds: float  # per closed-loop phase
    open_seconds: float
    clients: tuple[int, ...] = (16, 64)
    single_cap: int = 1500  # entries/s a phase could reach at most (how much to sign ahead)
    batch_cap: int = 6000
    profile_entries: int = 200


FULL = Plan(seconds=15, open_seconds=15, single_cap=1500, batch_cap=6000)
QUICK = Plan(seconds=3, open_seconds=3, single_cap=1500, batch_cap=6000, profile_entries=30)


def signed_streams(chains: Chains, n: int, cap: int, seconds: float,
                   least: int = 4) -> list[list[bytes]]:
    per = max(least, int(cap * seconds / n) + 1)
    return [chains.chain(per) for _ in range(n)]


@dataclass(frozen=True)
class Work:
    """Every entry of a run, signed ahead; each database starts empty, so both get the same."""

    single: dict[int, list[list[bytes]]]
    batch: dict[int, list[list[bytes]]]
    open_loop: list[list[bytes]]
    profile_single: list[bytes]
    profile_batch: list[bytes]


def sign_work(plan: Plan, chains: Chains) -> Work:
    say("signing every entry ahead")
    return Work({n: signed_streams(chains, n, plan.single_cap, plan.seconds)
                 for n in plan.clients},
                {n: signed_streams(chains, n, plan.batch_cap, plan.seconds, least=2 * BATCH)
                 for n in plan.clients},
                signed_streams(chains, OPEN_LOOP_STREAMS, OPEN_LOOP_RATE, plan.open_seconds),
                chains.chain(plan.profile_entries), chains.chain(plan.profile_entries))


# --- where the CPU goes, by process ----------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_ticks() -> tuple[dict[int, tuple[str, int]], int, int]:
    """CPU ticks used so far by each process of interest (this one: the clients; gunicorn's;
    PostgreSQL's), by pid, and the machine's idle and all ticks (Linux /proc)."""
    used = {}
    for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        group = ("clients" if pid == os.getpid() else "gunicorn" if b"gunicorn" in command
                 else "postgres" if _is_postgres(command) else None)
        if group:
            used[pid] = (group, int(fields[11]) + int(fields[12]))  # utime + stime
    machine = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return used, machine[3] + machine[4], sum(machine)


def _is_postgres(command: bytes) -> bool:
    # A backend names itself "postgres: 15/main: user db host ..."; the server is its binary.
    return (command.startswith(b"postgres:")
            or command.split(b"\0", 1)[0].rsplit(b"/", 1)[-1] == b"postgres")


def _table_scans(db: Database) -> dict[str, int]:
    """PostgreSQL's counts of whole-table and index scans (and rows the former read) over the
    log's schema so far: a plan that scans a growing table shows here."""
    engine = create_engine(db.url, **db.engine_options)
    try:
        with engine.connect() as conn:
            row = conn.execute(text(
                "SELECT coalesce(sum(seq_scan), 0), coalesce(sum(seq_tup_read), 0), "
                "coalesce(sum(idx_scan), 0) FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema()")).one()
    finally:
        engine.dispose()
    return {"seq_scans": int(row[0]), "seq_rows_read": int(row[1]), "index_scans": int(row[2])}


def with_cpu(phase: Coroutine[Any, Any, dict[str, Any]],
             db: Database | None = None) -> dict[str, Any]:
    """Run ``phase`` (a coroutine measuring one phase) and add the CPU each group of processes
    spent per request (ms) and the machine's idle share over the phase: on a machine with few
    cores the clients, the servers and the database share them, and this says who used what."""
    if not Path("/proc/stat").exists():
        return asyncio.run(phase)
    postgres = db if db is not None and db.kind == "postgresql" else None
    scans = _table_scans(postgres) if postgres is not None else None
    before, idle0, all0 = _cpu_ticks()
    result = asyncio.run(phase)
    after, idle1, all1 = _cpu_ticks()
    # By pid: a process that started during the phase counts whole; one that ended during it
    # is lost (the servers' processes and the pools' connections outlive a phase).
    spent = {"clients": 0, "gunicorn": 0, "postgres": 0}
    for pid, (group, ticks) in after.items():
        spent[group] += ticks - before.get(pid, (group, 0))[1]
    if postgres is not None and scans is not None:
        time.sleep(1)  # PostgreSQL's backends report their counts within a second
        result["pg_table_scans"] = {k: v - scans[k] for k, v in _table_scans(postgres).items()}
    requests = max(result["requests"], 1)
    result["cpu_ms_per_request"] = {
        group: round(spent[group] * 1000 / CLOCK_TICKS / requests, 2)
        for group in ("clients", "gunicorn", "postgres")}
    result["cpu_idle_share"] = round((idle1 - idle0) / max(all1 - all0, 1), 2)
    return result


def bench_database(kind: str, plan: Plan, work: Work, operator_key: Path,
                   scratch: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with database(kind, scratch) as db:
        env = environment(db, scratch, operator_key)
        subprocess.run([str(BIN / "waste-ledger"), "init"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        _create_baseline_table(db)
        # Both servers start together (their start-up overlaps) and idle while the other runs.
        with gunicorn({"bench.http_baseline:app": scratch / f"baseline-{kind}.log",
                       "api.wsgi:app": scratch / f"log-{kind}.log"}, env) as (base, log_base):
            for n in plan.clients:
                say(f"{kind}: baseline, {n} clients")
                out[f"trivial_insert_n{n}"] = with_cpu(
                    closed_loop(base, "/rows", work.single[n], 1, plan.seconds))
            base = log_base
            for n in plan.clients:
                say(f"{kind}: POST /entries, {n} clients")
                single = with_cpu(closed_loop(base, "/api/v1/entries", work.single[n], 1,
                                              plan.seconds), db)
                base_rate = out[f"trivial_insert_n{n}"]["entries_per_s"]
                single["http_append_vs_trivial_insert"] = (
                    round(single["entries_per_s"] / base_rate, 3) if base_rate else None)
                out[f"entries_n{n}"] = single
                say(f"{kind}: POST /entries/batch ({BATCH} per request), {n} clients")
                out[f"batch_n{n}"] = with_cpu(closed_loop(
                    base, "/api/v1/entries/batch", work.batch[n], BATCH, plan.seconds), db)
            say(f"{kind}: {OPEN_LOOP_RATE} requests/s open loop")
            out["open_loop_200rps"] = with_cpu(open_loop(base, work.open_loop,
                                                         OPEN_LOOP_RATE, plan.open_seconds), db)
        out["profile"] = profile(db, env, work)
    return out


def _create_baseline_table(db: Database) -> None:
    """bench/http_baseline.py's table: an integer key and the body, nothing else."""
    ddl = ("CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"
           if db.kind == "sqlite" else
           "CREATE TABLE bench_rows (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL)")
    engine = create_engine(db.url, **db.engine_options)
    with engine.begin() as conn:
        conn.execute(text(ddl))
    engine.dispose()


# --- where the time goes ----------------------------------------------------------------------

STEPS = {  # cumulative time of these functions, as a share of the whole request
    "flask_request": "full_dispatch_request",
    "append_entries": "append_entries",
    "prepare_parse_and_signatures": "_prepare_all",
    "parse_entry": "parse_entry",
    "verify_signature": "verify_signature",
    "integrate_under_lock": "_integrate",
    "check_entry_rules": "check_entry",
    "group_state_read_ahead": "read_ahead",
    "held_rows_written": "write_rows",
    "key_registry_projection": "_apply_registry",
    "commit": "commit",
    "checkpoint_signature": "sign_checkpoint",
    "inclusion_proof": "inclusion_path",
}


def profile(db: Database, env: dict[str, str], work: Work) -> dict[str, Any]:
    """One thread, in this process: single appends, then entries in batches of BATCH."""
    say(f"{db.kind}: profile")
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from api import create_app

        app = create_app()
        client = app.test_client()
        out = {}
        for label, notes, per in (("single", work.profile_single, 1),
                                  ("batch", work.profile_batch, BATCH)):
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            for i in range(0, len(notes), per):
                chunk = notes[i:i + per]
                if per == 1:
                    client.post("/api/v1/entries", data=chunk[0], content_type="text/plain")
                else:
                    client.post("/api/v1/entries/batch",
                                json={"notes": [c.decode() for c in chunk]})
            prof.disable()
            wall = time.perf_counter() - t0
            out[label] = {"entries": len(notes), "ms_per_entry": round(wall / len(notes) * 1000, 3),
                          "share": _shares(prof, wall)}
        with app.app_context():
            from api.extensions import db as flask_db

            flask_db.engine.dispose()
        return out
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _shares(prof: cProfile.Profile, wall: float) -> dict[str, float]:
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]  # the raw table
    cumulative: dict[str, float] = {}
    for (_file, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.items():
        cumulative[name] = max(cumulative.get(name, 0.0), ct)
    return {step: round(cumulative.get(fn, 0.0) / wall, 3) for step, fn in STEPS.items()}


# --- the run ------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "cpu_count": cores,
            "processor": model, "platform": platform.platform(),
            "python": platform.python_version(), "sqlite_version": sqlite3.sqlite_version,
            "gunicorn": " ".join(GUNICORN), "loadavg_start": os.getloadavg()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the same keys in under 3 minutes")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--logs", type=Path, help="keep the servers' logs in this folder")
    parser.add_argument("--gunicorn", default=" ".join(GUNICORN),
                        help="gunicorn's worker settings for both servers (default: "
                             "docs/deployment.md's)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    GUNICORN[:] = args.gunicorn.split()
    result: dict[str, Any] = {"machine": machine_info(), "quick": args.quick,
                              "seconds_per_phase": plan.seconds, "batch_size": BATCH}
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        scratch = Path(tmp)
        operator = Signer.generate("waste-ledger.local/log")
        operator_key = scratch / "operator.key"
        operator_key.write_text(operator.private_key_text() + "\n")
        work = sign_work(plan, Chains(operator))
        for kind in args.databases.split(","):
            result[kind] = bench_database(kind, plan, work, operator_key, scratch)
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            for server_log in scratch.glob("*.log"):
                shutil.copy(server_log, args.logs / server_log.name)
    result["machine"]["loadavg_end"] = os.getloadavg()
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

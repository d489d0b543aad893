"""Pages under gunicorn worker settings: logged-in people opening their pages, from outside.

Prints one JSON document on stdout, progress on stderr. Not a test: nothing passes or fails.

    .venv/bin/python bench/pages.py            # full run, about 4 minutes
    .venv/bin/python bench/pages.py --quick    # the same keys in under 2 minutes

Why: docs/deployment.md's worker setting serves appends and pages from the same processes.
Appends favour few processes with many threads (a process's waiting appends share one
transaction); page rendering is CPU work the processes share on the machine's cores. This
measures the pages' side under each setting, so the choice is made on both.

Method
------
For each database (PostgreSQL in a schema of its own on ``WASTE_LEDGER_BENCH_PG``, dropped
afterwards; SQLite in a temporary file) the log is initialised and the demo region seeded
(``waste-ledger init``, ``waste-ledger seed-demo``: 30 enterprises, four months of signed
history). Then, for each setting, gunicorn serves ``api.wsgi:app`` on 127.0.0.1 and N = 16
clients (asyncio + httpx, one connection each) open pages as soon as the last one arrived, in
turn over the enterprise's, the regulator's and the driver's pages below, each logged in once
through the log-in form. Every answer must be 200; anything else is counted.

``pages_vs_first`` = pages/s under a setting / pages/s under the first setting (the one of
docs/deployment.md), in the same run against the same data.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# This folder must not shadow the standard library's `http` (bench/http.py), which httpx imports.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != BENCH]

import argparse  # noqa: E402 - after the path set-up above
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

from api.demo.seed import DEMO_PASSWORD  # noqa: E402
from bench.http import BIN, GUNICORN, Tally, database, environment, gunicorn, machine_info, say  # noqa: E402
from ledger.tlog.notes import Signer  # noqa: E402

PAGES = {  # the pages each person opens most, their workspace first
    "generator": ["/generator/", "/generator/declare", "/generator/pickups", "/generator/plan"],
    "regulator": ["/regulator/", "/regulator/gaps", "/regulator/manifests", "/regulator/cases"],
    "driver": ["/collector/", "/collector/scan"],
}
SETTINGS = ["--workers 2 --threads 8", "--workers 4 --threads 4"]  # docs/deployment.md's first
CLIENTS = 16


async def _log_in(base: str, username: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=base, timeout=120)
    form = await http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise SystemExit(f"no log-in form at {base}/login")
    answer = await http.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                              "csrf_token": token.group(1)})
    if answer.status_code not in (302, 303):
        raise SystemExit(f"log-in as {username} failed: {answer.status_code}")
    return http


async def closed_loop(base: str, seconds: float) -> dict[str, Any]:
    """CLIENTS clients opening the pages in turn, each starting at a different page."""
    people = {name: await _log_in(base, name) for name in PAGES}
    visits = [(name, path) for name, paths in PAGES.items() for path in paths]
    try:
        for name, path in visits:  # every page renders before anything is timed
            answer = await people[name].get(path)
            if answer.status_code != 200:
                raise SystemExit(f"{path} as {name}: {answer.status_code}")
        tally = Tally()
        deadline = time.monotonic() + seconds

        async def client(start: int) -> None:
            turn = start
            while time.monotonic() < deadline:
                name, path = visits[turn % len(visits)]
                turn += 1
                t0 = time.monotonic()
                try:
                    answer = await people[name].get(path)
                except httpx.HTTPError as exc:
                    tally.count(599, time.monotonic() - t0, 0, type(exc).__name__)
                    continue
                tally.count(answer.status_code, time.monotonic() - t0, 1, answer.content)

        t0 = time.monotonic()
        await asyncio.gather(*(client(i) for i in range(CLIENTS)))
        result = tally.result(time.monotonic() - t0)
    finally:
        for http in people.values():
            await http.aclose()
    result["pages_per_s"] = result.pop("entries_per_s")
    for key in ("entries", "clients_out_of_entries"):
        result.pop(key)
    return result


def bench_database(kind: str, settings: list[str], seconds: float, runs: int,
                   operator_key: Path, scratch: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with database(kind, scratch) as db:
        env = environment(db, scratch, operator_key)
        say(f"{kind}: init and seed-demo")
        for command in (["init"], ["seed-demo"]):
            subprocess.run([str(BIN / "waste-ledger"), *command], cwd=ROOT, env=env, check=True,
                           capture_output=True)
        for setting in settings:
            GUNICORN[:] = setting.split()
            with gunicorn({"api.wsgi:app": scratch / f"pages-{kind}.log"}, env) as (base,):
                for run in range(runs):
                    say(f"{kind}: {setting}, {CLIENTS} clients, run {run + 1}/{runs}")
                    out.setdefault(setting, []).append(asyncio.run(closed_loop(base, seconds)))
    first = _mean_rate(out[settings[0]])
    return {setting: {"runs": results,
                      "pages_per_s": _mean_rate(results),
                      "pages_vs_first": round(_mean_rate(results) / first, 3) if first else None}
            for setting, results in out.items()}


def _mean_rate(results: list[dict[str, Any]]) -> float:
    return round(sum(r["pages_per_s"] for r in results) / len(results), 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the same keys in under 2 minutes")
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--settings", nargs="+", default=SETTINGS,
                        help="gunicorn worker settings to compare, the reference first")
    args = parser.parse_args(argv)
    seconds, runs = (4.0, 1) if args.quick else (12.0, 2)
    result: dict[str, Any] = {"machine": machine_info(), "quick": args.quick,
                              "seconds_per_run": seconds, "clients": CLIENTS, "pages": PAGES}
    result["machine"].pop("gunicorn")
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        scratch = Path(tmp)
        operator = Signer.generate("waste-ledger.local/log")
        operator_key = scratch / "operator.key"
        operator_key.write_text(operator.private_key_text() + "\n")
        for kind in args.databases.split(","):
            result[kind] = bench_database(kind, args.settings, seconds, runs, operator_key,
                                          scratch)
    result["machine"]["loadavg_end"] = os.getloadavg()
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

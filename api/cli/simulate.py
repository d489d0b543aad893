"""`waste-ledger simulate`: build a region with known faults and write down what was injected."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from api.bootstrap import ensure_initialised
from api.demo.simulate import simulate


@click.command("simulate")
@click.option("--enterprises", default=20, show_default=True, type=click.IntRange(1, 5000))
@click.option("--months", default=7, show_default=True, type=click.IntRange(1, 36))
@click.option("--faults/--clean", default=True, show_default=True)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--cases/--no-cases", default=True, show_default=True,
              help="a year of the case loop: opened from gaps, assigned, answered, closed, "
                   "overdue, reopened at 回头看")
@click.option("--faults-file", default="injected-faults.json", show_default=True,
              type=click.Path(dir_okay=False))
@with_appcontext
def simulate_command(enterprises: int, months: int, faults: bool, seed: int, cases: bool,
                     faults_file: str) -> None:
    """Simulate a region; with faults, corrupts one tree node at the end (an integrity fault):
    use a database of its own."""
    ensure_initialised(lambda message: click.echo(message, err=True))
    sim = simulate(current_app._get_current_object(),  # type: ignore[attr-defined]  # LocalProxy's
                   enterprises=enterprises, months=months, faults=faults, seed=seed,
                   cases=cases,
                   progress=lambda msg: click.echo(f"simulate: {msg}", err=True))
    with open(faults_file, "w", encoding="utf-8") as fh:
        json.dump({"scan_at": sim.end.isoformat(), "faults": [f.as_json() for f in sim.faults],
                   "cases": None if sim.cases is None else {
                       "outcomes": sim.cases.cases, "inspection": sim.cases.inspection,
                       "recurred": [r.case_id for r in sim.cases.recurred]}},
                  fh, ensure_ascii=False, indent=1)
    click.echo(f"simulated {sim.demo.batches} batches; {len(sim.faults)} faults written to "
               f"{faults_file}")

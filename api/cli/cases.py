"""`waste-ledger cases`: the case loop's jobs on the command line (回头看)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from api.lookback import run_lookback


@click.group("cases")
def cases_group() -> None:
    """Cases (问题 → 交办 → 整改 → 销号 → 回头看)."""


@cases_group.command("lookback")
@with_appcontext
def lookback_command() -> None:
    """回头看: reopen the closed cases whose problem came back (signed by the operator key)."""
    found = run_lookback(current_app._get_current_object())  # type: ignore[attr-defined]
    for r in found:
        click.echo(f"{r.case_id}\t反弹\t{r.gap_id}\t{r.days} days after close-out\t"
                   f"entry {r.index}")
    click.echo(f"lookback: {len(found)} case(s) reopened", err=True)

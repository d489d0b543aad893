"""`waste-ledger gaps`: the gap findings as a table, CSV, JSON or XLSX (as the operator)."""

from __future__ import annotations

import json
import time
from typing import BinaryIO

import click
from flask import current_app
from flask.cli import with_appcontext

from api.exports import TYPE_ZH, gap_json, gaps_csv, gaps_xlsx
from api.extensions import db
from api.runtime import reports_session
from api.scoping import gap_settings
from ledger.audit.gaps import GAP_TYPES, GapQuery, find_gaps


@click.command("gaps")
@click.option("--region", help="6-digit region code; includes its sub-regions")
@click.option("--type", "types", multiple=True, type=click.Choice(GAP_TYPES))
@click.option("--status", type=click.Choice(["open", "resolved"]))
@click.option("--organisation")
@click.option("--format", "fmt", default="table",
              type=click.Choice(["table", "csv", "json", "xlsx"]))
@click.option("-o", "--output", type=click.File("wb"), default="-",
              help="file to write (xlsx needs one); default standard output")
@with_appcontext
def gaps_command(region: str | None, types: tuple[str, ...], status: str | None,
                 organisation: str | None, fmt: str, output: BinaryIO) -> None:
    """List gaps in the chain of custody."""
    click.echo("gaps: scanning…", err=True)
    query = GapQuery(now_ms=time.time_ns() // 1_000_000, region=region,
                     types=frozenset(types or GAP_TYPES), organisation=organisation,
                     status=status)
    found = find_gaps(reports_session(), query, gap_settings(current_app), primary=db.session)
    if fmt == "xlsx":
        if getattr(output, "name", "-") in ("-", "<stdout>") or output.isatty():
            raise click.UsageError("--format xlsx writes a file: add -o gaps.xlsx")
        output.write(gaps_xlsx(found))
    elif fmt == "csv":
        output.write(gaps_csv(found).encode("utf-8"))
    elif fmt == "json":
        output.write(json.dumps([gap_json(g) for g in found], ensure_ascii=False,
                                indent=1).encode("utf-8"))
    else:
        for g in found:
            j = gap_json(g)
            output.write(f"{j['severity']:<6} {TYPE_ZH[g.type]:<8} {j['status']:<8} "
                         f"{j['opened']} {' '.join(g.batches) or '-'} "
                         f"{' '.join(g.organisations)}\n".encode())
    click.echo(f"gaps: {len(found)} finding(s)", err=True)

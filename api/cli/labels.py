"""``waste-ledger label``: print container labels from the command line, as the operator."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from api.extensions import db
from api.rest.labels import (
    FORMATS,
    SIZES,
    label_size,
    public_base_url,
    render_label,
    render_sheet,
    sheet_size,
)
from labels import SHEETS, LabelSize
from ledger.custody.access import principal_for
from ledger.custody.label_data import labels_for
from ledger.errors import LedgerError


@click.command("label")
@click.argument("codes", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="pdf",
              show_default=True, help="png and svg hold one label; sheets are pdf")
@click.option("--sheet", type=click.Choice(sorted(SHEETS)), default=None,
              help="lay the labels out on a sheet (several codes: a4 unless given)")
@click.option("--size", type=click.Choice(SIZES), default=None,
              help="label side in mm [default: from the container's volume, else 100]")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              required=True, help="file to write ('-' for standard output)")
@with_appcontext
def label(codes: tuple[str, ...], fmt: str, sheet: str | None, size: str | None,
          output: Path) -> None:
    """Render the labels of batch CODES (or their trace URLs) to a file."""
    if (sheet or len(codes) > 1) and fmt != "pdf":
        raise click.UsageError("several labels or a --sheet need --format pdf")
    requested = LabelSize(int(size)) if size else None
    try:
        session = db.session
        operator = principal_for(session, current_app.config["OPERATOR_ORG"])
        batches = labels_for(session, operator, list(codes), public_base_url())
        if sheet or len(codes) > 1:
            layout = sheet or "a4"
            body = render_sheet(batches, layout, sheet_size(batches, layout, requested))
        else:
            body = render_label(batches[0], fmt, label_size(batches[0], requested))
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    if str(output) == "-":
        sys.stdout.buffer.write(body)
        return
    output.write_bytes(body)
    click.echo(f"{len(batches)} label(s) written to {output}", err=True)


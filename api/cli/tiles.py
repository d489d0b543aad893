"""`waste-ledger tiles export DIR`: the /log/ read path as static files for any web server."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from api import runtime
from api.cli.witness import cosign_before_export
from api.extensions import db
from ledger.errors import LedgerError
from ledger.tlog.tiles import export_tiles


@click.group("tiles")
def tiles_group() -> None:
    """The log as C2SP tlog-tiles (what /log/ serves)."""


@tiles_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--entries/--no-entries", default=True, show_default=True,
              help="write the entry bundles (tile/entries/: every signed note); leave them "
                   "out for a mirror that only anyone may read")
@with_appcontext
def export_command(directory: Path, entries: bool) -> None:
    """Write checkpoint and tile/ under DIR (only new tiles on a re-run)."""

    def progress(done: int, total: int) -> None:
        click.echo(f"tiles: {done}/{total} tiles", err=True)

    try:
        cosign_before_export()
        result = export_tiles(db.session, runtime.log_config(), str(directory),
                              entries=entries, progress=progress)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"tiles of {result.size} entries in {directory}: {result.written} written, "
               f"{result.kept} full tiles already there")

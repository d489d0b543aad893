"""`waste-ledger backup FILE` and `waste-ledger restore FILE` (docs/deployment.md, "Backups")."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from api import backup as backups
from api.extensions import db
from ledger.errors import LedgerError


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(file: Path) -> None:
    """Write a consistent snapshot of the database to FILE while the server runs (SQLite: a
    database file; PostgreSQL: a pg_dump -Fc archive). The operator key is NOT in it."""
    try:
        done = backups.backup(db.engine, file)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    size = "" if done.log_size is None else f" ({done.log_size} log entries)"
    click.echo(f"backup written to {done.path}{size}, format {done.kind}")
    click.echo("the operator key, the session secret and TLS files are not in it: back them up "
               "separately", err=True)


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@with_appcontext
def restore_command(file: Path) -> None:
    """Restore a backup made by `waste-ledger backup` into an empty database (refused
    otherwise). Then run `waste-ledger init` with the operator key file in place."""
    try:
        backups.restore(db.engine, file)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {file}; next: put the operator key in place and run `waste-ledger "
               "init` (it upgrades the schema and checks the key), then `rebuild --check`")

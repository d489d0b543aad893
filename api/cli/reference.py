"""``waste-ledger reference``: load the official 利用/处置方式 codes and general industrial solid
waste codes (neither ships with waste-ledger; ``ledger.custody.reference``)."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask.cli import with_appcontext

from api.extensions import db
from ledger.custody import reference
from ledger.errors import LedgerError


@click.group("reference")
def reference_group() -> None:
    """Official code lists: 利用/处置方式 and 一般工业固体废物 codes."""


@reference_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "name", type=click.Choice(reference.LISTS), required=True,
              help="disposal_methods (code,name,method) or general_waste (category,code,name)")
@with_appcontext
def import_command(file: Path, name: str) -> None:
    """Validate and load an official list (UTF-8 CSV); once loaded, entries are checked
    against it."""
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file} is not UTF-8 text: {exc}") from None
    try:
        r = reference.import_list(db.session, name, text, source=file.name,
                                  now_ms=time.time_ns() // 1_000_000)
    except LedgerError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{'loaded' if r.created else 'already loaded (identical)'}: {name}, "
               f"{r.rows} rows, applies to entries from index {r.from_index}")


#: what each list is for, and what goes without it (said by ``init`` and ``reference list``)
USES = {
    reference.METHODS: ("the 利用/处置方式 codes (disposal method codes)",
                        "disposers type a method code by hand and it is not checked"),
    reference.GENERAL: ("the 一般工业固体废物 codes (general industrial solid waste lists)",
                        "the general waste declare form has no list to choose from and "
                        "codes are checked only for their format"),
}


def reference_notices() -> list[str]:
    """One line per official list: loaded (rows), or NOT loaded, what is missing without it,
    and the exact command that loads it."""
    lines = []
    for name in reference.LISTS:
        rows = (reference.method_codes(db.session) if name == reference.METHODS
                else reference.general_codes(db.session))
        what, without = USES[name]
        if rows is None:
            lines.append(f"reference list {name}, {what}, is NOT loaded: {without}. "
                         f"Load the official list with: {reference.IMPORT_HINT[name]}")
        else:
            lines.append(f"reference list {name}: {len(rows)} rows, loaded")
    return lines


@reference_group.command("list")
@with_appcontext
def list_command() -> None:
    """Which lists are loaded; for one that is not, how to load it."""
    for line in reference_notices():
        click.echo(line)

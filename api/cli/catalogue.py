"""``waste-ledger catalogue``: load an edition of the national catalogue, list what is loaded."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask.cli import with_appcontext

from api.extensions import db
from ledger.clock import beijing_today
from ledger.custody import editions
from ledger.errors import LedgerError

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("catalogue")
def catalogue_group() -> None:
    """The national catalogue of hazardous wastes (国家危险废物名录): its editions."""


def _text(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path} is not UTF-8 text: {exc}") from None


@catalogue_group.command("import")
@click.argument("file", type=_FILE)
@click.option("--edition", required=True, help="the edition's year, e.g. 2025")
@click.option("--effective", required=True, help="in force from, YYYY-MM-DD (2025-01-01)")
@click.option("--exemptions", type=_FILE, required=True,
              help="the exemption list (豁免管理清单) of this edition, CSV in the columns of "
                   "hw_exemptions_2021.csv")
@click.option("--categories", type=_FILE,
              help="category names (category,name); default: the names of the newest loaded "
                   "edition, when it has every category the table uses")
@click.option("--successors", type=_FILE,
              help="codes this edition no longer lists: code,change,successors (change is "
                   "merged, split or removed; several successors joined with ;)")
@with_appcontext
def import_command(file: Path, edition: str, effective: str, exemptions: Path,
                   categories: Path | None, successors: Path | None) -> None:
    """Validate and load an edition from the official table (CSV in the 2021 file's columns:
    category,industry,code,description,hazard)."""
    try:
        result = editions.import_edition(
            db.session, edition, effective, catalogue_csv=_text(file) or "",
            exemptions_csv=_text(exemptions) or "", categories_csv=_text(categories),
            successors_csv=_text(successors), source=file.name,
            now_ms=time.time_ns() // 1_000_000)
    except LedgerError as exc:
        raise click.ClickException(exc.message) from None
    info = result.info
    click.echo(("loaded" if result.created else "already loaded (identical)") +
               f": catalogue {info.edition}, in force from {info.effective_from}, "
               f"{result.codes} codes, {result.exemptions} exemption rows, "
               f"{result.successors} superseded codes; applies to entries from log index "
               f"{info.from_index}")
    if result.categories_from:
        click.echo(f"category names taken from the {result.categories_from} edition", err=True)


@catalogue_group.command("list")
@with_appcontext
def list_command() -> None:
    """The loaded editions, and whether the edition in force today is one of them."""
    for info in editions.editions(db.session):
        click.echo(f"{info.edition}  in force from {info.effective_from}  {info.origin}"
                   + (f"  from log index {info.from_index}" if info.origin == "imported" else ""))
    click.echo(in_force_notice())


def in_force_notice() -> str:
    """One line on the edition in force today: loaded, or how to load it."""
    now = editions.in_force(db.session, beijing_today())
    if now.loaded:
        return f"in force today: {now.edition} ({now.order}), loaded"
    return (f"the catalogue in force today, {now.edition} ({now.order}, from "
            f"{now.effective_from}), is NOT loaded: batches are checked against {now.used}. "
            f"Load the official table with: {now.import_command}")

"""`waste-ledger db upgrade|current|history`: the schema's Alembic revision, without the rest
of `init` (no operator key, no entry 0). docs/deployment.md, "Schema changes"."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from api.extensions import db
from ledger import migrations


@click.group("db")
def db_group() -> None:
    """The database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: head); adopts a database made before
    migrations."""
    done = migrations.upgrade(db.engine, revision)
    if done.adopted:
        click.echo("adopted a database made before migrations")
    if done.changed:
        click.echo(f"schema upgraded: {done.before or '<empty>'} -> {done.after}")
    else:
        click.echo(f"schema already at {done.after}")


@db_group.command("current")
@with_appcontext
def current() -> None:
    """Print the database's revision ("(head)" when it is the newest)."""
    revision = migrations.current(db.engine)
    if revision is None:
        click.echo("none: an empty database, or one made before migrations "
                   "(`waste-ledger db upgrade` adopts it)")
        return
    click.echo(revision + (" (head)" if revision in migrations.heads() else ""))


@db_group.command("history")
def history() -> None:
    """List the revisions, newest first."""
    for script in migrations.history():
        head = " (head)" if script.is_head else ""
        doc = " ".join(script.doc.split())  # one line per revision
        click.echo(f"{script.down_revision or '<base>'} -> {script.revision}{head}: {doc}")

"""The ``waste-ledger`` command: set up, serve, export, verify, checkpoint.

Commands parse their arguments, call a use case and print; they hold no rules themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup
from werkzeug.serving import run_simple

from api import create_app, jobs, runtime
from api.bootstrap import ensure_initialised
from api.cli.admin import COMMANDS
from api.cli.backup import backup_command, restore_command
from api.cli.cases import cases_group
from api.cli.catalogue import catalogue_group, in_force_notice
from api.cli.db import db_group
from api.cli.gaps import gaps_command
from api.cli.jobs import jobs_group
from api.cli.labels import label
from api.cli.operator import operator_group
from api.cli.reference import reference_group, reference_notices
from api.cli.reports import reconcile_command
from api.cli.simulate import simulate_command
from api.cli.tiles import tiles_group
from api.cli.tls import ensure_certificate
from api.cli.witness import cosign_before_export, witness_group
from api.extensions import db
from api.instance import write_private_key
from ledger.clock import beijing_today
from ledger.custody.workdays import calendar_notice
from ledger.errors import LedgerError
from ledger.tlog import log
from ledger.tlog.notes import Signer


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False,
             load_dotenv=False)
def main() -> None:
    """waste-ledger: chain-of-custody ledger for hazardous and solid waste."""


def _fail(exc: LedgerError) -> None:
    raise click.ClickException(str(exc))


def _report(message: str) -> None:
    click.echo(message, err=True)


@main.command()
def init() -> None:
    """Create the database, the operator key and the log's first entry (idempotent)."""
    try:
        created = ensure_initialised(_report)
    except LedgerError as exc:
        _fail(exc)
    cfg = runtime.log_config()
    click.echo(("initialised" if created else "already initialised") +
               f": {current_app.config['DATABASE_URL']}")
    click.echo(in_force_notice())
    for line in reference_notices():
        click.echo(line)
    click.echo(calendar_notice(beijing_today()))
    click.echo(f"operator vkey: {cfg.operator.verifier.vkey}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo/--no-demo", default=True, show_default=True,
              help="seed the demo region when the database is created")
@click.option("--https", "https", is_flag=True,
              help="serve HTTPS with a self-signed certificate kept in instance/tls (for phones "
                   "on a LAN: the camera and the signing keys need a secure context)")
def serve(host: str, port: int, demo: bool, https: bool) -> None:
    """Initialise if needed (with demo data on first start) and serve the app."""
    try:
        created = ensure_initialised(_report)
        if created and demo:
            _seed()
    except LedgerError as exc:
        _fail(exc)
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # LocalProxy's method
    ssl_context = None
    if https:
        cert = ensure_certificate(Path(app.config["TLS_DIR"]))
        ssl_context = (str(cert.cert), str(cert.key))
        app.config["SESSION_COOKIE_SECURE"] = True
        click.echo(f"certificate SHA-256 (compare on the phone): {cert.sha256}")
        shown = [n for n in cert.names if host in ("0.0.0.0", "::") or n == host]
        for name in shown or [host]:
            click.echo(f"  https://{name}:{port}/")
        if host == "127.0.0.1":
            click.echo("only this computer can connect; for phones add --host 0.0.0.0")
    notice = calendar_notice(beijing_today())
    if not notice.endswith(", loaded"):  # deadlines in a year it does not know are estimates
        click.echo(notice, err=True)
    # The embedded default: reminders and deliveries tick in this process (docs/notifications.md).
    jobs.start_scheduler(app)
    scheme = "https" if https else "http"
    click.echo(f"waste-ledger is serving on {scheme}://{host}:{port}/  (Ctrl+C to stop)")
    # app.run() refuses to run inside a `flask`-style CLI command; serve it directly.
    run_simple(host, port, app, use_reloader=False, threaded=True, ssl_context=ssl_context)


@main.command(with_appcontext=False)
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="private key file to write (mode 0600); default NAME.key")
def keygen(name: str, output: Path | None) -> None:
    """Generate an Ed25519 signing key for a device or integration; prints its vkey."""
    try:
        signer = Signer.generate(name)
    except LedgerError as exc:
        _fail(exc)
    path = output or Path(name.replace("/", "_") + ".key")
    try:
        write_private_key(path, signer)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; not overwriting a key") from None
    click.echo(f"private key: {path}", err=True)
    click.echo(signer.verifier.vkey)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(directory: Path) -> None:
    """Write the log, a fresh checkpoint and the operator key for offline verification."""

    def progress(done: int, total: int) -> None:
        click.echo(f"export: {done}/{total} entries", err=True)

    try:
        cosign_before_export()
        result = log.export_log(db.session, runtime.log_config(), str(directory), progress)
    except LedgerError as exc:
        _fail(exc)
    click.echo(f"exported {result.entries} entries to {result.directory}")


@main.command(with_appcontext=False, context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def verify(args: tuple[str, ...]) -> None:
    """Verify an export offline (same as python -m ledger.verify; --help for options)."""
    from ledger.tlog.verify import main as verify_main

    sys.exit(verify_main(list(args)))


def _seed(**kw: int) -> None:
    from api.demo.seed import seed_demo

    counts = seed_demo(current_app._get_current_object(),  # type: ignore[attr-defined]  # LocalProxy's
                       progress=lambda msg: click.echo(f"seed-demo: {msg}", err=True), **kw)
    click.echo(f"seeded {counts['organisations']} organisations, {counts['batches']} batches, "
               f"{counts['manifests']} manifests")


@main.command("seed-demo")
@click.option("--enterprises", default=30, show_default=True, type=click.IntRange(1, 900))
@click.option("--months", default=4, show_default=True, type=click.IntRange(1, 24))
def seed_demo_command(enterprises: int, months: int) -> None:
    """Create a demo district with a few months of signed history."""
    try:
        ensure_initialised(_report)
        _seed(enterprises=enterprises, months=months)
    except LedgerError as exc:
        _fail(exc)


@main.command()
@click.option("--check", is_flag=True, help="only compare; change nothing")
def rebuild(check: bool) -> None:
    """Recompute every projection from index 0; report (and repair) what differs."""
    from ledger.tlog.rebuild import rebuild as rebuild_projections

    def progress(done: int, total: int) -> None:
        click.echo(f"rebuild: {done}/{total} entries", err=True)

    try:
        report = rebuild_projections(db.session, runtime.log_config(), commit=not check,
                                     progress=progress)
    except LedgerError as exc:
        _fail(exc)
    if report.identical:
        click.echo(f"rebuild: {report.entries} entries replayed; projections identical")
        return
    for table, diff in report.differences.items():
        click.echo(f"{table}: {len(diff['only_in_database'])} row(s) only in the database, "
                   f"{len(diff['only_in_rebuild'])} only in the rebuild")
    if check:
        sys.exit(1)
    click.echo("rebuild: projections replaced by the rebuild")


@main.command()
def checkpoint() -> None:
    """Issue (if the log grew) and print the latest signed checkpoint."""
    try:
        note = log.issue_checkpoint(db.session, runtime.log_config())
    except LedgerError as exc:
        _fail(exc)
    click.echo(note.decode(), nl=False)


main.add_command(label)
main.add_command(tiles_group)
main.add_command(witness_group)
main.add_command(reconcile_command)
main.add_command(cases_group)
for command in (*COMMANDS, db_group, gaps_command, jobs_group, operator_group, simulate_command,
                catalogue_group, reference_group, backup_command, restore_command):
    main.add_command(command)

"""`waste-ledger witness ...`: run a witness (serve, vkey, evidence) and, on the log's side,
ask the configured witnesses now (push)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from werkzeug.serving import run_simple

from api import cosigning
from api.witness import create_witness_app
from ledger.errors import LedgerError
from ledger.tlog.cosignatures import CosignerKey
from ledger.tlog.notes import Signer, parse_vkey
from ledger.tlog.witness import WitnessBase, WitnessConfig, evidence
from ledger.tlog.witnessing import Outcome

DEFAULT_DB = "sqlite:///witness.db"


def _key(path: Path) -> Signer:
    try:
        return Signer.from_private_key_text(path.read_text())
    except (OSError, LedgerError) as exc:
        raise click.ClickException(f"witness key {path}: {exc}") from None


def _vkey(signer: Signer) -> str:
    return CosignerKey(signer.name, signer.verifier.public_key).vkey


@click.group("witness")
def witness_group() -> None:
    """Witnesses that cosign checkpoints (c2sp.org/tlog-witness)."""


@witness_group.command("serve")
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path),
              help="the witness's private key (make one with `waste-ledger keygen NAME`)")
@click.option("--log", "logs", required=True, multiple=True,
              help="the vkey of a log to witness (its operator key; repeatable)")
@click.option("--database", default=DEFAULT_DB, show_default=True,
              help="where the witness keeps what it cosigned and the evidence of forks")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5100, show_default=True, type=int)
def serve(key_file: Path, logs: tuple[str, ...], database: str, host: str, port: int) -> None:
    """Serve POST /add-checkpoint with this witness's key."""
    signer = _key(key_file)
    try:
        keys = [parse_vkey(v) for v in logs]
    except LedgerError as exc:
        raise click.ClickException(f"--log: {exc}") from None
    app = create_witness_app(WitnessConfig(signer, {k.name: k for k in keys}), database)
    click.echo(f"witness vkey: {_vkey(signer)}")
    click.echo(f"witnessing {', '.join(k.name for k in keys)}")
    run_simple(host, port, app, threaded=True, use_reloader=False)


@witness_group.command("vkey")
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path))
def vkey(key_file: Path) -> None:
    """Print the witness's cosigning vkey (type 0x04) for logs and verifiers."""
    click.echo(_vkey(_key(key_file)))


@witness_group.command("evidence")
@click.option("--database", default=DEFAULT_DB, show_default=True)
def evidence_command(database: str) -> None:
    """Print every fork the witness refused: the checkpoint it held and what was presented."""
    engine = create_engine(database)
    WitnessBase.metadata.create_all(engine)
    with Session(engine) as session:
        found = evidence(session)
        for e in found:
            click.echo(f"== {e.origin}: {e.reason} at {e.received_ms} ms")
            click.echo("-- held:")
            click.echo(e.held.decode(), nl=False)
            click.echo("-- presented:")
            click.echo(e.presented.decode(), nl=False)
    engine.dispose()
    click.echo(f"{len(found)} fork(s) recorded", err=True)


@witness_group.command("push")
@with_appcontext
def push() -> None:
    """Ask the log's witnesses (WITNESSES) to cosign the latest checkpoint now."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not cosigning.witnesses(app):
        raise click.ClickException("no witnesses configured (WASTE_LEDGER_WITNESSES)")
    try:
        outcomes = cosigning.cosign_now(app, fresh=True)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    report(outcomes)
    if not all(o.cosigned for o in outcomes):
        raise SystemExit(1)


def report(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        click.echo(f"witness {o.witness}: size {o.size}: "
                   f"{'cosigned' if o.cosigned else 'FAILED'}: {o.detail}", err=True)


def cosign_before_export() -> None:
    """Exports write a checkpoint of the whole log: have the witnesses cosign it first (a
    witness that fails only means fewer cosignatures in the export; it is reported)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if cosigning.witnesses(app):
        report(cosigning.cosign_now(app, fresh=True))

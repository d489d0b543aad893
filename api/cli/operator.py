"""`waste-ledger operator`: the operator key — show it, and rotate it as a signed entry."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from api import runtime
from api.extensions import db
from api.instance import write_private_file, write_private_key
from ledger.errors import LedgerError
from ledger.tlog import log, registry
from ledger.tlog.notes import Signer


@click.group("operator")
def operator_group() -> None:
    """The operator key (运营方密钥) that signs registry entries and checkpoints."""


@operator_group.command("show")
@with_appcontext
def operator_show() -> None:
    """Print the operator key in force and the key of entry 0 (a verifier's trust anchor)."""
    try:
        runtime_key = runtime.log_config().operator.verifier.vkey
        log.check_operator(db.session, runtime.log_config())
        genesis = log.genesis_operator_vkey(db.session)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"in force: {runtime_key}")
    click.echo(f"entry 0:  {genesis}")


@operator_group.command("rotate")
@click.option("--new-key", "new_key", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="the new operator key: an existing key file (from `waste-ledger keygen "
                   "<log origin>`) or a path where a new one is made (mode 0600)")
@with_appcontext
def operator_rotate(new_key: Path) -> None:
    """Hand the log over to a new operator key: an operator.rotated entry signed by the key in
    force and by the new one. Stop the server first; start it again after."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    cfg = runtime.log_config(app)
    try:
        log.check_operator(db.session, cfg)
        db.session.rollback()
        new = _new_key(new_key, cfg.operator.name)
        receipt = registry.rotate_operator(db.session, cfg, new)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    retired = _install(app, cfg.operator, new, receipt.index)
    click.echo(f"operator key rotated at index {receipt.index}: {new.verifier.vkey}")
    click.echo(f"installed as {app.config['OPERATOR_KEY_FILE']}; the old key was moved to "
               f"{retired}: archive it offline or destroy it, and back up the new one")


def _new_key(path: Path, origin: str) -> Signer:
    if path.exists():
        return Signer.from_private_key_text(path.read_text())
    signer = Signer.generate(origin)
    write_private_key(path, signer)
    return signer


def _install(app: Flask, old: Signer, new: Signer, index: int) -> Path:
    """Put the new key where the server reads it, the old one beside it, both 0600.

    The entry is already in the log: from here the old key can sign nothing the log accepts.
    If this step is interrupted, the server refuses to start (key mismatch) until the new key
    file is copied to OPERATOR_KEY_FILE by hand."""
    path = Path(app.config["OPERATOR_KEY_FILE"])
    retired = path.with_name(f"{path.name}.retired-{index}")
    staged = path.with_name(f"{path.name}.new-{index}")
    write_private_file(retired, (old.private_key_text() + "\n").encode())
    write_private_key(staged, new)
    os.replace(staged, path)
    runtime.forget_log_config(app)
    return retired

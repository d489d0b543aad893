"""Operator commands: enrol organisations, their keys, permits and vehicles; people; tokens.

Registry changes are entries signed by the operator key (so they are in the log); people and
tokens are access control and live outside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask.cli import with_appcontext

from api.extensions import db
from api.runtime import log_config
from ledger.custody import access
from ledger.errors import LedgerError
from ledger.tlog import registry
from ledger.tlog.notes import parse_vkey


def _run(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("org")
def org_group() -> None:
    """Organisations (单位): register them, their keys, permits and vehicles."""


@org_group.command("add")
@click.argument("uscc")
@click.option("--name", required=True)
@click.option("--region", required=True, help="6-digit GB/T 2260 code, e.g. 331002")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["generator", "collector", "transporter", "receiver",
                                 "disposer", "regulator", "operator"]))
@click.option("--contact")
@click.option("--phone")
@with_appcontext
def org_add(uscc: str, name: str, region: str, roles: tuple[str, ...], contact: str | None,
            phone: str | None) -> None:
    """Register an organisation (signed by the operator)."""
    r = _run(lambda: registry.register_org(db.session, log_config(), uscc, name, region, roles,
                                           contact, phone))
    click.echo(f"registered {uscc} at index {r.index}")


@org_group.command("key")
@click.argument("uscc")
@click.argument("vkey")
@click.option("--label", default="device")
@with_appcontext
def org_key(uscc: str, vkey: str, label: str) -> None:
    """Register a device key (its vkey, from `waste-ledger keygen`) to an organisation."""
    r = _run(lambda: registry.register_key(db.session, log_config(), uscc, parse_vkey(vkey),
                                           label))
    click.echo(f"key registered at index {r.index}")


@org_group.command("revoke-key")
@click.argument("uscc")
@click.argument("fingerprint")
@click.option("--reason", required=True)
@with_appcontext
def org_revoke_key(uscc: str, fingerprint: str, reason: str) -> None:
    """Revoke a key: entries after this one signed with it are refused."""
    r = _run(lambda: registry.revoke_key(db.session, log_config(), uscc, fingerprint, reason))
    click.echo(f"key revoked at index {r.index}")


@org_group.command("permit")
@click.argument("uscc")
@click.option("--number", required=True)
@click.option("--valid-from", required=True)
@click.option("--valid-to", required=True)
@click.option("--code", "codes", multiple=True, required=True,
              help="waste code or HW category (repeat)")
@click.option("--activity", "activities", multiple=True, required=True,
              type=click.Choice(["collect", "store", "utilise", "dispose"]))
@click.option("--capacity-t", type=int, required=True)
@with_appcontext
def org_permit(uscc: str, number: str, valid_from: str, valid_to: str, codes: tuple[str, ...],
               activities: tuple[str, ...], capacity_t: int) -> None:
    """Record a hazardous waste business permit (危险废物经营许可证)."""
    r = _run(lambda: registry.grant_permit(db.session, log_config(), uscc, number, valid_from,
                                           valid_to, codes, activities, capacity_t))
    click.echo(f"permit recorded at index {r.index}")


@org_group.command("vehicle")
@click.argument("uscc")
@click.argument("plate")
@click.option("--transport-permit", required=True)
@with_appcontext
def org_vehicle(uscc: str, plate: str, transport_permit: str) -> None:
    """Register a vehicle with its road-transport permit."""
    r = _run(lambda: registry.register_vehicle(db.session, log_config(), uscc, plate,
                                               transport_permit))
    click.echo(f"vehicle registered at index {r.index}")


@org_group.command("facility")
@click.argument("uscc")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--type", "type_", required=True, help="贮存库, 贮存场, 贮存池 or 贮存罐区")
@click.option("--capacity-kg", type=int, required=True)
@with_appcontext
def org_facility(uscc: str, code: str, name: str, type_: str, capacity_kg: int) -> None:
    """Register a storage facility (贮存设施) with its code, type and design capacity."""
    r = _run(lambda: registry.register_facility(db.session, log_config(), uscc, code, name,
                                                type_, capacity_kg))
    click.echo(f"storage facility registered at index {r.index}")


@click.group("user")
def user_group() -> None:
    """People who log in (passwords kept as Argon2id hashes)."""


@user_group.command("add")
@click.argument("username")
@click.option("--org", required=True)
@click.option("--name", "display_name", required=True)
@click.option("--admin", is_flag=True,
              help="the organisation's admin: manages its people, devices and tokens in the pages")
@click.password_option()
@with_appcontext
def user_add(username: str, org: str, display_name: str, admin: bool, password: str) -> None:
    """Add a person who acts for an organisation."""
    _run(lambda: access.add_user(db.session, username, password, org, display_name,
                                 is_admin=admin))
    click.echo(f"user {username} added for {org}")


@user_group.command("password")
@click.argument("username")
@click.password_option()
@with_appcontext
def user_password(username: str, password: str) -> None:
    """Set a new password; every session of that person ends (log in again)."""
    _run(lambda: access.change_password(db.session, username, password))
    click.echo(f"password of {username} changed; their sessions have ended")


@user_group.command("deactivate")
@click.argument("username")
@with_appcontext
def user_deactivate(username: str) -> None:
    """Stop a person from logging in; their sessions end and their tokens are revoked."""
    _run(lambda: access.deactivate_user(db.session, username))
    click.echo(f"user {username} deactivated; sessions ended, tokens revoked")


@click.group("token")
def token_group() -> None:
    """Bearer tokens for API clients (only their hashes are stored)."""


@token_group.command("create")
@click.option("--org", required=True)
@click.option("--label", default="api")
@with_appcontext
def token_create(org: str, label: str) -> None:
    """Create a token for an organisation; it is printed once."""
    click.echo(_run(lambda: access.issue_token(db.session, org, label)))


COMMANDS = (org_group, user_group, token_group)

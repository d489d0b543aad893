"""Administration without a terminal (单位与人员管理): organisations, people, devices (signing
keys), API tokens, vehicles and permits, with the same rules and the same signed registry
entries as `waste-ledger org|user|token` (api/cli/admin.py).

Who may do what (docs/access.md, "Administration pages"):

- the **operator** registers organisations and records permits, and manages every
  organisation's people, devices, tokens and vehicles;
- an organisation's **admin** (单位管理员, ``users.is_admin``) manages its own people, devices
  (revoking a lost phone's key) and tokens, and registers its vehicles where it carries waste;
- a **regulator** reads the organisations of its region (its own people too, as an admin)
  and records their permits (not another region's: their pages are 404 to it).

Registry changes are entries signed by the operator key on the server, as key enrolment from
the pages already is: the logged-in admin asks, the operator signs, and the log names both the
change and its index. People and tokens are access control and live outside the log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import or_, select

from api.auth import page_principal
from api.errors import localised, status_for
from api.extensions import db
from api.runtime import log_config
from ledger.clock import beijing_minutes
from ledger.custody import access
from ledger.custody.codes import region_contains
from ledger.custody.principals import Principal
from ledger.custody.projections import Organisation, Permit, Vehicle
from ledger.custody.regions import region_label
from ledger.errors import InvalidInput, LedgerError, NotFound
from ledger.tlog import registry
from ledger.tlog.models import SigningKey

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: Roles an organisation can be registered with (as `waste-ledger org add --role`).
ROLES: Final = ("generator", "collector", "transporter", "receiver", "disposer", "regulator")
#: Roles that carry waste and so register vehicles (as POST /api/v1/vehicles allows).
CARRYING: Final = frozenset({"collector", "transporter", "receiver", "disposer"})
ACTIVITIES: Final = ("collect", "store", "utilise", "dispose")
#: How many organisations the list shows at once.
PAGE_SIZE: Final = 100


def role_names() -> dict[str, str]:
    return {"generator": _("产废单位"), "collector": _("收集单位"), "transporter": _("运输单位"),
            "receiver": _("接收（中转）单位"), "disposer": _("利用处置单位"),
            "regulator": _("生态环境主管部门"), "operator": _("平台运营方")}


def activity_names() -> dict[str, str]:
    return {"collect": _("收集"), "store": _("贮存"), "utilise": _("利用"), "dispose": _("处置")}


@dataclass(frozen=True)
class Powers:
    """What the logged-in person may do on one organisation's page."""

    read: bool
    people: bool  # people, devices and tokens
    vehicles: bool
    permits: bool


def powers_over(principal: Principal, org: Organisation) -> Powers:
    if principal.is_operator:
        return Powers(read=True, people=True, vehicles=True, permits=True)
    own = principal.org == org.uscc
    admin = own and access.is_org_admin(db.session, org.uscc, principal.user)
    in_region = principal.is_regulator and region_contains(principal.region, org.region)
    carries = bool(CARRYING & set(org.roles.split()))
    # A regulator records the permits of its region's units (as the API's signed
    # permit.granted allows it, and refuses outside the region: permit_out_of_region).
    return Powers(read=admin or in_region, people=admin, vehicles=admin and carries,
                  permits=in_region)


def _org_or_404(uscc: str) -> Organisation:
    org = db.session.get(Organisation, uscc)
    if org is None:
        abort(404)
    return org


def _allowed(principal: Principal, org: Organisation, power: str) -> Powers:
    """The powers over ``org``; 404 if the person may not even see it (as for no such
    organisation, so nobody can probe USCCs), 403 if they see it but may not do this."""
    powers = powers_over(principal, org)
    if not powers.read:
        abort(403 if principal.org == org.uscc else 404)
    if not getattr(powers, power):
        abort(403)
    return powers


# --- the list of organisations ---------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    principal = page_principal()
    if not (principal.is_operator or principal.is_regulator):
        if access.is_org_admin(db.session, principal.org, principal.user):
            return redirect(url_for("admin.organisation", uscc=principal.org))
        abort(403)
    return _render_index(principal)


def _render_index(principal: Principal, status: int = 200, error: str | None = None,
                  form: dict[str, Any] | None = None) -> ResponseReturnValue:
    q = request.args.get("q", "").strip()[:100]
    query = select(Organisation).order_by(Organisation.region, Organisation.name)
    if not principal.is_operator:
        query = query.where(Organisation.region.in_(_region_codes(principal.region)))
    if q:
        query = query.where(or_(Organisation.name.contains(q), Organisation.uscc.contains(q)))
    orgs = list(db.session.scalars(query.limit(PAGE_SIZE + 1)))
    return render_template("admin/index.html", orgs=orgs[:PAGE_SIZE], more=len(orgs) > PAGE_SIZE,
                           q=q, can_add=principal.is_operator, roles=ROLES,
                           role_names=role_names(), region_label=region_label, error=error,
                           form=form or {}), status


def _region_codes(region: str) -> list[str]:
    """The regions with registered organisations that lie inside ``region``."""
    codes = db.session.scalars(select(Organisation.region).distinct()).all()
    return [c for c in codes if region_contains(region, c)]


@bp.post("/organisations")
def add_organisation() -> ResponseReturnValue:
    principal = page_principal("operator")
    form = {k: request.form.get(k, "").strip() for k in ("uscc", "name", "region", "contact",
                                                          "phone")}
    roles = [r for r in request.form.getlist("roles") if r in ROLES]
    try:
        if not roles:
            raise InvalidInput("choose at least one role", code="roles_missing", field="roles")
        if not form["name"]:
            raise InvalidInput("an organisation has a name", code="name_invalid", field="name")
        receipt = registry.register_org(db.session, log_config(), form["uscc"].upper(),
                                        form["name"], form["region"], roles,
                                        form["contact"] or None, form["phone"] or None)
    except LedgerError as exc:
        db.session.rollback()
        form["roles"] = " ".join(roles)
        return _render_index(principal, status_for(exc), localised(exc), form)
    flash(_("已登记单位 %(name)s（记录号 %(index)s）", name=form["name"], index=receipt.index))
    return redirect(url_for("admin.organisation", uscc=form["uscc"].upper()))


# --- one organisation ------------------------------------------------------------------------


@bp.get("/org/<uscc>")
def organisation(uscc: str) -> ResponseReturnValue:
    principal = page_principal()
    org = _org_or_404(uscc)
    return _render_org(principal, org, _allowed(principal, org, "read"))


def _render_org(principal: Principal, org: Organisation, powers: Powers, status: int = 200,
                error: str | None = None, new_token: str | None = None) -> ResponseReturnValue:
    keys = db.session.scalars(select(SigningKey).where(SigningKey.org == org.uscc)
                              .order_by(SigningKey.registered_at.desc())).all()
    people = access.people_of(db.session, org.uscc) if powers.people else []
    tokens = access.tokens_of(db.session, org.uscc) if powers.people else []
    vehicles = db.session.scalars(select(Vehicle).where(Vehicle.org == org.uscc)
                                  .order_by(Vehicle.plate)).all()
    permits = db.session.scalars(select(Permit).where(Permit.org == org.uscc)
                                 .order_by(Permit.valid_to.desc())).all()
    return render_template(
        "admin/org.html", org=org, powers=powers, keys=keys, people=people, tokens=tokens,
        vehicles=vehicles, permits=permits, error=error, new_token=new_token,
        role_names=role_names(), activity_names=activity_names(), activities=ACTIVITIES,
        region_label=region_label, token_id=access.token_id, me=principal.user,
        beijing_minutes=beijing_minutes,
        form={k: request.form.get(k, "") for k in request.form} if error else {},
    ), status


def _act(uscc: str, power: str, action: Any, done: str) -> ResponseReturnValue:
    """Run ``action(org)`` for a form on an organisation's page: on success flash ``done`` and
    go back to the page (so a reload does not repeat it); on a refusal show the page again with
    the reason and the status, having changed nothing."""
    principal = page_principal()
    org = _org_or_404(uscc)
    powers = _allowed(principal, org, power)
    try:
        result = action(org)
    except LedgerError as exc:
        db.session.rollback()
        return _render_org(principal, org, powers, status_for(exc), localised(exc))
    flash(done.format(result=result) if result is not None else done)
    return redirect(url_for("admin.organisation", uscc=uscc) + f"#{power}")


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _field(name: str, limit: int = 200) -> str:
    value = request.form.get(name, "").strip()
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters", code="field_too_long",
                           field=name)
    return value


# --- people ------------------------------------------------------------------------------------


@bp.post("/org/<uscc>/people")
def add_person(uscc: str) -> ResponseReturnValue:
    def add(org: Organisation) -> None:
        access.add_user(db.session, _field("username", 64), request.form.get("password", ""),
                        org.uscc, _field("display_name", 100),
                        is_admin=request.form.get("is_admin") == "1")
    return _act(uscc, "people", add, _("已添加人员，请把用户名和初始密码当面告诉本人"))


def _person(org: Organisation, username: str) -> access.User:
    return access.user_of(db.session, org.uscc, username)


@bp.post("/org/<uscc>/people/<username>/password")
def reset_password(uscc: str, username: str) -> ResponseReturnValue:
    def reset(org: Organisation) -> None:
        access.change_password(db.session, _person(org, username).username,
                               request.form.get("password", ""))
    return _act(uscc, "people", reset, _("密码已重设，此人在各设备上的登录已全部退出"))


@bp.post("/org/<uscc>/people/<username>/deactivate")
def deactivate_person(uscc: str, username: str) -> ResponseReturnValue:
    def stop(org: Organisation) -> None:
        person = _person(org, username)
        if person.username == page_principal().user:
            raise InvalidInput("you cannot deactivate yourself", code="user_self",
                               field="username")
        access.deactivate_user(db.session, person.username)
    return _act(uscc, "people", stop, _("已停用：此人不能再登录，其登录和 API 令牌已失效"))


@bp.post("/org/<uscc>/people/<username>/activate")
def activate_person(uscc: str, username: str) -> ResponseReturnValue:
    def start(org: Organisation) -> None:
        access.reactivate_user(db.session, _person(org, username).username)
    return _act(uscc, "people", start, _("已恢复，此人可以重新登录"))


@bp.post("/org/<uscc>/people/<username>/admin")
def set_admin(uscc: str, username: str) -> ResponseReturnValue:
    def change(org: Organisation) -> None:
        person = _person(org, username)
        admin = request.form.get("admin") == "1"
        if person.username == page_principal().user and not admin:
            raise InvalidInput("you cannot remove your own admin rights", code="user_self",
                               field="username")
        access.set_admin(db.session, person.username, admin)
    return _act(uscc, "people", change, _("已更改管理员权限"))


# --- devices (signing keys) -------------------------------------------------------------------


@bp.post("/org/<uscc>/keys/<fingerprint>/revoke")
def revoke_key(uscc: str, fingerprint: str) -> ResponseReturnValue:
    def revoke(org: Organisation) -> int:
        key = db.session.get(SigningKey, fingerprint.lower())
        if key is None or key.org != org.uscc:
            raise NotFound(f"no key {fingerprint} of {org.uscc}", code="key_unknown",
                           field="fingerprint")
        reason = _field("reason") or "设备丢失或停用"
        return registry.revoke_key(db.session, log_config(), org.uscc, key.fingerprint,
                                   reason).index
    return _act(uscc, "people", revoke,
                _("已注销该设备的签名密钥（记录号 {result}）：此后它签的记录一律拒收"))


# --- API tokens ---------------------------------------------------------------------------------


@bp.post("/org/<uscc>/tokens")
def create_token(uscc: str) -> ResponseReturnValue:
    principal = page_principal()
    org = _org_or_404(uscc)
    powers = _allowed(principal, org, "people")
    try:
        label = _field("label", 100)
        if not label:
            raise InvalidInput("say what the token is for", code="label_missing", field="label")
        token = access.issue_token(db.session, org.uscc, label)
    except LedgerError as exc:
        db.session.rollback()
        return _render_org(principal, org, powers, status_for(exc), localised(exc))
    # Shown once, on this answer only: it is stored as a hash. Not cached anywhere.
    return _render_org(principal, org, powers, 201, new_token=token)


@bp.post("/org/<uscc>/tokens/<ident>/revoke")
def revoke_token(uscc: str, ident: str) -> ResponseReturnValue:
    def revoke(org: Organisation) -> None:
        access.revoke_token(db.session, org.uscc, ident)
    return _act(uscc, "people", revoke, _("已吊销该 API 令牌"))


# --- vehicles and permits ---------------------------------------------------------------------


@bp.post("/org/<uscc>/vehicles")
def add_vehicle(uscc: str) -> ResponseReturnValue:
    def add(org: Organisation) -> int:
        return registry.register_vehicle(db.session, log_config(), org.uscc,
                                         _field("plate", 20).upper(),
                                         _field("transport_permit", 64)).index
    return _act(uscc, "vehicles", add, _("已登记车辆（记录号 {result}）"))


@bp.post("/org/<uscc>/permits")
def add_permit(uscc: str) -> ResponseReturnValue:
    def grant(org: Organisation) -> int:
        codes = tuple(_field("codes", 2000).replace(",", " ").replace("，", " ").split())
        activities = tuple(a for a in request.form.getlist("activities") if a in ACTIVITIES)
        capacity = _field("capacity_t", 12)
        if not capacity.isdigit():
            raise InvalidInput("capacity is a whole number of tonnes", code="capacity_invalid",
                               field="capacity_t")
        number, valid_from, valid_to = (_field("number", 64), _field("valid_from", 10),
                                        _field("valid_to", 10))
        # said in the person's words before the registry's own check (date_invalid, which
        # the API keeps) would name the format
        if not number:
            raise InvalidInput("the permit number is missing", code="permit_number_missing",
                               field="number")
        if _is_date(valid_from) and _is_date(valid_to) and valid_to < valid_from:
            raise InvalidInput("valid_to is before valid_from", code="validity_reversed",
                               field="valid_to")
        return registry.grant_permit(db.session, log_config(), org.uscc, number, valid_from,
                                     valid_to, codes, activities, int(capacity)).index
    return _act(uscc, "permits", grant, _("已记录经营许可证（记录号 {result}）"))

"""Pages for people (server-rendered; thin views): the landing page, log-in, and the public
trace page a label's QR code opens. Each role's workspace has its own module."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import func, select

from api.auth import current_principal, log_in_session, log_out_session
from api.demo.seed import DEMO_PASSWORD, demo_logins
from api.extensions import db
from api.i18n import safe_next
from api.ratelimit import login_limits
from api.runtime import log_config
from labels.render import pictogram_svg
from ledger.audit.queries import public_trace
from ledger.custody.access import check_password
from ledger.custody.codes import format_batch_code_groups, parse_batch_code
from ledger.custody.principals import Principal
from ledger.errors import LedgerError, TooManyAttempts
from ledger.tlog.models import LogEntry

bp = Blueprint("pages", __name__)


def workspace_for(principal: Principal) -> str:
    """Where a person lands after logging in: the workspace of their organisation's role."""
    if principal.is_regulator or principal.is_operator:
        return url_for("regulator.dashboard")
    if "generator" in principal.roles and len(principal.roles) == 1:
        return url_for("generator.batches")
    return url_for("collector.round")


@bp.get("/")
def home() -> ResponseReturnValue:
    principal = current_principal(required=False)
    if principal is not None:
        return redirect(workspace_for(principal))
    size = db.session.scalar(select(func.count()).select_from(LogEntry)) or 0
    return render_template("home.html", size=size)


@bp.get("/trace")
def trace_lookup() -> ResponseReturnValue:
    """The landing page's "look up a code" form: accepts the code with spaces or the URL."""
    raw = request.args.get("code", "")
    code = raw.strip().rsplit("/", 1)[-1].replace(" ", "").upper()
    return redirect(url_for("pages.trace", code=code or "-"))


@bp.get("/t/<code>")
def trace(code: str) -> ResponseReturnValue:
    """The public page a label's QR code opens (no login)."""
    parsed = parse_batch_code(code, hazardous_only=False).text
    info = public_trace(db.session, parsed, log_config().operator.verifier)
    return render_template("trace.html", t=info, groups=format_batch_code_groups(parsed))


@bp.get("/hazard/<any(T, C, I, R, In):letter>.svg")
def pictogram(letter: str) -> ResponseReturnValue:
    """A hazard pictogram (the same drawing as on the labels)."""
    resp = Response(pictogram_svg(letter), mimetype="image/svg+xml")
    resp.cache_control.public = True
    resp.cache_control.max_age = 86400
    return resp


@bp.route("/login", methods=["GET", "POST"])
@login_limits
def login() -> ResponseReturnValue:
    error, status = None, 200
    username = request.form.get("username", "").strip()
    if request.method == "POST":
        try:
            user = check_password(db.session, username, request.form.get("password", ""))
        except TooManyAttempts:
            error, status = _("登录尝试过于频繁，请稍后再试"), 429
        except LedgerError:
            error, status = _("用户名或密码错误"), 401
        else:
            log_in_session(user)  # a fresh session at the change of privilege
            principal = current_principal(required=True)
            assert principal is not None
            return redirect(safe_next(request.args.get("next"), workspace_for(principal)))
    return render_template("account/login.html", error=error, username=username,
                           **_demo_logins()), status


def _demo_logins() -> dict[str, Any]:
    """The demo log-ins, shown on the log-in page of a demo installation only."""
    if not current_app.config.get("SHOW_DEMO_LOGINS", True):
        return {"demo_accounts": []}
    return {"demo_accounts": demo_logins(current_app), "demo_password": DEMO_PASSWORD}


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    log_out_session()
    return redirect(url_for("pages.home"))

"""What all pages share: languages, CSRF and headers, the logged-in person in templates, and
the blueprints of each kind of user's workspace."""

from __future__ import annotations

from typing import Any

from flask import Flask

from api import i18n
from api import security as web_security
from api.auth import current_principal
from api.extensions import db
from api.pages import admin as pages_admin
from api.pages import collector as pages_collector
from api.pages import generator as pages_generator
from api.pages import notifications as pages_notifications
from api.pages import plans as pages_plans
from api.pages import public as pages
from api.pages import rectify as pages_rectify
from api.pages import regulator as pages_regulator
from ledger.clock import beijing_today
from ledger.custody import access
from ledger.custody.pickups import RECEIVING_ROLES
from ledger.errors import LedgerError


def template_context() -> dict[str, Any]:
    try:
        principal = current_principal(required=False)
    except LedgerError:  # a bad bearer header on a page: treat as not logged in
        principal = None
    can_receive = principal is not None and bool(principal.roles & RECEIVING_ROLES)
    can_admin = principal is not None and (
        principal.is_operator or principal.is_regulator
        or access.is_org_admin(db.session, principal.org, principal.user))
    # the person logged in, whose name the pages put in every entry they sign (经办人)
    handled_by = None if principal is None or principal.user is None else access.display_name(
        db.session, principal.user)
    return {"principal": principal, "can_receive": can_receive, "can_admin": can_admin,
            "unread_count": pages_notifications.unread_for_page(principal),
            "handled_by": handled_by, "today_iso": beijing_today().isoformat()}


def init_app(app: Flask) -> None:
    i18n.init_app(app)
    web_security.init_app(app)
    app.context_processor(template_context)
    for bp in (pages.bp, pages_notifications.bp, pages_generator.bp, pages_collector.bp,
               pages_regulator.bp, pages_rectify.bp, pages_admin.bp, pages_plans.bp):
        app.register_blueprint(bp)

"""What all pages share: languages, CSRF and headers, the logged-in person in templates, and
the blueprints of each kind of user's workspace."""

from __future__ import annotations

from typing import Any

from flask import Flask

from ledger.errors import LedgerError
from ledger.pickups import RECEIVING_ROLES

from . import i18n, web_security
from .auth import current_principal


def template_context() -> dict[str, Any]:
    try:
        principal = current_principal(required=False)
    except LedgerError:  # a bad bearer header on a page: treat as not logged in
        principal = None
    can_receive = principal is not None and bool(principal.roles & RECEIVING_ROLES)
    return {"principal": principal, "can_receive": can_receive}


def init_app(app: Flask) -> None:
    from . import pages, pages_collector, pages_generator, pages_regulator

    i18n.init_app(app)
    web_security.init_app(app)
    app.context_processor(template_context)
    for bp in (pages.bp, pages_generator.bp, pages_collector.bp, pages_regulator.bp):
        app.register_blueprint(bp)

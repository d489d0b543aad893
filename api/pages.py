"""Pages for people (server-rendered; thin views)."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from ledger.codes import format_batch_code_groups, parse_batch_code
from ledger.models import LogEntry
from ledger.queries import public_trace

from .extensions import db
from .runtime import log_config

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    size = db.session.scalar(select(func.count()).select_from(LogEntry)) or 0
    return render_template("home.html", size=size)


@bp.get("/t/<code>")
def trace(code: str):  # type: ignore[no-untyped-def]
    """The public page a label's QR code opens (no login)."""
    parsed = parse_batch_code(code, hazardous_only=False).text
    info = public_trace(db.session, parsed, log_config().operator.verifier)
    return render_template("trace.html", t=info, groups=format_batch_code_groups(parsed))

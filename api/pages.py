"""Pages for people (server-rendered; thin views)."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from ledger.models import LogEntry

from .extensions import db

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    size = db.session.scalar(select(func.count()).select_from(LogEntry)) or 0
    return render_template("home.html", size=size)

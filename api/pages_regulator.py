"""The regulator's workspace (生态环境主管部门): mass balance, gaps, batch timelines with
proofs, exports, and verifying an uploaded export or checkpoint."""

from __future__ import annotations

from flask import Blueprint, render_template

from .auth import page_principal

bp = Blueprint("regulator", __name__, url_prefix="/regulator")


@bp.get("/")
def dashboard():  # type: ignore[no-untyped-def]
    page_principal("regulator", "operator")
    return render_template("regulator/dashboard.html")


@bp.get("/gaps")
def gaps():  # type: ignore[no-untyped-def]
    page_principal("regulator", "operator")
    return render_template("regulator/dashboard.html")


@bp.get("/verify")
def verify():  # type: ignore[no-untyped-def]
    page_principal("regulator", "operator")
    return render_template("regulator/dashboard.html")

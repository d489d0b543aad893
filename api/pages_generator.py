"""The generator's workspace (产废单位): declare batches, list them, print labels, request a
pickup, sign releases in the browser."""

from __future__ import annotations

from flask import Blueprint, render_template

from .auth import page_principal

bp = Blueprint("generator", __name__, url_prefix="/generator")


@bp.get("/")
def batches():  # type: ignore[no-untyped-def]
    page_principal("generator")
    return render_template("generator/batches.html")


@bp.get("/declare")
def declare():  # type: ignore[no-untyped-def]
    page_principal("generator")
    return render_template("generator/batches.html")

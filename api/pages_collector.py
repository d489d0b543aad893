"""The workspace of those who receive waste (收集、运输、中转、利用处置): the pickup round,
the scanning page (camera or typed code), signing in the browser, offline queue."""

from __future__ import annotations

from flask import Blueprint, render_template

from ledger.pickups import RECEIVING_ROLES

from .auth import page_principal

bp = Blueprint("collector", __name__, url_prefix="/collector")


@bp.get("/")
def round():  # type: ignore[no-untyped-def]  # noqa: A001 - the driver's "round"
    page_principal(*RECEIVING_ROLES)
    return render_template("collector/round.html")


@bp.get("/scan")
def scan():  # type: ignore[no-untyped-def]
    page_principal(*RECEIVING_ROLES)
    return render_template("collector/round.html")

"""我的整改: the rectification items assigned to the logged-in unit (any organisation that is
not a regulator): the deadline, what is asked, why a report came back, and a form to answer
with photos (the phone's camera) and documents, signed on the device (api/static/js/cases/)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from api.auth import page_principal
from api.extensions import db
from api.pages.regulator import CASE_STATE_LABELS, _case_messages
from ledger.audit.cases import (
    ALLOWED_FROM,
    CLOSED,
    CaseFilters,
    case_history,
    list_cases,
    overdue,
)
from ledger.audit.models import CaseEvidence
from ledger.clock import beijing_minutes, beijing_today

bp = Blueprint("rectify", __name__, url_prefix="/rectify")

#: The state of an item in the words the unit reads (what it has to do next).
MY_STATE: dict[str, Any] = {
    "assigned": _l("请整改并报送"), "returned": _l("被退回，请重新整改"),
    "responded": _l("已报送，等待验收"), "accepted": _l("验收通过，等待销号"),
    "closed": _l("已销号"), "reopened": _l("重新打开"), "opened": _l("已立案"),
}


@bp.get("/")
def items() -> ResponseReturnValue:
    """The cases assigned to this unit, the nearest deadline first; open ones on top."""
    principal = page_principal()
    found = [c for c in list_cases(db.session, principal,
                                   CaseFilters(organisation=principal.org))
             if c.assignee == principal.org]
    today = beijing_today().isoformat()
    rows = []
    for c in sorted(found, key=lambda c: c.state == CLOSED):
        steps = case_history(db.session, c.id)
        returned = next((s.data.get("reasons") for s in reversed(steps)
                         if s.kind == "case.reviewed" and s.data.get("result") == "returned"),
                        None)
        files = db.session.scalars(select(CaseEvidence).where(
            CaseEvidence.case_id == c.id, CaseEvidence.uploaded_by == principal.org)).all()
        rows.append({"case": c, "state": MY_STATE.get(c.state, CASE_STATE_LABELS[c.state]),
                     "overdue": overdue(c, today),
                     "answerable": c.state in ALLOWED_FROM["case.responded"],
                     "returned": returned if c.state == "returned" else None,
                     "assigned_on": next((beijing_minutes(s.t_ms)[:10] for s in reversed(steps)
                                          if s.kind == "case.assigned"), ""),
                     "files": files})
    return render_template("rectify/items.html", rows=rows,
                           open_count=sum(1 for r in rows if r["answerable"]),
                           js_messages=_case_messages(principal),
                           limit_mb=int(current_app.config["CASE_EVIDENCE_MAX_BYTES"])
                           // (1024 * 1024))

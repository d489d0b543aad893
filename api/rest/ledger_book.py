"""An organisation's statutory ledger (管理台账, HJ 1259-2022) for a period over HTTP: XLSX (one
sheet per record table) or one table as CSV, Chinese headers, kg, Beijing time.

The organisation itself, a regulator whose region contains it, and the operator may ask
(403 otherwise). The tables are built by ``ledger.audit.ledger_book`` and written by
``api.exports``, as the pages do.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final
from urllib.parse import quote

from flask import Response
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session

from api.auth import require_principal
from api.exports import ledger_book_csv, ledger_book_filename, ledger_book_xlsx
from api.rest import schemas as s
from api.runtime import reports_session
from ledger.audit.ledger_book import KINDS, LedgerBook, build_ledger_book, table_names
from ledger.audit.reconcile import EARLIEST_DAY, LATEST_DAY
from ledger.clock import beijing_day_start_ms
from ledger.custody.codes import region_contains
from ledger.custody.principals import Principal
from ledger.custody.projections import Organisation
from ledger.errors import InvalidInput, NotFound, PermissionDenied

blp = Blueprint("ledger_book", __name__, url_prefix="/api/v1",
                description="The statutory ledger (管理台账) of an organisation")

MIMETYPES: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
MAX_DAYS: Final = 3 * 366


class LedgerBookQuerySchema(Schema):
    period_from = fields.Date(required=True, data_key="from",
                              validate=validate.Range(min=EARLIEST_DAY, max=LATEST_DAY),
                              metadata={"description": "first day, Beijing time"})
    period_to = fields.Date(required=True, data_key="to",
                            validate=validate.Range(min=EARLIEST_DAY, max=LATEST_DAY),
                            metadata={"description": "last day (inclusive), Beijing time"})
    kind = fields.String(load_default="hazardous", validate=validate.OneOf(KINDS),
                         metadata={"description": "hazardous (危险废物, HJ 1259-2022) or general "
                                                  "(一般工业固体废物)"})
    format = fields.String(load_default="xlsx", validate=validate.OneOf(sorted(MIMETYPES)),
                           metadata={"description": "xlsx: every record table, one sheet each; "
                                                    "csv: the table named by `table`"})
    table = fields.String(load_default="产生", validate=validate.OneOf(table_names()),
                          metadata={"description": "for csv: 产生, 入库, 出库, 转移, 接收 or "
                                                   "利用处置"})


def may_read_ledger(session: Session, principal: Principal, uscc: str) -> Organisation:
    """The organisation whose 台账 ``principal`` may read: its own, or within a regulator's
    region, or any for the operator."""
    org = session.get(Organisation, uscc)
    if org is None:
        raise NotFound(f"organisation {uscc} is not registered", code="org_unknown",
                       field="uscc")
    if principal.org == uscc or principal.is_operator or (
            principal.is_regulator and region_contains(principal.region, org.region)):
        return org
    raise PermissionDenied("the 台账 of another organisation", code="not_visible",
                           field="uscc")


def book_for(session: Session, principal: Principal, uscc: str, first: dt.date,
             last: dt.date, kind: str) -> LedgerBook:
    """Check access and the period, then build the book."""
    may_read_ledger(session, principal, uscc)
    if last < first or (last - first).days > MAX_DAYS:
        raise InvalidInput(f"the period runs from `from` to `to`, at most {MAX_DAYS} days",
                           code="period_invalid", field="to")
    return build_ledger_book(session, uscc, beijing_day_start_ms(first),
                             beijing_day_start_ms(last + dt.timedelta(days=1)), kind)


def book_file(book: LedgerBook, fmt: str, table: str) -> Response:
    if fmt == "csv":
        body, name = ledger_book_csv(book, table), ledger_book_filename(book, "csv", table)
    else:
        body, name = ledger_book_xlsx(book), ledger_book_filename(book, "xlsx")
    resp = Response(body, mimetype=MIMETYPES[fmt])
    # the name is Chinese: RFC 6266 filename* (UTF-8), with an ASCII fallback
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")
    resp.headers["Content-Disposition"] = (f'attachment; filename="{fallback}"; '
                                           f"filename*=UTF-8''{quote(name)}")
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp


@blp.route("/organisations/<uscc>/ledger", methods=["GET"])
@s.authenticated(blp)
@blp.arguments(LedgerBookQuerySchema, location="query")
@blp.doc(
    summary="The organisation's 管理台账 for a period (HJ 1259-2022), XLSX or CSV",
    description="One row per signed entry: 产生, 入库, 出库, 转移, 接收, 利用处置, with the "
                "经办人 (data.handled_by) of each; kg; Beijing time. kind=general gives the "
                "一般工业固体废物 台账. The organisation itself, a regulator of its region, or the "
                "operator.",
    responses={"200": {"description": "the 台账", "content": {
        MIMETYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
        MIMETYPES["csv"]: {"schema": {"type": "string"}}}}})
@s.documented_errors(blp, 403, 404, 422)
def get_ledger_book(args: dict[str, Any], uscc: str) -> Any:
    book = book_for(reports_session(), require_principal(), uscc, args["period_from"],
                    args["period_to"], args["kind"])
    return book_file(book, args["format"], args["table"])


def register(api: Api) -> None:
    api.register_blueprint(blp)

"""The generator's helper endpoint: the next free batch code (数字识别码) for a waste and a day.

A batch code is the unit's USCC, the 8-digit waste code, the day ``YYYYMMDD`` and a 3-digit
serial. The serial is "next free" for (organisation, waste code, day): above every batch already
declared under that prefix and above every serial this process handed out recently, so two tabs
that ask at once get different codes. The ledger is still the authority — a code reused by
another process is refused on append with ``batch_exists``, and the page then asks again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from flask_babel import gettext as _
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields, validate

from api.auth import require_principal
from api.extensions import db
from api.rest import schemas as s
from ledger.clock import beijing_today
from ledger.custody import editions
from ledger.custody.catalogue import compact_waste_code, normalise_waste_code
from ledger.custody.reference import general_codes
from ledger.custody.serials import reserve_codes
from ledger.errors import InvalidInput, LedgerError

blp = Blueprint("generator_api", __name__, url_prefix="/api/v1",
                description="Helpers for generators (产废单位)")

#: Batch dates follow the Chinese calendar day of the workshop, not UTC.
#: How long a serial handed out stays reserved for the tab that asked (then it may be reused
#: if nothing was declared with it).
RESERVE_SECONDS: Final = 15 * 60
MAX_SERIAL: Final = 999
#: The most containers one declaration issues codes for at once (one code per container).
MAX_CONTAINERS: Final = 100


class NextCodeQuerySchema(Schema):
    # The patterns are documented, and checked by the view itself so that the error names the
    # problem (waste_code_missing, generated_on_future …) instead of a generic 422.
    waste_code = fields.String(required=True, metadata={
        "pattern": s.WASTE_CODE_PATTERN,
        "description": "waste code, 900-039-49 or 90003949, in the catalogue edition in "
                       "force on generated_on, or 900-000-×× (found hazardous by "
                       "identification)"})
    generated_on = fields.String(required=True, metadata={
        "format": "date",
        "description": "the day the waste was generated, YYYY-MM-DD (Beijing time), not later "
                       "than today"})
    hazardous = fields.Boolean(load_default=True, metadata={
        "description": "false for general industrial solid waste (一般工业固体废物): a code "
                       "NNN-NNN-NN (or NNN-NNN-SNN) that no loaded catalogue lists, and, once "
                       "the official list is loaded, one of its codes"})
    count = fields.Integer(load_default=1, validate=validate.Range(1, MAX_CONTAINERS), metadata={
        "description": "how many containers are declared together: one code per container "
                       "(HJ 1276-2022), consecutive serials, all held for the caller"})


class NextCodeSchema(Schema):
    code = fields.String(metadata={"description": "the 37-character batch code"})
    serial = fields.Integer()
    waste_code = fields.String(metadata={"description": "hyphenated, e.g. 900-039-49"})
    generated_on = fields.String()
    codes = fields.List(fields.String(), metadata={
        "description": "one code per container asked for (``count``), the first being ``code``"})


def parse_generated_on(value: str) -> dt.date:
    """A ``YYYY-MM-DD`` date that is not in the future (Beijing time)."""
    try:
        if len(value) != 10:
            raise ValueError(value)
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(_("产生日期应为 YYYY-MM-DD 格式的日期"), code="generated_on_invalid",
                           field="generated_on") from None
    if day > beijing_today():
        raise InvalidInput(_("产生日期不能晚于今天"), code="generated_on_future",
                           field="generated_on")
    return day


def catalogue_code(value: str, day: dt.date) -> str:
    """The hyphenated waste code, which must be in the edition of the national catalogue in
    force on ``day`` (or be 900-000-××, found hazardous by identification)."""
    if not value.strip():
        raise InvalidInput(_("请选择废物代码"), code="waste_code_missing", field="waste_code")
    try:
        edition = editions.edition_for(db.session, day.isoformat()).edition
        return editions.waste_entry(editions.catalogue(db.session, edition), value.strip()).code
    except LedgerError as exc:  # malformed or unknown: keep the code, name the field
        raise InvalidInput(exc.message, code=exc.code, field="waste_code") from None


def general_code(value: str) -> str:
    """A general industrial solid waste code as the batch code keeps it (900-001-17): not
    listed as hazardous, and in the loaded list of general codes once there is one."""
    text = value.strip().upper().replace("-S", "-")
    try:
        code = normalise_waste_code(text)
    except LedgerError as exc:
        raise InvalidInput(exc.message, code=exc.code, field="waste_code") from None
    if any(editions.catalogue(db.session, e.edition).is_hazardous(code)
           for e in editions.editions(db.session)):
        raise InvalidInput(_("名录中的危险废物不能按一般工业固体废物申报"),
                           code="hazardous_code_as_general", field="waste_code")
    listed = general_codes(db.session)
    if listed is not None and code not in listed:
        raise InvalidInput(_("不在已载入的一般工业固体废物代码表中"),
                           code="general_code_unknown", field="waste_code")
    return code


def next_batch_code(org: str, waste_code: str, day: dt.date,
                    count: int = 1) -> dict[str, Any]:
    """The next free batch codes (``count`` of them, one per container) for ``org``'s
    ``waste_code`` on ``day``, reserved briefly."""
    prefix = f"{org}{compact_waste_code(waste_code)}{day:%Y%m%d}"
    codes = reserve_codes(db.session, prefix, org, count)
    return {"code": codes[0], "serial": int(codes[0][-3:]), "waste_code": waste_code,
            "generated_on": day.isoformat(), "codes": codes}


@blp.route("/batches/next-code", methods=["GET"])
@s.authenticated(blp, "generator")
@blp.arguments(NextCodeQuerySchema, location="query")
@blp.response(200, NextCodeSchema)
@blp.doc(summary="The next free batch code for your organisation, a waste code and a day",
         description="For generators. The serial is above every batch already declared with "
                     "that waste code and day and is held for 15 minutes for the caller, so "
                     "two devices asking at once get different codes. If the ledger still "
                     "answers batch_exists on declaring, ask again. With count=N (containers "
                     "declared together), N codes: sign one batch.declared per container, "
                     "each with container.count 1 and the same data.lot "
                     "({ref: the first code, no: n, of: N}).")
@s.documented_errors(blp, 409, 422)
def get_next_code(args: dict[str, Any]) -> Any:  # serialised by the response schema
    principal = require_principal()  # a generator: see @authenticated
    day = parse_generated_on(args["generated_on"])
    waste_code = (catalogue_code(args["waste_code"], day) if args["hazardous"]
                  else general_code(args["waste_code"]))
    return next_batch_code(principal.org, waste_code, day, args["count"])


def register(api: Api) -> None:
    """Add the generator's endpoints to the app's ``Api`` (see ``api.rest.v1.init_app``)."""
    api.register_blueprint(blp)

"""The declare form's waste-code finder (申报批次): everyday names, the region's common wastes
and the codes this organisation declared before first, with the true total and pages.
A thin view over ``ledger.custody.waste_help``."""

from __future__ import annotations

from typing import Any

from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields, validate

from api.auth import require_principal
from api.extensions import db
from api.rest import schemas as s
from ledger.clock import beijing_today
from ledger.custody import editions, waste_help

blp = Blueprint("declare_help", __name__, url_prefix="/api/v1",
                description="Finding the waste code to declare")


class SuggestQuerySchema(Schema):
    q = fields.String(load_default="", validate=validate.Length(max=100), metadata={
        "description": "name, everyday name (废机油), code or category; empty: the codes "
                       "declared before and the region's common ones"})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000))
    limit = fields.Integer(load_default=12, validate=validate.Range(min=1, max=50))


class SuggestionSchema(Schema):
    code = fields.String(required=True)
    category = fields.String(required=True)
    category_name = fields.String(required=True)
    industry = fields.String(required=True)
    description = fields.String(required=True)
    hazards = fields.List(fields.String(), required=True)
    name = fields.String(required=True, metadata={"description": "the name to fill in"})
    why = fields.String(required=True, metadata={"description": "why it is offered"})
    synonym = fields.String(required=True, allow_none=True)


class SuggestionsSchema(Schema):
    edition = fields.String(required=True)
    total = fields.Integer(required=True, metadata={"description": "every match"})
    offset = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    items = fields.List(fields.Nested(SuggestionSchema), required=True)


@blp.route("/catalogue/suggest", methods=["GET"])
@s.authenticated(blp)
@blp.arguments(SuggestQuerySchema, location="query")
@s.documented_ok(blp, SuggestionsSchema)
@blp.doc(summary="Waste codes for a declaration, ranked for your organisation",
         description="Codes you declared before first, then your region's common wastes, then "
                     "matches of an everyday name (data/declare/synonyms.csv), then the "
                     "catalogue's own ranking. `total` counts every match; page with offset.")
@s.documented_errors(blp, 422)
def get_suggestions(args: dict[str, Any]) -> Any:  # plain JSON
    principal = require_principal()
    # The edition in force today among those loaded (a 2025 table once the operator loads it).
    cat = editions.catalogue(db.session,
                             editions.edition_for(db.session, beijing_today().isoformat()).edition)
    found = waste_help.suggest(
        cat, args["q"], region=principal.region,
        previous=waste_help.declared_codes(db.session, principal.org),
        offset=args["offset"], limit=args["limit"])
    return {"edition": cat.edition, "total": found.total, "offset": found.offset,
            "limit": found.limit, "items": [
                {"code": x.entry.code, "category": x.entry.category,
                 "category_name": cat.category(x.entry.category).name,
                 "industry": x.entry.industry, "description": x.entry.description,
                 "hazards": list(x.entry.hazards), "name": x.name, "why": x.why,
                 "synonym": x.synonym} for x in found.items]}


def register(api: Api) -> None:
    api.register_blueprint(blp)

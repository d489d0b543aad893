"""The national hazardous waste catalogue (国家危险废物名录) over HTTP, editions side by side."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.rest import schemas as s
from api.rest.generator import parse_generated_on
from ledger.clock import beijing_today
from ledger.custody import editions
from ledger.custody.catalogue import is_identified_code

catalogue_blp = Blueprint("catalogue", __name__, url_prefix="/api/v1",
                          description="国家危险废物名录 (editions side by side)")


# --- catalogue and auth --------------------------------------------------------------------


def _waste_json(cat: Any, w: Any) -> dict[str, Any]:
    return {"code": w.code, "category": w.category,
            "category_name": cat.category(w.category).name, "industry": w.industry,
            "description": w.description, "hazards": list(w.hazards), "edition": w.edition,
            "identified": is_identified_code(w.code)}


def _edition_of(args: dict[str, Any]) -> Any:
    """The edition asked for, else the one that applies to ``generated_on`` (default today)."""
    if args.get("edition"):
        return editions.catalogue(db.session, args["edition"])
    day = parse_generated_on(args["generated_on"]) if args.get("generated_on") else (
        beijing_today())
    return editions.catalogue(db.session, editions.edition_for(db.session, day.isoformat())
                              .edition)


@catalogue_blp.route("/catalogue", methods=["GET"])
@catalogue_blp.arguments(s.CatalogueQuerySchema, location="query")
@s.documented_ok(catalogue_blp, s.CatalogueSchema)
@catalogue_blp.doc(summary="Search the catalogue by code, category or Chinese text",
                   description="In the edition asked for, else the edition that applies to "
                               "waste generated on generated_on (default: today, Beijing "
                               "time). The answer names the edition.")
@s.documented_errors(catalogue_blp, 404, 422)
@s.public(catalogue_blp)
def get_catalogue(args: dict[str, Any]) -> Any:  # serialised by the response schema
    cat = _edition_of(args)
    if args["q"].strip():
        items = cat.search(args["q"], limit=args["limit"])
    else:
        items = list(cat.codes(args.get("category")))[: args["limit"]]
    return {"edition": cat.edition, "items": [_waste_json(cat, w) for w in items]}


@catalogue_blp.route("/catalogue/editions", methods=["GET"])
@s.documented_ok(catalogue_blp, s.EditionsSchema)
@catalogue_blp.doc(summary="The loaded editions, and whether the edition in force is one")
@s.public(catalogue_blp)
def get_editions() -> Any:  # serialised by the response schema
    now = editions.in_force(db.session, beijing_today())
    return {"editions": [{"edition": e.edition, "effective_from": e.effective_from,
                          "origin": e.origin, "order": e.order}
                         for e in editions.editions(db.session)],
            "in_force": {"edition": now.edition, "effective_from": now.effective_from,
                         "order": now.order, "loaded": now.loaded, "used": now.used,
                         "import_command": None if now.loaded else now.import_command}}


@catalogue_blp.route("/catalogue/<code>", methods=["GET"])
@catalogue_blp.arguments(s.CatalogueEditionQuerySchema, location="query")
@catalogue_blp.arguments(s.WasteCodePathSchema, location="path")
@s.documented_ok(catalogue_blp, s.WasteCodeSchema)
@catalogue_blp.doc(summary="One waste code (900-039-49 or 90003949) of the catalogue edition "
                           "asked for or in force")
@s.documented_errors(catalogue_blp, 404, 422)
@s.public(catalogue_blp)
def get_waste_code(args: dict[str, Any], _path: dict[str, Any],
                   code: str) -> Any:  # serialised by the response schema
    cat = _edition_of(args)
    return _waste_json(cat, editions.waste_entry(cat, code))

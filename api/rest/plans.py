"""Plans (管理计划) and declarations (申报登记) over HTTP: a plan drafted from last year's
ledger, a declaration pre-filled from the ledger, the lists and one of each with its signed
entries, what is owed, and the regulators' roster (应纳尽纳). Filing and amending are signed
entries and go through ``POST /api/v1/drafts/<kind>`` and ``POST /api/v1/entries``;
docs/plans.md."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields, validate

from api.auth import require_principal
from api.exports import entry_json
from api.extensions import db
from api.rest import schemas as s
from api.scoping import plan_settings, regulator_region
from ledger.audit.models import Declaration, Plan
from ledger.audit.plans import (
    FREQUENCY,
    draft_plan,
    latest_data,
    list_declarations,
    list_plans,
    management_class,
    obligations_due,
    parse_period,
    plan_stream,
    prefill,
    report_stream,
    roster,
    stream_entries,
    visible_declaration,
    visible_plan,
)
from ledger.clock import beijing_today
from ledger.tlog.entries import format_time

blp = Blueprint("plans", __name__, url_prefix="/api/v1",
                description="Plans (管理计划) and declarations (申报登记), docs/plans.md")

USCC = r"^[0-9A-Z]{18}$"
PERIOD = r"^2[0-9]{3}(-(Q[1-4]|0[1-9]|1[0-2]))?$"
# A day to count periods back from: this year's and last year's must be periods (2000-2999)
ON_DAY = validate.Range(min=dt.date(2001, 1, 1), max=dt.date(2998, 12, 31))


def _year() -> Any:
    return fields.Integer(validate=validate.Range(min=2000, max=2999))


class ListQuerySchema(Schema):
    year = _year()
    organisation = fields.String(validate=validate.Regexp(USCC))


class DraftQuerySchema(Schema):
    year = fields.Integer(required=True, validate=validate.Range(min=2001, max=2998))


class PrefillQuerySchema(Schema):
    period = fields.String(required=True, validate=validate.Regexp(PERIOD))


class RosterQuerySchema(Schema):
    region = s.region_field()
    on = fields.Date(validate=ON_DAY,
                     metadata={"description": "as of this Beijing day (default today), "
                                              "2001-01-01 to 2998-12-31"})


class DueQuerySchema(Schema):
    on = fields.Date(validate=ON_DAY,
                     metadata={"description": "as of this Beijing day (default today), "
                                              "2001-01-01 to 2998-12-31"})


class PlanSchema(Schema):
    org = fields.String(required=True)
    year = fields.Integer(required=True)
    region = fields.String(required=True)
    management_class = fields.String(required=True)
    frequency = fields.String(required=True)
    generation_g = fields.Integer(required=True)
    filed_at = fields.Integer(required=True)
    filed = fields.String(required=True)
    updated_at = fields.Integer(required=True)
    amendments = fields.Integer(required=True)
    stream = fields.String(required=True)


class PlanPageSchema(Schema):
    total = fields.Integer(required=True)
    items = fields.List(fields.Nested(PlanSchema), required=True)


class SignedEntrySchema(Schema):
    index = fields.Integer(required=True)
    seq = fields.Integer(required=True)
    kind = fields.String(required=True)
    org = fields.String(required=True)
    t = fields.String(required=True)
    leaf_hash = fields.String(required=True)
    note = fields.String(required=True)


class PlanDetailSchema(PlanSchema):
    data = fields.Dict(required=True, metadata={"description": "the plan in force (its latest "
                                                               "entry's data)"})
    entries = fields.List(fields.Nested(SignedEntrySchema), required=True)


class DeclarationSchema(Schema):
    org = fields.String(required=True)
    period = fields.String(required=True)
    year = fields.Integer(required=True)
    region = fields.String(required=True)
    period_from = fields.String(required=True)
    period_to = fields.String(required=True)
    due = fields.String(required=True)
    late = fields.Boolean(required=True)
    generated_g = fields.Integer(required=True)
    transferred_g = fields.Integer(required=True)
    ledger_generated_g = fields.Integer(required=True)
    ledger_transferred_g = fields.Integer(required=True)
    filed_at = fields.Integer(required=True)
    filed = fields.String(required=True)
    updated_at = fields.Integer(required=True)
    amendments = fields.Integer(required=True)
    stream = fields.String(required=True)


class DeclarationPageSchema(Schema):
    total = fields.Integer(required=True)
    items = fields.List(fields.Nested(DeclarationSchema), required=True)


class DeclarationDetailSchema(DeclarationSchema):
    data = fields.Dict(required=True)
    entries = fields.List(fields.Nested(SignedEntrySchema), required=True)


class PlanDraftSchema(Schema):
    stream = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "what to sign next"})
    management_class = fields.String(required=True)
    frequency = fields.String(required=True)
    due = fields.String(required=True)
    data = fields.Dict(required=True, metadata={"description": "the data to review and sign"})


class ObligationSchema(Schema):
    organisation = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "plan or report"})
    period = fields.String(required=True)
    due = fields.String(required=True)
    overdue = fields.Boolean(required=True)


class ObligationPageSchema(Schema):
    on = fields.String(required=True)
    items = fields.List(fields.Nested(ObligationSchema), required=True)


class RosterRowSchema(Schema):
    org = fields.String(required=True)
    name = fields.String(required=True)
    region = fields.String(required=True)
    management_class = fields.String(required=True)
    frequency = fields.String(required=True)
    batches = fields.Integer(required=True)
    recorded_g = fields.Integer(required=True)
    plan_filed = fields.Boolean(required=True)
    plan_late = fields.Boolean(required=True)
    planned_g = fields.Integer(required=True, allow_none=True)
    declared = fields.List(fields.String(), required=True)
    missing = fields.List(fields.String(), required=True)
    late = fields.List(fields.String(), required=True)


class RosterSchema(Schema):
    year = fields.Integer(required=True)
    on = fields.String(required=True)
    region = fields.String(required=True, allow_none=True)
    items = fields.List(fields.Nested(RosterRowSchema), required=True)


# --- JSON ------------------------------------------------------------------------------------


def plan_json(p: Plan) -> dict[str, Any]:
    return {"org": p.org, "year": p.year, "region": p.region,
            "management_class": p.management_class, "frequency": p.frequency,
            "generation_g": p.generation_g, "filed_at": p.filed_at,
            "filed": format_time(p.filed_t_ms), "updated_at": p.updated_at,
            "amendments": p.amendments, "stream": plan_stream(p.org, p.year)}


def declaration_json(d: Declaration) -> dict[str, Any]:
    return {"org": d.org, "period": d.period, "year": d.year, "region": d.region,
            "period_from": d.period_from, "period_to": d.period_to, "due": d.due,
            "late": d.late, "generated_g": d.generated_g, "transferred_g": d.transferred_g,
            "ledger_generated_g": d.ledger_generated_g,
            "ledger_transferred_g": d.ledger_transferred_g, "filed_at": d.filed_at,
            "filed": format_time(d.filed_t_ms), "updated_at": d.updated_at,
            "amendments": d.amendments, "stream": report_stream(d.org, d.period)}


def _entries(stream: str) -> list[dict[str, Any]]:
    return [entry_json(e) for e in stream_entries(db.session, stream)]


def _today(on: dt.date | None) -> dt.date:
    return on or beijing_today()


# --- views -----------------------------------------------------------------------------------


@blp.route("/plans", methods=["GET"])
@s.authenticated(blp)
@blp.arguments(ListQuerySchema, location="query")
@s.documented_ok(blp, PlanPageSchema)
@blp.doc(summary="Plans you may see (a regulator: its region; an enterprise: its own)")
def get_plans(args: dict[str, Any]) -> Any:
    plans = list_plans(db.session, require_principal(), year=args.get("year"),
                       org=args.get("organisation"))
    return {"total": len(plans), "items": [plan_json(p) for p in plans]}


@blp.route("/plans/draft", methods=["GET"])
@s.authenticated(blp, "generator")
@blp.arguments(DraftQuerySchema, location="query")
@s.documented_ok(blp, PlanDraftSchema)
@blp.doc(summary="Your plan for a year drafted from last year's ledger (or the plan in force, "
                 "to amend), with the kind to sign")
def get_plan_draft(args: dict[str, Any]) -> Any:
    p = require_principal()
    year = args["year"]
    settings = plan_settings(current_app)
    stream = plan_stream(p.org, year)
    existing = db.session.get(Plan, (p.org, year))
    data = latest_data(db.session, stream) if existing else draft_plan(db.session, p.org, year)
    if existing:
        data = {k: v for k, v in data.items() if k != "reason"}
    cls = management_class(db.session, p.org, year, settings)
    due = dt.date.fromisoformat(f"{year}-{settings.plan_due}")
    return {"stream": stream, "kind": "plan.amended" if existing else "plan.filed",
            "management_class": cls, "frequency": FREQUENCY[cls], "due": due.isoformat(),
            "data": data}


@blp.route("/plans/roster", methods=["GET"])
@s.authenticated(blp, "regulator", "operator")
@blp.arguments(RosterQuerySchema, location="query")
@s.documented_ok(blp, RosterSchema)
@blp.doc(summary="Every enterprise registered in the region, those with no batches too "
                 "(应纳尽纳): management class, plan and declarations in or missing")
def get_roster(args: dict[str, Any]) -> Any:
    p = require_principal()
    region = regulator_region(p, args.get("region"))
    day = _today(args.get("on"))
    rows = roster(db.session, region, day, plan_settings(current_app))
    return {"year": day.year, "on": day.isoformat(), "region": region,
            "items": [{**r.__dict__, "declared": list(r.declared), "missing": list(r.missing),
                       "late": list(r.late)} for r in rows]}


@blp.route("/plans/<org>/<int:year>", methods=["GET"])
@s.authenticated(blp)
@s.documented_ok(blp, PlanDetailSchema)
@s.documented_errors(blp, 404)
@blp.doc(summary="One plan: the plan in force and its signed entries in order")
def get_plan(org: str, year: int) -> Any:
    plan = visible_plan(db.session, require_principal(), org, year)
    stream = plan_stream(org, year)
    return {**plan_json(plan), "data": latest_data(db.session, stream),
            "entries": _entries(stream)}


@blp.route("/declarations", methods=["GET"])
@s.authenticated(blp)
@blp.arguments(ListQuerySchema, location="query")
@s.documented_ok(blp, DeclarationPageSchema)
@blp.doc(summary="Declarations you may see (a regulator: its region; an enterprise: its own)")
def get_declarations(args: dict[str, Any]) -> Any:
    rows = list_declarations(db.session, require_principal(), year=args.get("year"),
                             org=args.get("organisation"))
    return {"total": len(rows), "items": [declaration_json(d) for d in rows]}


@blp.route("/declarations/prefill", methods=["GET"])
@s.authenticated(blp, "generator")
@blp.arguments(PrefillQuerySchema, location="query")
@s.documented_ok(blp, PlanDraftSchema)
@blp.doc(summary="Your declaration for a period pre-filled from the ledger, with the ledger's "
                 "figures and the differences, and the kind to sign")
def get_prefill(args: dict[str, Any]) -> Any:
    p = require_principal()
    period = parse_period(args["period"])
    settings = plan_settings(current_app)
    existing = db.session.get(Declaration, (p.org, period.text))
    cls = management_class(db.session, p.org, period.year, settings)
    return {"stream": report_stream(p.org, period.text),
            "kind": "report.amended" if existing else "report.declared",
            "management_class": cls, "frequency": FREQUENCY[cls],
            "due": period.due(settings).isoformat(),
            "data": prefill(db.session, p.org, period)}


@blp.route("/declarations/due", methods=["GET"])
@s.authenticated(blp)
@blp.arguments(DueQuerySchema, location="query")
@s.documented_ok(blp, ObligationPageSchema)
@blp.doc(summary="Plans and declarations owed as of a day (an enterprise: its own; a "
                 "regulator: its region's), with their due days")
def get_due(args: dict[str, Any]) -> Any:
    p = require_principal()
    day = _today(args.get("on"))
    region = None if p.is_operator else p.region if p.is_regulator else None
    items = obligations_due(db.session, day, plan_settings(current_app), region)
    if not (p.is_operator or p.is_regulator):
        items = [o for o in items if o.organisation == p.org]
    return {"on": day.isoformat(), "items": [
        {"organisation": o.organisation, "kind": o.kind, "period": o.period,
         "due": o.due.isoformat(), "overdue": o.overdue(day)} for o in items]}


@blp.route("/declarations/<org>/<period>", methods=["GET"])
@s.authenticated(blp)
@s.documented_ok(blp, DeclarationDetailSchema)
@s.documented_errors(blp, 404)
@blp.doc(summary="One declaration: what is in force, with the ledger's figures and the "
                 "differences, and its signed entries in order")
def get_declaration(org: str, period: str) -> Any:
    d = visible_declaration(db.session, require_principal(), org, period)
    stream = report_stream(org, period)
    return {**declaration_json(d), "data": latest_data(db.session, stream),
            "entries": _entries(stream)}


def register(api: Api) -> None:
    api.register_blueprint(blp)


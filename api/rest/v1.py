"""The JSON API under /api/v1 (flask-smorest on marshmallow): the Api, its document, and the
registration of every resource's blueprint. Views parse, call, serialise."""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin
from flask import Flask
from flask_smorest import Api

from api.edge import PARAMETER_PATTERN
from api.rest import catalogue, entries, registry, tokens
from api.rest import schemas as s
from api.rest.cases import register as register_cases
from api.rest.collector import register as register_collector
from api.rest.declare_help import register as register_declare_help
from api.rest.gaps import register as register_gaps
from api.rest.generator import register as register_generator
from api.rest.labels import register as register_labels
from api.rest.ledger_book import register as register_ledger_book
from api.rest.notifications import register as register_notifications
from api.rest.pickups import register as register_pickups
from api.rest.plans import register as register_plans
from api.rest.reconciliation import register as register_reports


class EdgeRulesPlugin(BasePlugin):
    """Says in the document what api.edge refuses before any view runs: a control character
    in a query or path parameter (422 text_control_char). Free-text parameters get the edge's
    pattern; those with a pattern, enum or format of their own already exclude them."""

    def path_helper(self, path: str | None = None, operations: Any = None,
                    parameters: Any = None, **kwargs: Any) -> None:
        for param in parameters or ():
            _forbid_controls(param)

    def operation_helper(self, path: str | None = None, operations: Any = None,
                         **kwargs: Any) -> None:
        for operation in (operations or {}).values():
            for param in operation.get("parameters", ()):
                _forbid_controls(param)


def _forbid_controls(param: Any) -> None:
    if not isinstance(param, dict) or param.get("in") not in ("query", "path"):
        return
    schema = param.get("schema", {})
    schema = schema.get("items", schema) if schema.get("type") == "array" else schema
    if schema.get("type") == "string" and not {"pattern", "enum", "format"} & set(schema):
        schema["pattern"] = PARAMETER_PATTERN


class LedgerApi(Api):
    """flask-smorest's Api with the project's error body as the documented default error."""

    ERROR_SCHEMA = s.ErrorSchema


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "waste-ledger")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/static/vendor/swagger-ui/")
    app.config.setdefault("API_SPEC_OPTIONS", {"components": {
        "securitySchemes": s.SECURITY_SCHEMES}})
    api = LedgerApi(app, spec_kwargs={"extra_plugins": [EdgeRulesPlugin()]})
    for blp in (entries.ledger_blp, registry.custody_blp, catalogue.catalogue_blp,
                tokens.auth_blp):
        api.register_blueprint(blp)
    register_labels(api)
    register_gaps(api)
    register_cases(api)
    register_plans(api)
    register_reports(api)
    register_pickups(api)
    register_collector(api)
    register_generator(api)
    register_declare_help(api)
    register_ledger_book(api)
    register_notifications(api)

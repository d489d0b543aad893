"""marshmallow schemas of the JSON API: requests load into plain dicts, never ORM rows."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.auth import require_principal, require_role
from ledger.custody.catalogue import HW_CATEGORY_CODES
from ledger.custody.codes import PROVINCES
from ledger.custody.pickups import MAX_BATCHES, MAX_NOTE


class ErrorSchema(Schema):
    """The one error body of every /api/ answer (api.errors.error_body)."""

    code = fields.String(required=True, metadata={"description": "stable machine code, e.g. "
                                                                 "role_missing"})
    status = fields.Integer(required=True, metadata={"description": "the HTTP status again"})
    message = fields.String(required=True, metadata={
        "description": "中文 with the English detail in brackets by default; English with "
                       "Accept-Language: en. With the header X-Ledger-Page: 1 (the pages' "
                       "scripts) one language only: the Chinese sentence, keeping the "
                       "identifiers it names (batch code, manifest, USCC, plate), or the English"})
    errors = fields.Dict(required=True, metadata={
        "description": "field -> messages ({} when no one field is at fault); request "
                       "validation nests them under the location: {\"json\": {field: [...]}}"})


#: A GB/T 2260 region code as ledger.custody.codes.validate_region checks it: a known province,
#: and no county without a city (the city and county that exist change yearly: not checked).
REGION_PATTERN: Final = ("^(" + "|".join(sorted(PROVINCES))
                         + ")(0000|(0[1-9]|[1-9][0-9])[0-9]{2})$")
#: A waste code written NNN-NNN-NN or NNNNNNNN.
WASTE_CODE_PATTERN: Final = r"^([0-9]{3}-[0-9]{3}-[0-9]{2}|[0-9]{8})$"


def region_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Regexp(REGION_PATTERN), **kwargs)


def waste_code_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Regexp(WASTE_CODE_PATTERN), **kwargs)


def category_field(*extra: str, **kwargs: Any) -> fields.String:
    """A hazardous waste category (HW01 … HW50 as the catalogues number them), or ``extra``."""
    return fields.String(validate=validate.OneOf([*sorted(HW_CATEGORY_CODES), *extra]), **kwargs)


#: Who may call an operation: a bearer token (API clients), or the session cookie of a person
#: logged in on the pages (unsafe methods then also need the page's X-CSRFToken header).
AUTHENTICATED: Final[list[dict[str, list[str]]]] = [{"bearer": []}, {"session": []}]
SECURITY_SCHEMES: Final = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "a token from POST /api/v1/auth/token (or the operator)"},
    "session": {"type": "apiKey", "in": "cookie", "name": "session",
                "description": "the pages' log-in cookie; POST/PUT/PATCH/DELETE with it also "
                               "need the X-CSRFToken header of the page (403 csrf_invalid)"},
}


def documented_errors(blp: Blueprint, *codes: int) -> Callable[[Any], Any]:
    """Attach the shared error body to each listed status in the OpenAPI document."""
    def wrap(fn: Any) -> Any:
        for code in codes:
            fn = blp.alt_response(code, schema=ErrorSchema, description="error")(fn)
        return fn
    return wrap


def documented_ok(blp: Blueprint, schema: Any) -> Callable[[Any], Any]:
    """Document the 200 answer's schema without serialising through it: the view's dict goes
    out as it is, so a field added later is never silently dropped, and the fuzz test
    (additionalProperties: false) catches a document that falls behind."""
    return blp.alt_response(200, schema=schema, description="OK",
                            success=True)


def authenticated(blp: Blueprint, *roles: str) -> Callable[[Any], Any]:
    """Require a bearer token or the session cookie (401 without), and with ``roles`` one of
    them (403 ``role_missing``), *before* the request is parsed, so an anonymous caller learns
    nothing from validation errors; and say so in the OpenAPI document.

    Put it right under ``@blp.route`` so that it wraps the argument parsing."""
    def wrap(fn: Any) -> Any:
        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            require_role(*roles) if roles else require_principal()
            return fn(*args, **kwargs)

        checked = documented_errors(blp, 401, *((403,) if roles else ()))(checked)
        return blp.doc(security=AUTHENTICATED)(checked)
    return wrap


def public(blp: Blueprint) -> Callable[[Any], Any]:
    """Document that the operation needs no credentials (``security: []``)."""
    return blp.doc(security=[])


class NoteInSchema(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1),
                         metadata={"description": "a signed entry note (C2SP signed-note)"})


class ReceiptSchema(Schema):
    index = fields.Integer(required=True)
    leaf_hash = fields.String(required=True, metadata={"description": "base64"})
    proof = fields.String(required=True, metadata={"description": "c2sp.org/tlog-proof@v1"})


class BatchNotesInSchema(Schema):
    notes = fields.List(fields.String(), required=True,
                        validate=validate.Length(min=1, max=1000))


class BatchResultSchema(Schema):
    status = fields.Integer(required=True)
    receipt = fields.Nested(ReceiptSchema, allow_none=True)
    error = fields.Nested(ErrorSchema, allow_none=True)


class BatchResultsSchema(Schema):
    results = fields.List(fields.Nested(BatchResultSchema), required=True)
    accepted = fields.Integer(required=True)
    rejected = fields.Integer(required=True)


MAX_INDEX = 2**53 - 1  # beyond any log, and within every database's integers


class EntriesQuerySchema(Schema):
    start = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_INDEX))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class EntrySchema(Schema):
    index = fields.Integer()
    leaf_hash = fields.String()
    note = fields.String()


class EntriesSchema(Schema):
    entries = fields.List(fields.Nested(EntrySchema))
    size = fields.Integer()


class EntryPathSchema(Schema):
    # Bounded so that no database is asked about an integer it cannot hold (PostgreSQL's
    # bigint would answer 500 for 2**64).
    index = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_INDEX))


class InclusionQuerySchema(Schema):
    index = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_INDEX))
    size = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_INDEX))


class ConsistencyQuerySchema(Schema):
    old = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_INDEX))
    new = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_INDEX))


class ProofSchema(Schema):
    size = fields.Integer()
    root = fields.String(metadata={"description": "base64 root at that size"})
    hashes = fields.List(fields.String(), metadata={"description": "base64, leaf to root"})


class DraftInSchema(Schema):
    stream = fields.String(required=True)
    org = fields.String(required=True)
    key = fields.String(required=True, metadata={"description": "hex SHA-256 of the public key"})
    data = fields.Dict(load_default=dict)
    t = fields.String(metadata={"description": "the signer's own time (RFC 3339 UTC); "
                                              "default now"})


class DraftSchema(Schema):
    payload = fields.Dict()
    payload_text = fields.String(metadata={"description": "the exact canonical JSON line"})
    note_text = fields.String(metadata={"description": "the exact text to sign"})


class BatchQuerySchema(Schema):
    generator = fields.String()
    holder = fields.String()
    state = fields.String()
    waste_code = fields.String()
    region = fields.String()
    declared_from = fields.Date()
    declared_to = fields.Date()
    cursor = fields.String()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class BatchSummarySchema(Schema):
    code = fields.String(required=True)
    generator = fields.String(required=True)
    holder = fields.String(required=True)
    state = fields.String(required=True)
    waste_code = fields.String(required=True)
    category = fields.String(required=True)
    name = fields.String(required=True)
    declared_mass_g = fields.Integer(required=True)
    mass_g = fields.Integer(required=True)
    region = fields.String(required=True)
    generated_on = fields.String(required=True)


class BatchPageSchema(Schema):
    items = fields.List(fields.Nested(BatchSummarySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "give it as ?cursor= for the next page; null on the last page"})


class CatalogueEditionQuerySchema(Schema):
    edition = fields.String(metadata={"description": "an edition, e.g. 2021"})
    generated_on = fields.String(metadata={
        "pattern": "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$",  # empty: today
        "description": "the day the waste was generated (YYYY-MM-DD): the edition in force "
                       "that day is used"})


class CatalogueQuerySchema(CatalogueEditionQuerySchema):
    q = fields.String(load_default="")
    category = category_field()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class WasteCodePathSchema(Schema):
    code = waste_code_field(required=True)


class WasteCodeSchema(Schema):
    code = fields.String(required=True)
    category = fields.String(required=True)
    category_name = fields.String(required=True)
    industry = fields.String(required=True)
    description = fields.String(required=True)
    hazards = fields.List(fields.String(), required=True)
    edition = fields.String(required=True)
    identified = fields.Boolean(required=True, metadata={
        "description": "900-000-××: found hazardous by identification, not listed"})


class EditionSchema(Schema):
    edition = fields.String(required=True)
    effective_from = fields.String(required=True)
    origin = fields.String(required=True)
    order = fields.String(required=True)


class EditionInForceSchema(Schema):
    edition = fields.String(required=True)
    effective_from = fields.String(required=True)
    order = fields.String(required=True)
    loaded = fields.Boolean(required=True)
    used = fields.String(required=True, metadata={"description": "the edition used meanwhile"})
    import_command = fields.String(required=True, allow_none=True)


class EditionsSchema(Schema):
    editions = fields.List(fields.Nested(EditionSchema), required=True)
    in_force = fields.Nested(EditionInForceSchema, required=True)


class LoginSchema(Schema):
    username = fields.String(required=True)
    password = fields.String(required=True, load_only=True)
    label = fields.String(load_default="api")


class TokenSchema(Schema):
    token = fields.String()
    org = fields.String()


class PageQuerySchema(Schema):
    org = fields.String()
    cursor = fields.String()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class KeyInSchema(Schema):
    vkey = fields.String(required=True, validate=validate.Length(1, 300), metadata={
        "description": "C2SP verifier key name+hex(keyID)+base64(0x01‖pub) of a key made on "
                       "the device; the private key never leaves it"})
    label = fields.String(required=True, validate=validate.Length(1, 100),
                          metadata={"description": "which device, e.g. 张师傅的手机"})


class KeyOutSchema(Schema):
    org = fields.String()
    fingerprint = fields.String()
    name = fields.String()
    vkey = fields.String()
    label = fields.String()
    registered_at = fields.Integer()


class PickupInSchema(Schema):
    # The limits are documented here and checked by ledger.custody.pickups, whose errors name
    # the problem (pickup_empty, pickup_too_many, field_invalid) rather than a generic 422.
    collector = fields.String(required=True, validate=validate.Length(18, 18),
                              metadata={"description": "USCC of the receiving party"})
    batches = fields.List(fields.String(validate=validate.Length(1, 64)), required=True,
                          metadata={"minItems": 1, "maxItems": MAX_BATCHES,
                                    "description": "codes of batches you hold"})
    wanted_on = fields.String(load_default=None, allow_none=True,
                              metadata={"format": "date", "description": "YYYY-MM-DD"})
    note = fields.String(load_default=None, allow_none=True, metadata={
        "maxLength": MAX_NOTE, "description": f"for the driver, at most {MAX_NOTE} characters"})
    address = fields.String(load_default=None, allow_none=True,
                            metadata={"description": "where to fetch the waste (取货地址)"})


class PickupBatchSchema(Schema):
    code = fields.String()
    name = fields.String()
    waste_code = fields.String()
    state = fields.String()
    holder = fields.String()
    mass_g = fields.Integer()
    declared_mass_g = fields.Integer()
    head = fields.Nested("StreamHeadSchema", required=True)


class PickupSchema(Schema):
    id = fields.Integer()
    generator = fields.String()
    generator_name = fields.String()
    collector = fields.String()
    collector_name = fields.String()
    manifest = fields.String(metadata={"description": "the transfer manifest number reserved"})
    wanted_on = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    status = fields.String()
    created_ms = fields.Integer()
    batches = fields.List(fields.Nested(PickupBatchSchema))


class PickupListSchema(Schema):
    items = fields.List(fields.Nested(PickupSchema))


class PickupQuerySchema(Schema):
    status = fields.String(load_default="open",
                           validate=validate.OneOf(["open", "done", "cancelled", "all"]),
                           metadata={"description": "open: something is left to fetch; done: "
                                                    "every batch has left the requester"})


# --- answers of the registry, catalogue and batch reads ---------------------------------------


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """A cursor page ``{items, next_cursor}``: pass ``next_cursor`` back as ``cursor`` for the
    next page; null on the last one."""
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item), required=True),
        "next_cursor": fields.String(required=True, allow_none=True, metadata={
            "description": "give it as ?cursor= for the next page; null on the last page"}),
    }, name=name)


class StreamHeadSchema(Schema):
    """A stream's last entry: what a device needs to sign the next one offline."""

    seq = fields.Integer(required=True, metadata={"description": "seq of the stream's last "
                                                                "entry (the next is seq + 1)"})
    leaf = fields.String(required=True, metadata={"description": "its leaf hash, base64 (the "
                                                                 "next entry's prev)"})
    t = fields.String(required=True, metadata={"description": "its time (the next entry's t "
                                                              "is ≥ it)"})


class OrganisationSchema(Schema):
    uscc = fields.String(required=True)
    name = fields.String(required=True)
    region = fields.String(required=True, metadata={"description": "GB/T 2260 code"})
    roles = fields.List(fields.String(), required=True)
    registered_at = fields.Integer(required=True, metadata={"description": "log index"})


class PermitSchema(Schema):
    org = fields.String(required=True)
    number = fields.String(required=True)
    valid_from = fields.String(required=True)
    valid_to = fields.String(required=True)
    codes = fields.List(fields.String(), required=True)
    activities = fields.List(fields.String(), required=True)
    capacity_t = fields.Integer(required=True)


class KeySchema(Schema):
    org = fields.String(required=True)
    fingerprint = fields.String(required=True, metadata={"description": "hex SHA-256 of the "
                                                                        "public key"})
    name = fields.String(required=True)
    label = fields.String(required=True, allow_none=True)
    vkey = fields.String(required=True, metadata={"description": "C2SP verifier key"})
    registered_at = fields.Integer(required=True, metadata={"description": "log index"})
    revoked_at = fields.Integer(required=True, allow_none=True)


class OrganisationDetailSchema(OrganisationSchema):
    permits = fields.List(fields.Nested(PermitSchema), required=True)
    keys = fields.List(fields.Nested(KeySchema), required=True)


class ManifestSchema(Schema):
    number = fields.String(required=True)
    origin = fields.String(required=True)
    destination = fields.String(required=True)
    vehicle = fields.String(required=True, allow_none=True)
    carrier = fields.String(required=True, allow_none=True)
    opened_at = fields.Integer(required=True, metadata={"description": "log index"})
    closed = fields.Boolean(required=True)


class ManifestHandoverSchema(Schema):
    batch = fields.String(required=True)
    status = fields.String(required=True)
    released_mass_g = fields.Integer(required=True, allow_none=True)
    accepted_mass_g = fields.Integer(required=True, allow_none=True)


class ManifestDetailSchema(ManifestSchema):
    handovers = fields.List(fields.Nested(ManifestHandoverSchema), required=True)


class AlertSchema(Schema):
    batch = fields.String(required=True)
    manifest = fields.String(required=True)
    from_org = fields.String(required=True, metadata={"description": "the 移出人"})
    to_org = fields.String(required=True, metadata={"description": "the 接收人"})
    to_name = fields.String(required=True)
    what = fields.String(required=True, metadata={
        "enum": ["refused", "partly_refused", "discrepancy"]})
    released_g = fields.Integer(required=True, allow_none=True)
    accepted_g = fields.Integer(required=True, allow_none=True)
    refused_g = fields.Integer(required=True, allow_none=True)
    reason = fields.String(required=True)
    answered_at = fields.Integer(required=True, allow_none=True,
                                 metadata={"description": "log index of the answer"})
    answered_t_ms = fields.Integer(required=True, allow_none=True)
    refused_part = fields.String(required=True, metadata={
        "description": "the batch the refused part became (batch.refused_part), or empty"})


class AlertListSchema(Schema):
    items = fields.List(fields.Nested(AlertSchema), required=True)


class CatalogueSchema(Schema):
    edition = fields.String(required=True)
    items = fields.List(fields.Nested(WasteCodeSchema), required=True)


class LinkSchema(Schema):
    code = fields.String(required=True)
    mass_g = fields.Integer(required=True)


class HandoverSchema(Schema):
    from_ = fields.String(required=True, data_key="from", attribute="from")
    to = fields.String(required=True)
    manifest = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "description": "awaiting_answer, awaiting_release, confirmed or refused"})
    released_mass_g = fields.Integer(required=True, allow_none=True)
    accepted_mass_g = fields.Integer(required=True, allow_none=True)
    refused_mass_g = fields.Integer(required=True, allow_none=True)
    refusal_reason = fields.String(required=True, allow_none=True)
    discrepancy = fields.Boolean(required=True)
    permit_flagged = fields.Boolean(required=True)
    released_t = fields.String(required=True, allow_none=True)
    answered_t = fields.String(required=True, allow_none=True)
    exemption = fields.Nested("ExemptionClaimSchema", required=True, allow_none=True)


class ExemptionClaimSchema(Schema):
    """An exemption claimed (豁免管理清单): which row and stage, and whether it fits."""

    edition = fields.String(required=True)
    item = fields.Integer(required=True)
    row = fields.Integer(required=True)
    stage = fields.String(required=True)
    fits = fields.Boolean(required=True)
    misfit = fields.String(required=True, allow_none=True)
    by_release = fields.Boolean(required=True)
    by_answer = fields.Boolean(required=True)


class DisposalSchema(Schema):
    disposer = fields.String(required=True)
    method = fields.String(required=True, metadata={"description": "utilisation or disposal"})
    method_code = fields.String(required=True)
    mass_g = fields.Integer(required=True)
    t = fields.String(required=True)
    permit = fields.String(required=True, allow_none=True)
    exemption = fields.Nested(ExemptionClaimSchema, required=True, allow_none=True)


class AttributedDisposalSchema(Schema):
    via = fields.String(required=True, metadata={"description": "the consolidated batch that "
                                                                "was disposed of"})
    method = fields.String(required=True)
    mass_g = fields.Integer(required=True, metadata={"description": "this batch's share, g"})
    t = fields.String(required=True)


class HistoryEntrySchema(Schema):
    index = fields.Integer(required=True)
    seq = fields.Integer(required=True)
    kind = fields.String(required=True)
    org = fields.String(required=True)
    t = fields.String(required=True)
    data = fields.Dict(required=True, metadata={"description": "the entry's data as signed"})
    leaf_hash = fields.String(required=True, metadata={"description": "base64"})
    key = fields.String(required=True, metadata={"description": "fingerprint of the signer"})
    verified = fields.Boolean(required=True, metadata={"description": "signature valid and "
                                                                      "included in the tree"})
    signature_valid = fields.Boolean(required=True)
    included = fields.Boolean(required=True)


class StorageSchema(Schema):
    facility = fields.String(required=True)
    org = fields.String(required=True)
    in_mass_g = fields.Integer(required=True)
    in_t = fields.String(required=True)


class BatchDetailSchema(BatchSummarySchema):
    catalogue_edition = fields.String(required=True, allow_none=True,
                                      metadata={"description": "hazardous batches: the "
                                                               "catalogue edition it is "
                                                               "checked against"})
    handovers = fields.List(fields.Nested(HandoverSchema), required=True)
    parents = fields.List(fields.Nested(LinkSchema), required=True,
                          metadata={"description": "batches consolidated into this one"})
    children = fields.List(fields.Nested(LinkSchema), required=True,
                           metadata={"description": "batches this one was consolidated into"})
    disposal = fields.Nested(DisposalSchema, required=True, allow_none=True)
    storage = fields.Nested(StorageSchema, allow_none=True, metadata={
        "description": "the storage facility it is in now (入库, not yet 出库), if any"})
    attributed_disposals = fields.List(fields.Nested(AttributedDisposalSchema), required=True)
    history = fields.List(fields.Nested(HistoryEntrySchema), required=True)

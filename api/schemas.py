"""marshmallow schemas of the JSON API: requests load into plain dicts, never ORM rows."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class ApiErrorSchema(Schema):
    code = fields.String(required=True, metadata={"description": "stable machine code"})
    status = fields.Integer(required=True)
    message = fields.String(required=True, metadata={"description": "中文 (or English)"})
    errors = fields.Dict(metadata={"description": "field -> messages"})


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
    error = fields.Nested(ApiErrorSchema, allow_none=True)


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
    code = fields.String()
    generator = fields.String()
    holder = fields.String()
    state = fields.String()
    waste_code = fields.String()
    category = fields.String()
    name = fields.String()
    declared_mass_g = fields.Integer()
    mass_g = fields.Integer()
    region = fields.String()
    generated_on = fields.String()


class BatchPageSchema(Schema):
    items = fields.List(fields.Nested(BatchSummarySchema))
    next_cursor = fields.String(allow_none=True)


class CatalogueQuerySchema(Schema):
    q = fields.String(load_default="")
    category = fields.String()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class WasteCodeSchema(Schema):
    code = fields.String()
    category = fields.String()
    category_name = fields.String()
    industry = fields.String()
    description = fields.String()
    hazards = fields.List(fields.String())
    edition = fields.String()


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

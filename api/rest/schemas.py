"""marshmallow schemas of the JSON API: requests load into plain dicts, never ORM rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate


class ApiErrorSchema(Schema):
    code = fields.String(required=True, metadata={"description": "stable machine code"})
    status = fields.Integer(required=True)
    message = fields.String(required=True, metadata={"description": "中文 (or English)"})
    errors = fields.Dict(metadata={"description": "field -> messages"})


def documented_errors(blp: Blueprint, *codes: int) -> Callable[[Any], Any]:
    """Attach the shared error body to each listed status in the OpenAPI document."""
    def wrap(fn: Any) -> Any:
        for code in codes:
            fn = blp.alt_response(code, schema=ApiErrorSchema, description="error")(fn)
        return fn
    return wrap


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


class CatalogueEditionQuerySchema(Schema):
    edition = fields.String(metadata={"description": "an edition, e.g. 2021"})
    generated_on = fields.String(metadata={
        "description": "the day the waste was generated (YYYY-MM-DD): the edition in force "
                       "that day is used"})


class CatalogueQuerySchema(CatalogueEditionQuerySchema):
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
    identified = fields.Boolean()


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
    collector = fields.String(required=True, validate=validate.Length(18, 18))
    batches = fields.List(fields.String(validate=validate.Length(1, 64)), required=True)
    wanted_on = fields.String(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True)
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
    head_seq = fields.Integer(metadata={"description": "seq of the stream's last entry"})
    head_leaf = fields.String(metadata={"description": "its leaf hash (the next entry's prev)"})
    head_t = fields.String(metadata={"description": "its time (the next entry's t is ≥ it)"})


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

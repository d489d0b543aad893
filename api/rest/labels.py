"""Container labels over HTTP: one batch's label as PNG, SVG or PDF, and PDF sheets of many.

The ledger says what a label states (``ledger.label_data``); ``labels`` draws it. This module
is the seam between the two: it turns a :class:`BatchLabel` into :class:`labels.LabelData`
(Chinese form names, the container in 备注) and picks the size. The CLI uses the same seam.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from flask import Flask, Response, current_app
from flask_smorest import Api, Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from api.auth import require_principal
from api.extensions import db
from api.rest import schemas as s
from labels import (
    SHEETS,
    LabelData,
    LabelSize,
    fits,
    label_layout,
    parse_size,
    render_pdf,
    render_png,
    render_sheet_pdf,
    render_svg,
    size_for_volume,
)
from ledger.custody.label_data import MAX_LABELS, BatchLabel, label_data_for, labels_for
from ledger.errors import ConfigurationError, InvalidInput

labels_blp = Blueprint("labels", __name__, url_prefix="/api/v1",
                       description="Container labels (危险废物标签) with the batch's QR code")

#: 废物形态 as HJ 1276-2022 prints them, by the declared form.
FORM_NAMES: Final = {"solid": "固态", "semi_solid": "半固态", "liquid": "液态", "gas": "气态"}

FORMATS: Final[dict[str, tuple[Callable[[LabelData, LabelSize], bytes], str]]] = {
    "png": (render_png, "image/png"),
    "svg": (render_svg, "image/svg+xml"),
    "pdf": (render_pdf, "application/pdf"),
}

SIZES: Final = [str(int(size)) for size in LabelSize]


# --- the seam: ledger facts -> label data -------------------------------------------------


def label_data(batch: BatchLabel) -> LabelData:
    """What the renderer prints for ``batch``; the container goes first in 备注."""
    return LabelData(
        waste_name=batch.waste_name,
        category=batch.category,
        waste_code=batch.waste_code,
        physical_form=FORM_NAMES.get(batch.form, batch.form),
        identification_code=batch.code,
        unit_name=batch.unit_name,
        contact_person=batch.contact_person,
        phone=batch.phone,
        generated_on=batch.generated_on,
        qr_url=batch.trace_url,
        hazards=batch.hazards,
        main_components=batch.main_components,
        harmful_components=batch.harmful_components,
        precautions=batch.precautions,
        mass_g=batch.mass_g,
        notes="；".join(part for part in (
            batch.container, batch.notes,
            batch.catalogue_edition and f"名录{batch.catalogue_edition}年版",
            batch.identification and f"鉴别报告 {batch.identification}") if part),
        kind="hazardous" if batch.hazardous else "general",
    )


def faces(batch: BatchLabel) -> int:
    """How many labels a container carries: HJ 1276-2022 puts one on each of two opposite
    faces of a container over 450 L."""
    volume = batch.container_volume_l
    return 2 if volume is not None and volume > 450 else 1


def label_size(batch: BatchLabel, requested: LabelSize | None = None) -> LabelSize:
    """The size asked for; else the smallest the standard allows for the container (≤ 50 L:
    100, ≤ 450 L: 150, more: 200; 100 without a volume) at which every field prints whole,
    stepping up a size rather than cutting a name (``LabelTextTooLong`` if even 200 mm cannot
    hold the text)."""
    if requested is not None:
        return requested
    smallest = (LabelSize.S100 if batch.container_volume_l is None
                else size_for_volume(batch.container_volume_l))
    return fitting_size(label_data(batch), smallest)


def fitting_size(data: LabelData, smallest: LabelSize) -> LabelSize:
    """The smallest size from ``smallest`` up whose layout holds every field whole."""
    sizes = [size for size in LabelSize if size >= smallest]
    for size in sizes:
        if fits(data, size):
            return size
    label_layout(data, sizes[-1])  # raises LabelTextTooLong, naming what to shorten
    return sizes[-1]


def sheet_size(batches: Sequence[BatchLabel], sheet: str,
               requested: LabelSize | None = None) -> LabelSize:
    """One size for a whole sheet: as asked, 100 mm on a roll (the rolls are 100 mm wide),
    else on A4 the largest any of its containers needs, so no label is below the standard
    and none is cut."""
    if requested is not None:
        return requested
    if sheet != "a4":
        return LabelSize.S100
    return max(label_size(batch) for batch in batches)


def render_label(batch: BatchLabel, fmt: str, size: LabelSize) -> bytes:
    """One label as PNG (300 dpi), SVG or PDF bytes; the PDF has a page per face (two for a
    container over 450 L)."""
    if fmt == "pdf":
        return render_pdf(label_data(batch), size, copies=faces(batch))
    render, _ = FORMATS[fmt]
    return render(label_data(batch), size)


def render_sheet(batches: Sequence[BatchLabel], sheet: str, size: LabelSize) -> bytes:
    """A PDF of every batch's label on ``sheet`` (a4, roll-100x100, roll-100x150): two of a
    container over 450 L, one for each of two opposite faces."""
    return render_sheet_pdf([label_data(batch) for batch in batches
                             for _ in range(faces(batch))], sheet, size)


def public_base_url() -> str:
    return str(current_app.config["PUBLIC_BASE_URL"])


# --- schemas ---------------------------------------------------------------------------------


class LabelSizeField(fields.Field):
    """A label size: 100, 150 or 200 (also "150x150" or "150mm"), loaded as a LabelSize."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> LabelSize:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("label size must be one of 100, 150, 200 (mm)")
        try:
            return parse_size(value)
        except InvalidInput as exc:
            raise ValidationError(exc.message) from None


def _size_field() -> LabelSizeField:
    return LabelSizeField(load_default=None, metadata={
        "type": "string", "enum": SIZES,
        "description": "label side in mm; by default the smallest HJ 1276-2022 allows for "
                       "the container's volume (≤ 50 L: 100, ≤ 450 L: 150, more: 200; 100 "
                       "when the volume was not declared) at which every field prints whole "
                       "(a size up rather than a name cut short). No field is ever cut: text "
                       "that does not fit the size asked for (or 200 mm) is refused with 422 "
                       "label_text_too_long, naming the fields to shorten. A container over "
                       "450 L gets its label twice (PDF: two pages; sheets: two copies), for "
                       "two opposite faces"})


class LabelQuerySchema(Schema):
    size = _size_field()


class SheetInSchema(Schema):
    codes = fields.List(fields.String(), required=True,
                        validate=validate.Length(min=1, max=MAX_LABELS),
                        metadata={"description": "batch codes (or trace URLs), in print order"})
    sheet = fields.String(required=True, validate=validate.OneOf(sorted(SHEETS)))
    size = _size_field()


# --- views -----------------------------------------------------------------------------------


def _binary(*mimetypes: str) -> dict[str, Any]:
    return {"200": {"description": "the rendered label(s)", "content": {
        m: {"schema": {"type": "string", "format": "binary"}} for m in mimetypes}}}


def _file(body: bytes, mimetype: str, filename: str) -> Response:
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    # Labels carry the unit's contact details and are access-controlled: no shared caches.
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp


@labels_blp.route("/batches/<code>/label.<any(png, svg, pdf):fmt>", methods=["GET"])
@s.authenticated(labels_blp)
@labels_blp.arguments(LabelQuerySchema, location="query")
@labels_blp.doc(
    summary="A batch's container label (PNG at 300 dpi, SVG or PDF)",
    description="For the unit that declared the batch, its current holder, regulators of its "
                "region and the operator; anyone else gets 404, as for an unknown code.",
    responses=_binary(*(mimetype for _, mimetype in FORMATS.values())))
@s.documented_errors(labels_blp, 404, 422, 503)
def get_label(args: dict[str, Any], code: str, fmt: str) -> Response:
    batch = label_data_for(db.session, require_principal(), code, public_base_url())
    body = render_label(batch, fmt, label_size(batch, args["size"]))
    return _file(body, FORMATS[fmt][1], f"{batch.code}.{fmt}")


@labels_blp.route("/labels/sheet", methods=["POST"])
@s.authenticated(labels_blp)
@labels_blp.arguments(SheetInSchema)
@labels_blp.doc(
    summary="A PDF of many labels: A4 with cut marks, or one per page on a thermal roll",
    description="Up to 1,000 codes, printed in the order given. Every code must be one whose "
                "label you may fetch; the first that is not answers 404 naming it.",
    responses=_binary("application/pdf"))
@s.documented_errors(labels_blp, 404, 422, 503)
def post_sheet(body: dict[str, Any]) -> Response:
    batches = labels_for(db.session, require_principal(), body["codes"], public_base_url())
    pdf = render_sheet(batches, body["sheet"], sheet_size(batches, body["sheet"], body["size"]))
    return _file(pdf, "application/pdf", "labels.pdf")


def register(api: Api) -> None:
    """Add the label endpoints to an app's flask-smorest ``Api`` (see ``api.rest.v1.init_app``)."""
    api.register_blueprint(labels_blp)


def init_app(app: Flask) -> None:
    """Register on the Api that ``api.rest.v1.init_app`` already made for ``app``."""
    try:
        api = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    except KeyError:
        raise ConfigurationError("call api.v1.init_app before the labels API",
                                 code="api_not_initialised") from None
    register(api)

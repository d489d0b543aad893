"""Printable container labels (HJ 1276-2022 style) with a QR code: plain data in, bytes out.

No database and no Flask here: the API builds a :class:`LabelData` from a batch and calls a
renderer. See docs/labels.md for the layout, sizes, colours and the QR choices.
"""

from labels.fit import LabelTextTooLong
from labels.fonts import CJKFontMissing, UnprintableText, find_cjk_font
from labels.model import (
    HAZARD_CAPTIONS,
    PHYSICAL_FORMS,
    LabelData,
    LabelKind,
    LabelSize,
    format_mass,
    group_identification_code,
    parse_size,
    size_for_volume,
    tracking_url,
)
from labels.render import fits, label_layout, render_pdf, render_png, render_svg
from labels.sheet import SHEETS, render_sheet_pdf

__all__ = [
    "HAZARD_CAPTIONS",
    "PHYSICAL_FORMS",
    "SHEETS",
    "CJKFontMissing",
    "LabelData",
    "LabelKind",
    "LabelSize",
    "LabelTextTooLong",
    "UnprintableText",
    "find_cjk_font",
    "fits",
    "format_mass",
    "group_identification_code",
    "label_layout",
    "parse_size",
    "render_pdf",
    "render_png",
    "render_sheet_pdf",
    "render_svg",
    "size_for_volume",
    "tracking_url",
]

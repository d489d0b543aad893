"""Text that no field of ours can hold is refused at the edge, before any view or query runs.

PostgreSQL text cannot contain U+0000 (the driver raises, a 500) while SQLite stores it, so
without one check here the same request would give different answers on the two databases.
What is refused (422, the field named), by where it arrives:

- query and path parameters (codes, filters, cursors, names): every C0 control U+0000–U+001F
  and DEL U+007F;
- form fields: U+0000, DEL and the C0 controls other than TAB, LF and CR (a text area may hold
  line breaks);
- JSON bodies: U+0000 in any string or object key (other controls are legal, escaped, in JSON
  and in signed entries alike) and lone surrogates (not Unicode text, no database stores them);
  a body that is not UTF-8 JSON at all is ``json_body_invalid``.

Signed notes posted as text/plain are left to the note grammar (``note_control_char``), and
so are the form fields of a page marked ``raw_form``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Flask, current_app, request

from ledger.errors import InvalidInput

_PARAMETER_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
#: The same rule as a JSON Schema pattern, for the OpenAPI document (api.rest.v1).
PARAMETER_PATTERN = "^[^\\u0000-\\u001F\\u007F]*$"
_FORM_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _refuse(field: str, char: str) -> None:
    raise InvalidInput(f"{field} contains the control character U+{ord(char):04X}",
                       code="text_control_char", field=field)


def _check_pairs(pairs: Iterable[tuple[str | None, Any]], forbidden: re.Pattern[str],
                 where: str) -> None:
    for name, value in pairs:
        # A multipart part whose name cannot be read (name="x\" never ends) comes keyed None:
        # it names no field, so no view reads it, but its value is checked all the same.
        if name is not None and (m := forbidden.search(name)):
            _refuse(where, m.group())
        if isinstance(value, str) and (m := forbidden.search(value)):
            _refuse(name or where, m.group())


def _check_json(value: Any, path: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            _refuse(path or "body", "\x00")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"{path or 'body'} contains a lone surrogate, not text",
                               code="text_surrogate", field=path or "body") from None
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            _check_json(key, path or "body")
            _check_json(item, where)


def _json_body(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):  # JSONDecodeError is a ValueError
        raise InvalidInput("the body is not valid UTF-8 JSON", code="json_body_invalid",
                           field="body") from None


F = TypeVar("F", bound=Callable[..., Any])


def raw_form(view: F) -> F:
    """Mark a page whose form fields are material to examine, not text to store (a pasted
    checkpoint on the verify page): it reports what is wrong with them itself, more precisely
    than this check could. Its query and path parameters are still checked."""
    view.raw_form = True  # type: ignore[attr-defined]
    return view


MULTIPART_FRAMING = 64 * 1024  # room for the boundaries and part headers around a file


def upload_limit(config_key: str) -> Callable[[F], F]:
    """Mark a view that takes a file upload larger than MAX_CONTENT_LENGTH: its body may be
    ``config[config_key]`` bytes plus the multipart framing. Set here, before this module's
    check parses the form, or the app-wide limit would already have refused it."""
    def mark(view: F) -> F:
        view.upload_limit = config_key  # type: ignore[attr-defined]
        return view
    return mark


def check_request_text() -> None:
    """Refuse the request when a parameter, form field or JSON string holds what it may not."""
    view = current_app.view_functions.get(request.endpoint or "")
    limit_key = getattr(view, "upload_limit", None)
    if limit_key is not None:
        request.max_content_length = int(current_app.config[limit_key]) + MULTIPART_FRAMING
    _check_pairs((request.view_args or {}).items(), _PARAMETER_FORBIDDEN, "path")
    _check_pairs(request.args.items(multi=True), _PARAMETER_FORBIDDEN, "query")
    if getattr(view, "raw_form", False):
        return
    if request.mimetype in _FORM_TYPES:
        _check_pairs(request.form.items(multi=True), _FORM_FORBIDDEN, "form")
    elif request.is_json and (data := request.get_data(cache=True)):
        _check_json(_json_body(data), "")


def init_app(app: Flask) -> None:
    # First of the before_request hooks, so nothing reads a parameter before it is checked.
    app.before_request_funcs.setdefault(None, []).insert(0, check_request_text)

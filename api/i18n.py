"""Languages of the pages: Chinese by default, English on request (Flask-Babel).

The message ids in templates and views are the Chinese texts themselves, so the default
language needs no catalogue and a missing English translation falls back to Chinese rather
than to a developer's placeholder. English lives in ``api/translations/en``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, request, session
from flask.typing import ResponseReturnValue
from flask_babel import Babel, get_locale

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT = "zh"

babel = Babel()
bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The language the person chose (kept in the session); else, for an API client, its
    Accept-Language; else Chinese (the pages do not follow the browser's language)."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    if request.path.startswith("/api/"):
        return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT) or DEFAULT
    return DEFAULT


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT


def safe_next(target: str | None, fallback: str = "/") -> str:
    """Only a path on this site (no scheme, no host, no '//'), so a link cannot send people
    elsewhere after a language switch or a log-in."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target


@bp.get("/lang/<code>")
def switch_language(code: str) -> ResponseReturnValue:
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")))


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES",
                          str(Path(__file__).resolve().parent / "translations"))
    babel.init_app(app, locale_selector=select_locale)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_language=current_language)

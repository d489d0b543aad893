"""The browser-test harness: the app on a real socket, Debian's Chromium, screenshots.

The fixtures built on these live in ``tests/browser/conftest.py``; tests import the helpers
(``screenshot``, ``overflow_px``) from here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import Page
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from api.demo.seed import DEMO_PASSWORD
from api.extensions import db
from api.rest.labels import label_size, public_base_url, render_label
from labels import LabelSize
from ledger.custody import access
from ledger.custody.access import principal_for
from ledger.custody.label_data import label_data_for
from ledger.custody.projections import Batch

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"

#: Debian's build (scripts/sysdeps.sh installs it); Playwright's own download needs the internet.
CHROMIUM = Path(os.environ.get("WASTE_LEDGER_CHROMIUM", "/usr/bin/chromium"))
#: Without the background-networking flags Chromium keeps dialling Google's hosts, which this
#: network refuses; --no-sandbox because the tests may run as root.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]
#: A camera that plays a .y4m file, granted without a permission prompt.
CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
LOCALE = "zh-CN"


@dataclass
class LiveServer:
    """The app served over HTTP on 127.0.0.1 in a background thread."""

    app: Flask
    url: str  # http://127.0.0.1:<port>, no trailing slash; also the app's PUBLIC_BASE_URL
    demo: dict[str, int] = field(default_factory=dict)  # what seed_demo made, if it ran

    def batch_codes(self, *states: str) -> list[str]:
        """Codes of the batches in any of ``states`` (all batches if none), in code order."""
        query = select(Batch.code).order_by(Batch.code)
        if states:
            query = query.where(Batch.state.in_(states))
        with self.app.app_context():
            codes = list(db.session.scalars(query))
            db.session.remove()
        return codes

    def label_png(self, code: str, size: int | None = None) -> tuple[bytes, str]:
        """Batch ``code``'s container label as the operator prints it (PNG at 300 dpi) and the
        URL its QR code holds (on this server, since PUBLIC_BASE_URL is ``url``)."""
        with self.app.app_context():
            session = db.session()
            operator = principal_for(session, self.app.config["OPERATOR_ORG"])
            batch = label_data_for(session, operator, code, public_base_url())
            requested = LabelSize(size) if size else None
            png = render_label(batch, "png", label_size(batch, requested))
            db.session.remove()
        return png, batch.trace_url


class _QuietHandler(WSGIRequestHandler):
    """No line per request in the test output; errors are still logged."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def serving(app: Flask) -> Iterator[LiveServer]:
    """Serve ``app`` on a free port of 127.0.0.1 (threaded: a page loads its scripts in
    parallel) until the block ends. The port is the kernel's choice, bound before anything
    can race for it, and PUBLIC_BASE_URL is pointed at it so labels' QR codes open this server."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True,
                                           request_handler=_QuietHandler)
    url = f"http://127.0.0.1:{server.port}"
    app.config["PUBLIC_BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                              name=f"live-server-{server.port}", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def overflow_px(page: Page) -> int:
    """How far the page is wider than its viewport (0 or less: no horizontal scrolling).

    Compared with the viewport set on the context, not ``innerWidth``: a mobile context
    (``is_mobile``, as ``phone_page``) zooms out to fit wide content, as phones do, and then
    ``innerWidth`` grows with it and every page seems to fit."""
    viewport = page.viewport_size
    assert viewport is not None, "the context has no fixed viewport"
    return int(page.evaluate("document.scrollingElement.scrollWidth")) - viewport["width"]


def screenshot(page: Page, name: str, **options: Any) -> Path | None:
    """Save ``page`` to docs/screenshots/<name>.png, only when WASTE_LEDGER_SCREENSHOTS=1, so
    ordinary test runs leave the committed pictures alone. Returns the path when it saved.
    ``options`` go to Playwright's ``page.screenshot`` (full_page is on by default)."""
    if os.environ.get("WASTE_LEDGER_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), **{"full_page": True, **options})
    return path


def org_of(server: LiveServer, username: str) -> str:
    """The organisation a demo person (a username) acts for."""
    with server.app.app_context():
        org = db.session.scalars(select(access.User.org)
                                 .where(access.User.username == username)).one()
        db.session.remove()
    return org


def log_in(page: Page, server: LiveServer, username: str = "generator") -> None:
    """Log in through the form as a demo person (the generator by default)."""
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/generator/")

"""Fixtures for tests in a real browser: the app on a socket, Debian's Chromium via Playwright.

- ``live_server``: the app (on SQLite and on PostgreSQL, like every database test) served on
  127.0.0.1; ``.url``, ``.app``, ``.batch_codes(*states)``, ``.label_png(code)``.
- ``demo_server``: the same with a small demo district seeded (``.demo`` holds the counts).
- ``browser``: one headless Chromium for the session; ``page`` (desktop, 1280x800) and
  ``phone_page`` (375x740, touch) are fresh contexts in Chinese (zh-CN) per test.
- ``camera_browser(y4m)``: a second Chromium whose camera plays ``y4m`` (see ``camera.py``).

Without /usr/bin/chromium the tests that need it skip on a developer's machine and fail on CI
(``CI`` set), where a missing install step must not pass unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.browser.harness import (
    CAMERA_ARGS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    LOCALE,
    PHONE,
    LiveServer,
    serving,
)
from tests.conftest import initialised_app
from tests.tools import unless_ci

#: Enough for every page, API call and state the tests look at, and quick to seed (~0.5 s):
#: three enterprises over two months reach declared, pending, stored, consolidated, disposed.
DEMO = {"enterprises": 3, "months": 2}
#: How long a test waits for a page to reach a state (a ceiling, not a speed requirement):
#: generous, because CI shares two cores with the rest of the suite and Chromium.
TIMEOUT_MS = 20_000
# expect() has its own default (5 s); waiting for the offline queue to sync needs the same.
expect.set_options(timeout=TIMEOUT_MS)

_BROWSER_FIXTURES = {"browser", "page", "phone_page", "camera_browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that drive Chromium: skipped where it is missing, unless on CI."""
    mark = unless_ci(not CHROMIUM.exists(),
                     f"{CHROMIUM} is missing: run scripts/sysdeps.sh (Debian's chromium)")
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and _BROWSER_FIXTURES & set(
                getattr(item, "fixturenames", ())):
            item.add_marker(mark)


def _launch(playwright: Playwright, *extra_args: str) -> Browser:
    if not CHROMIUM.exists():  # only reached on CI: elsewhere the test was skipped
        pytest.fail(f"{CHROMIUM} is missing: scripts/sysdeps.sh installs Debian's chromium")
    return playwright.chromium.launch(executable_path=str(CHROMIUM),
                                      args=[*CHROMIUM_ARGS, *extra_args])


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the whole run (contexts keep tests apart)."""
    browser = _launch(playwright)
    yield browser
    browser.close()


@contextmanager
def _context(browser: Browser, **options: object) -> Iterator[BrowserContext]:
    context = browser.new_context(locale=LOCALE, **options)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A desktop page (1280x800, zh-CN) in a fresh context."""
    with _context(browser, viewport=DESKTOP) as context:
        yield context.new_page()


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    """A phone page (375x740 CSS px at 2x, touch, mobile viewport rules, zh-CN)."""
    with _context(browser, viewport=PHONE, device_scale_factor=2, is_mobile=True,
                  has_touch=True) as context:
        yield context.new_page()


@pytest.fixture
def camera_browser(playwright: Playwright) -> Iterator[Callable[[Path], Browser]]:
    """``camera_browser(y4m_path)``: a new headless Chromium whose camera plays ``y4m_path``
    in a loop; getUserMedia is granted without a prompt. Closed after the test."""
    launched: list[Browser] = []

    def launch(y4m: Path) -> Browser:
        browser = _launch(playwright, *CAMERA_ARGS,
                          f"--use-file-for-fake-video-capture={Path(y4m).resolve()}")
        launched.append(browser)
        return browser

    yield launch
    for browser in launched:
        browser.close()


@pytest.fixture
def live_server(database, tmp_path) -> Iterator[LiveServer]:
    """The app, initialised on this test's database, served on 127.0.0.1:<free port>."""
    with initialised_app(database, tmp_path) as app, serving(app) as server:
        yield server


@pytest.fixture
def demo_server(live_server: LiveServer) -> LiveServer:
    """``live_server`` with a small demo district (see ``DEMO``) seeded before any request."""
    from api.demo.seed import seed_demo

    live_server.demo = seed_demo(live_server.app, **DEMO)
    return live_server

"""Browsers without Ed25519 in WebCrypto (Chrome before 137, domestic browsers on older
Chromium) still sign: ledger.js falls back to the vendored @noble/ed25519, with the secret
sealed under a non-extractable AES-GCM key; a browser with no WebCrypto at all is told so
before anyone fills the form."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from api.extensions import db
from ledger.custody.projections import Batch
from ledger.tlog.models import LogEntry
from tests.browser.harness import LiveServer, log_in

#: An older browser: WebCrypto answers Ed25519 the way Chrome < 137 does.
NO_ED25519 = """(() => {
  const subtle = crypto.subtle;
  const named = (alg) => String(typeof alg === "string" ? alg : (alg && alg.name) || "");
  const refuse = () => Promise.reject(
    new DOMException("Algorithm: Unrecognized name", "NotSupportedError"));
  for (const [method, at] of [["generateKey", 0], ["sign", 0], ["verify", 0], ["importKey", 2]]) {
    const original = subtle[method].bind(subtle);
    subtle[method] = (...args) =>
      named(args[at]).toLowerCase() === "ed25519" ? refuse() : original(...args);
  }
})();"""

#: A page opened over plain http from another machine: no crypto.subtle at all.
NO_WEBCRYPTO = """Object.defineProperty(Crypto.prototype, "subtle", { get: () => undefined });"""

KEY_RECORD = """async () => {
  const { deviceKey } = await import("/static/js/ledger.js");
  const me = document.querySelector("#declare-form, [data-org]");
  const key = await deviceKey(me.dataset.org);
  const sealed = key.privateKey;
  return { fallback: sealed.fallback || null, registered: key.registered,
           wrapExtractable: sealed.wrap ? sealed.wrap.extractable : null,
           wrapAlg: sealed.wrap ? sealed.wrap.algorithm.name : null,
           fingerprint: key.fingerprint };
}"""


def _declare(page: Page, server: LiveServer) -> str:
    page.goto(f"{server.url}/generator/declare")
    page.locator("#waste-search").press_sequentially("900-039-49", delay=30)
    option = page.locator("#waste-options li[role=option]", has_text="900-039-49")
    expect(option).to_be_visible()
    option.click()
    page.fill("#mass", "21.5")
    page.click("#declare-submit")
    expect(page.locator("#declared")).to_be_visible()
    return page.locator('#declared [data-slot="code"]').first.inner_text().strip()


def test_a_browser_without_webcrypto_ed25519_signs_with_the_fallback(demo_server: LiveServer,
                                                                     page: Page):
    page.add_init_script(NO_ED25519)
    log_in(page, demo_server)
    code = _declare(page, demo_server)
    expect(page.locator("#form-error")).to_be_hidden()
    key = page.evaluate(KEY_RECORD)
    assert key["fallback"] == "noble-ed25519" and key["registered"]
    # the secret is kept sealed by a key the page can use but never export
    assert key["wrapAlg"] == "AES-GCM" and key["wrapExtractable"] is False
    with demo_server.app.app_context():
        batch = db.session.get(Batch, code)
        assert batch is not None and batch.mass_g == 21_500
        entry = db.session.scalars(select(LogEntry).where(LogEntry.stream == code)).one()
        assert key["fingerprint"] in entry.note.decode()  # signed by the fallback key
        db.session.remove()
    # a second signature with the same sealed key, after a reload, is accepted too
    page.reload()
    second = _declare(page, demo_server)
    assert second != code


def test_a_browser_without_webcrypto_is_told_before_filling_the_form(demo_server: LiveServer,
                                                                     page: Page):
    log_in(page, demo_server)
    page.add_init_script(NO_WEBCRYPTO)
    page.goto(f"{demo_server.url}/generator/declare")
    expect(page.locator("#form-error")).to_contain_text("此浏览器不支持设备签名")
    expect(page.locator("#declare-submit")).to_be_disabled()
    expect(page.locator("#device-key")).not_to_contain_text("正在")

"""The harness itself, proved on real parts: a page at phone width, the vendored scripts, and a
label read through Chromium's camera pipeline with the vendored jsQR."""

from __future__ import annotations

import rfc8785
from playwright.sync_api import Page

from tests.browser.camera import png_to_y4m
from tests.browser.harness import LiveServer, overflow_px, screenshot

#: At most this many camera frames are decoded before giving up (the fake camera runs at
#: 10 fps and every frame holds the whole label, so the first few should do).
MAX_FRAMES = 60

SCAN = """async ({maxFrames}) => {
  const stream = await navigator.mediaDevices.getUserMedia({video: true});
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  await video.play();
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  try {
    for (let frame = 1; frame <= maxFrames; frame++) {
      await new Promise((done) => video.requestVideoFrameCallback(done));
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      ctx.drawImage(video, 0, 0);
      const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const code = jsQR(image.data, image.width, image.height);
      if (code) return {text: code.data, frame, width: image.width, height: image.height};
    }
    return {text: null, frame: maxFrames, width: canvas.width, height: canvas.height};
  } finally {
    stream.getTracks().forEach((track) => track.stop());
  }
}"""


def test_trace_page_fits_a_phone(demo_server: LiveServer, phone_page: Page):
    code = demo_server.batch_codes("disposed")[0]
    phone_page.goto(f"{demo_server.url}/t/{code}")
    assert overflow_px(phone_page) <= 0
    assert phone_page.evaluate("innerWidth") == 375  # not zoomed out to fit something wider
    heading = phone_page.locator("h1")
    assert heading.is_visible()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in heading.inner_text())  # a Chinese name
    assert phone_page.get_by_text("数字识别码").is_visible()
    screenshot(phone_page, "trace-phone")


def test_vendored_scripts_load(live_server: LiveServer, page: Page):
    """Each vendored file loads from our origin as the README says (classic script or ES
    module), and the browser's RFC 8785 canonicalisation agrees with the server's."""
    page.goto(live_server.url + "/")
    vendor = f"{live_server.url}/static/vendor"
    for classic in ("jsqr/jsQR.js", "idb/umd.js", "chart.js/chart.umd.min.js"):
        page.add_script_tag(url=f"{vendor}/{classic}")
    assert page.evaluate("[typeof jsQR, typeof idb.openDB, typeof Chart]") == [
        "function", "function", "function"]
    value = {"b": [1, 2.5, 1e21, -0.0], "a": "危废\u2028\u00e9", "c": {"z": None, "y": True}}
    browser_says = page.evaluate("""async ([vendor, value]) => {
      const {openDB} = await import(vendor + "/idb/index.js");
      const {default: canonicalize} = await import(vendor + "/canonicalize/canonicalize.js");
      const noble = await import(vendor + "/noble-ed25519/index.js");
      // RFC 8032 section 7.1, TEST 1: the empty message
      const hex = (s) => Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));
      const sig = await noble.signAsync(new Uint8Array(0), hex(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
      const sigHex = Array.from(sig, (b) => b.toString(16).padStart(2, "0")).join("");
      return [typeof openDB, canonicalize(value), sigHex];
    }""", [vendor, value])
    assert browser_says == ["function", rfc8785.dumps(value).decode(),
                            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"]


def test_camera_reads_a_rendered_label(demo_server: LiveServer, camera_browser, tmp_path):
    """A label rendered by labels/, played by Chromium's fake camera, decoded by jsQR."""
    code = demo_server.batch_codes("declared")[0]
    png, qr_text = demo_server.label_png(code)
    assert qr_text == f"{demo_server.url}/t/{code}"
    y4m = png_to_y4m(png, tmp_path / "label.y4m")
    page = camera_browser(y4m).new_page()
    page.goto(f"{demo_server.url}/t/{code}")
    page.add_script_tag(url=f"{demo_server.url}/static/vendor/jsqr/jsQR.js")
    result = page.evaluate(SCAN, {"maxFrames": MAX_FRAMES})
    assert (result["width"], result["height"]) == (640, 480)
    assert result["text"] == qr_text, result

"""The public page a label's QR opens: stages and a verified mark, no masses or people."""

from __future__ import annotations

from tests.api.lifecycle import COLLECTOR, DISPOSER, GENERATORS, build_region, code_for, description

GEN = GENERATORS[0]


def test_trace_page_shows_stages_and_verification_without_masses(app, client):
    region = build_region(app, generators=1)
    code = code_for(GEN, 1)
    region[GEN].declare(code, description(123_456))
    region[GEN].release(code, COLLECTOR, 123_456, "20263310000001")
    region[COLLECTOR].accept(code, GEN, 123_456, "20263310000001")
    region[COLLECTOR].release(code, DISPOSER, 123_456, "20263310000002")
    region[DISPOSER].accept(code, COLLECTOR, 123_456, "20263310000002")
    region[DISPOSER].dispose(code, "disposal", "D10", f"浙危废经第{DISPOSER[-4:]}号", 123_456)
    page = client.get(f"/t/{code}").get_data(as_text=True)  # no login
    assert "废活性炭" in page and "毒性" in page and "已验证" in page
    assert page.count('class="done"') == 4  # generated, collected, received, disposed
    assert "123" not in page.replace(code, "")  # no mass anywhere (123.456 kg)
    assert "台州" not in page  # no organisation names beyond the label's own fields


def test_trace_page_for_unknown_or_malformed_codes(client):
    assert client.get(f"/t/{code_for(GEN, 9)}").status_code == 404
    resp = client.get("/t/not-a-code")
    assert resp.status_code == 422 and "批次识别码应为 37 位" in resp.get_data(as_text=True)

"""batch.withdrawn through the HTTP API on SQLite and PostgreSQL: each refusal is its own code
and status with the Chinese message and the English detail, and leaves the log unchanged; the
withdrawal shows in the batch and its code is skipped by next-code."""

from __future__ import annotations

import pytest

from api.extensions import db
from api.runtime import log_config
from ledger.tlog import log
from ledger.tlog.client import ApiError
from ledger.tlog.models import LogHead
from ledger.tlog.notes import sign_note
from tests.api.lifecycle import COLLECTOR, GENERATORS, TODAY, build_region, code_for, description

GEN = GENERATORS[0]


def log_head(app) -> tuple[int, bytes]:
    with app.app_context():
        head = db.session.get(LogHead, 1)
        out = (head.size, bytes(head.root))
        db.session.remove()
    return out


def post_as(app, signer, kind: str, stream: str, data: dict) -> dict:
    """Sign ``kind`` on ``signer``'s device without asking for a draft (the draft endpoint
    hides a batch the signer may not see) and post it: what a forged or stale client sends."""
    with app.app_context():
        draft = log.draft_entry(db.session, log_config(), stream=stream, org=signer.org,
                                key=signer.key.verifier.fingerprint, kind=kind, data=data)
        db.session.remove()
    return signer.post_note(sign_note(draft.text, signer.key))


def refused(app, call, status: int, code: str, zh: str) -> dict:
    before = log_head(app)
    with pytest.raises(ApiError) as err:
        call()
    body = err.value.body
    assert (err.value.status, body["code"]) == (status, code), body
    assert zh in body["message"] and "（" in body["message"], body["message"]  # zh（English）
    assert log_head(app) == before
    return body


def test_withdrawal_over_the_api(app):
    region = build_region(app, generators=2)
    gen, other, collector = region[GEN], region[GENERATORS[1]], region[COLLECTOR]
    code = code_for(GEN, 1)
    gen.declare(code, description(40_000))

    refused(app, lambda: post_as(app, collector, "batch.withdrawn", code, {"reason": "x"}), 403,
            "withdraw_not_generator", "只有申报该批次的产废单位可以撤回批次")
    refused(app, lambda: post_as(app, other, "batch.withdrawn", code, {"reason": "x"}), 403,
            "withdraw_not_generator", "只有申报该批次的产废单位")
    refused(app, lambda: gen.act("batch.withdrawn", code, {"reason": " "}), 422,
            "withdraw_reason_invalid", "请填写撤回原因")
    refused(app, lambda: gen.act("batch.withdrawn", code, {}), 422,
            "withdraw_reason_invalid", "请填写撤回原因")

    receipt = gen.act("batch.withdrawn", code, {"reason": "重复申报"})
    assert receipt["index"] > 0
    detail = gen.batch(code)
    assert detail["state"] == "withdrawn"
    assert [h["kind"] for h in detail["history"]] == ["batch.declared", "batch.withdrawn"]

    refused(app, lambda: gen.act("batch.withdrawn", code, {"reason": "再撤一次"}), 409,
            "batch_withdrawn", "该批次已由产废单位撤回")
    refused(app, lambda: gen.release(code, COLLECTOR, 40_000, f"{TODAY.year}3310000001"),
            422, "batch_withdrawn", "该批次已由产废单位撤回")
    refused(app, lambda: gen.declare(code, description(40_000)), 422, "batch_exists",
            "该识别码已被使用")

    # the driver's phone signed offline before it heard: refused when it syncs
    refused(app, lambda: post_as(app, collector, "custody.accepted", code, {
        "from": GEN, "mass_g": 40_000, "manifest": f"{TODAY.year}3310000001"}), 422,
        "batch_withdrawn", "该批次已由产废单位撤回")

    nxt = gen.request("GET", "/api/v1/batches/next-code?waste_code=900-039-49"
                             f"&generated_on={TODAY.isoformat()}")
    assert nxt["code"] == code_for(GEN, 2)

    # someone else signed first: refused with its own code, in Chinese with the English detail
    second = code_for(GEN, 3)
    gen.declare(second, description(40_000))
    pickup = gen.request("POST", "/api/v1/pickups", {"collector": COLLECTOR,
                                                     "batches": [second]})
    collector.accept(second, GEN, 40_000, pickup["manifest"])
    body = refused(app, lambda: gen.act("batch.withdrawn", second, {"reason": "错了"}), 422,
                   "withdraw_others_signed", "其他单位已在该批次上签名")
    assert body["errors"] == {"stream": [body["message"]]}


def test_the_english_message(app, client):
    region = build_region(app, generators=1)
    gen = region[GEN]
    code = code_for(GEN, 1)
    gen.declare(code, description(40_000))
    gen.act("batch.withdrawn", code, {"reason": "重复申报"})
    note = gen.draft("batch.withdrawn", code, {"reason": "again"})
    resp = client.post("/api/v1/entries", data=sign_note(note, gen.key),
                       headers={"Authorization": f"Bearer {gen.token}",
                                "Content-Type": "text/plain; charset=utf-8",
                                "Accept-Language": "en"})
    assert resp.status_code == 409
    assert resp.json["code"] == "batch_withdrawn"
    assert resp.json["message"] == "the batch is already withdrawn"

"""One item, one code (一物一码) through the API, on SQLite and PostgreSQL: three containers get
three codes (next-code?count=3) and three signed declarations sent together (entries/batch);
two of them are asked for, released and accepted as a selection, each step one request."""

from __future__ import annotations

from typing import Any

from api.extensions import db
from ledger.custody.projections import Batch
from ledger.tlog.client import Client
from ledger.tlog.notes import sign_note
from tests.api.lifecycle import COLLECTOR, GENERATORS, TODAY, build_region, description

GEN = GENERATORS[0]


def together(client: Client, kind: str, items: list[tuple[str, dict[str, Any]]]) -> dict:
    """Sign one entry per (stream, data) on ``client``'s device and send them in one request."""
    notes = [sign_note(client.draft(kind, stream, data), client.key).decode()
             for stream, data in items]
    return client.request("POST", "/api/v1/entries/batch", {"notes": notes})


def test_three_containers_declared_together_and_two_moved_as_a_selection(app):
    region = build_region(app, generators=1)
    gen, collector = region[GEN], region[COLLECTOR]
    codes = gen.request("GET", "/api/v1/batches/next-code?waste_code=900-039-49"
                               f"&generated_on={TODAY.isoformat()}&count=3")["codes"]
    assert len(set(codes)) == 3
    lot = [(code, {**description(40_000), "container": {"type": "铁桶", "count": 1},
                   "lot": {"ref": codes[0], "no": n, "of": 3}})
           for n, code in enumerate(codes, 1)]
    declared = together(gen, "batch.declared", lot)
    assert (declared["accepted"], declared["rejected"]) == (3, 0)

    pickup = gen.request("POST", "/api/v1/pickups", {"collector": COLLECTOR,
                                                     "batches": codes[:2]})
    manifest = pickup["manifest"]
    released = together(gen, "custody.released", [
        (code, {"to": COLLECTOR, "mass_g": 40_000, "manifest": manifest}) for code in codes[:2]])
    assert released["accepted"] == 2
    accepted = together(collector, "custody.accepted", [
        (code, {"from": GEN, "mass_g": 39_800, "manifest": manifest}) for code in codes[:2]])
    assert accepted["accepted"] == 2
    with app.app_context():
        held = {code: db.session.get(Batch, code).holder for code in codes}
        db.session.remove()
    assert held == {codes[0]: COLLECTOR, codes[1]: COLLECTOR, codes[2]: GEN}

    # One declaration for several drums is refused, entry by entry, saying what to do.
    refused = together(gen, "batch.declared", [(
        codes[2][:-3] + "009", {**description(90_000),
                                "container": {"type": "铁桶", "count": 3}})])
    [result] = refused["results"]
    assert result["status"] == 422 and result["error"]["code"] == "one_code_per_container"
    assert "一物一码" in result["error"]["message"]

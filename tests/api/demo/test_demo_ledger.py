"""The demo enterprise's 管理台账 (HJ 1259-2022), exported through the API from the seeded
demo on SQLite and PostgreSQL: its storage facility, 入库/出库 of its batches and a named
经办人 on every row; the demo transfer station's 台账 likewise (issue #12, "a 台账 export for
one enterprise")."""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import urlencode

from openpyxl import load_workbook
from sqlalchemy import select

from api.demo.seed import (
    DEMO_PASSWORD,
    GENERATOR_FACILITY,
    GENERATOR_PERSON,
    STATION_FACILITY,
    STATION_PERSON,
    seed_demo,
)
from api.extensions import db
from ledger.clock import beijing_today
from ledger.custody import access
from ledger.custody.projections import StorageFacility, StorageStay


def sheets(client, username: str) -> tuple[str, dict[str, list[tuple]]]:
    """Log in as the demo ``username`` through the API and export its unit's 台账 (XLSX)
    for the whole demo period; the unit and each sheet's rows (without the header)."""
    token = client.post("/api/v1/auth/token", json={
        "username": username, "password": DEMO_PASSWORD, "label": "test"}).json["token"]
    with client.application.app_context():
        org = db.session.scalars(select(access.User.org).where(
            access.User.username == username)).one()
        db.session.remove()
    today = beijing_today()
    query = urlencode({"from": (today - dt.timedelta(days=200)).isoformat(),
                       "to": today.isoformat()})
    resp = client.get(f"/api/v1/organisations/{org}/ledger?{query}",
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    book = load_workbook(io.BytesIO(resp.data))
    return org, {ws.title: list(ws.iter_rows(min_row=2, values_only=True))
                 for ws in book.worksheets}


def person_column(rows: list[tuple], header: tuple) -> set:
    column = next(i for i, h in enumerate(header) if "经办人" in str(h))
    return {r[column] for r in rows}


def test_the_demo_enterprise_and_station_export_a_full_ledger(app, client):
    seed_demo(app, enterprises=3, months=2)
    org, book = sheets(client, "generator")
    # a small enterprise produces, stores, takes out and hands over; it neither receives
    # waste nor utilises/disposes of it itself (no permit), so those two sheets stay empty
    for name in ("产生", "入库", "出库", "转移"):
        assert book[name], name
    assert book["接收"] == [] and book["利用处置"] == []
    stored_in, taken_out = book["入库"], book["出库"]
    assert {r[10] for r in stored_in} == {GENERATOR_FACILITY}
    assert {r[11] for r in stored_in} == {"贮存库"}
    assert {r[12] for r in stored_in} | {r[12] for r in taken_out} == {GENERATOR_PERSON}
    assert {r[0] for r in taken_out} <= {r[0] for r in stored_in}
    # the 经办人 of every step the enterprise signed is named
    assert {r[11] for r in book["产生"]} == {GENERATOR_PERSON}
    assert {r[11] for r in book["转移"]} == {GENERATOR_PERSON}
    with app.app_context():
        facility = db.session.get(StorageFacility, (org, GENERATOR_FACILITY))
        assert facility is not None and facility.type == "贮存库"
        # everything it still holds was taken out for the pickup it asked for
        assert db.session.scalars(select(StorageStay).where(
            StorageStay.org == org, StorageStay.out_at.is_(None))).all() == []
        db.session.remove()

    station, book = sheets(client, "station")
    for name in ("入库", "出库", "转移", "接收"):
        assert book[name], name
    assert {r[10] for r in book["入库"]} == {STATION_FACILITY}
    assert {r[12] for r in book["入库"] + book["出库"]} == {STATION_PERSON}
    assert {r[11] for r in book["接收"] + book["转移"]} == {STATION_PERSON}
    # what it received went into storage before it was poured into a drum
    assert {r[0] for r in book["接收"]} <= {r[0] for r in book["入库"]}

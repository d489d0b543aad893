"""Administration without a terminal: the operator registers organisations and permits; an
organisation's admin manages its people, devices (a lost phone's key) and API tokens; nobody
reaches another organisation's people. Same rules and signed registry entries as the CLI."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from api.demo.seed import join
from api.extensions import db
from ledger.custody import access
from ledger.custody.projections import Organisation, Permit, Vehicle
from ledger.custody.uscc import make_uscc
from ledger.tlog.client import ApiError
from ledger.tlog.models import LogEntry, SigningKey
from tests.api.lifecycle import code_for, description
from tests.api.logins import csrf_of, log_in_as

PASSWORD = "admin-pass-2026"
GEN = make_uscc("331002", 1)
OTHER_GEN = make_uscc("331002", 2)
COL = make_uscc("331002", 101)
REG = make_uscc("331002", 900)
FAR_REG = make_uscc("330100", 900)


@pytest.fixture
def units(app):
    clients = {
        GEN: join(app, GEN, "椒江小微企业1号", "331002", ["generator"]),
        OTHER_GEN: join(app, OTHER_GEN, "椒江小微企业2号", "331002", ["generator"]),
        COL: join(app, COL, "台州市绿源环保收集有限公司", "331002", ["collector"],
                  ["collect", "store"]),
    }
    join(app, REG, "台州市生态环境局椒江分局", "331002", ["regulator"])
    join(app, FAR_REG, "杭州市生态环境局", "330100", ["regulator"])
    with app.app_context():
        for username, org, admin in [("boss", GEN, True), ("clerk", GEN, False),
                                     ("boss2", OTHER_GEN, True), ("fleet", COL, True),
                                     ("inspector", REG, False), ("far", FAR_REG, False),
                                     ("root", app.config["OPERATOR_ORG"], True)]:
            access.add_user(db.session, username, PASSWORD, org, username, is_admin=admin)
        db.session.remove()
    return clients


def page(client, path: str) -> tuple[int, str]:
    resp = client.get(path)
    return resp.status_code, resp.get_data(as_text=True)


def post(client, path: str, token: str, **form):
    return client.post(path, data={"csrf_token": token, **form})


def test_an_org_admin_adds_a_person_who_can_then_log_in(units, app, client):
    token = log_in_as(client, "boss", PASSWORD)
    status, html = page(client, f"/admin/org/{GEN}")
    assert status == 200 and "clerk" in html and "单位管理" in html
    resp = post(client, f"/admin/org/{GEN}/people", token, username="driver-wang",
                display_name="王师傅", password="wang-pass-2026")
    assert resp.status_code == 302
    with app.app_context():
        person = db.session.scalars(select(access.User)
                                    .where(access.User.username == "driver-wang")).one()
        assert person.org == GEN and not person.is_admin
    other = app.test_client()
    log_in_as(other, "driver-wang", "wang-pass-2026")
    assert other.get("/generator/").status_code == 200


BAD_PEOPLE = [
    ({"username": "x", "display_name": "王", "password": "long-enough-1"}, "用户名"),
    ({"username": "wang", "display_name": "王", "password": "short"}, "8"),
    ({"username": "clerk", "display_name": "王", "password": "long-enough-1"}, "clerk"),
    ({"username": "has space", "display_name": "王", "password": "long-enough-1"}, "用户名"),
    ({"username": "wang", "display_name": " ", "password": "long-enough-1"}, "name"),
]


def test_a_bad_person_is_refused_with_a_reason_and_changes_nothing(units, app, client):
    token = log_in_as(client, "boss", PASSWORD)
    with app.app_context():
        before = len(access.people_of(db.session, GEN))
    for form, reason in BAD_PEOPLE:
        resp = post(client, f"/admin/org/{GEN}/people", token, **form)
        html = resp.get_data(as_text=True)
        assert 400 <= resp.status_code < 500 and 'id="admin-error"' in html, form
        assert reason in html.split('id="admin-error"')[1].split("</p>")[0], (form, reason)
    with app.app_context():
        assert len(access.people_of(db.session, GEN)) == before


def test_reset_password_and_deactivation_end_the_persons_sessions(units, app, client):
    clerk = app.test_client()
    log_in_as(clerk, "clerk", PASSWORD)
    assert clerk.get("/generator/").status_code == 200
    token = log_in_as(client, "boss", PASSWORD)
    assert post(client, f"/admin/org/{GEN}/people/clerk/password", token,
                password="new-pass-2026").status_code == 302
    assert clerk.get("/generator/").status_code == 302  # logged out everywhere
    log_in_as(clerk, "clerk", "new-pass-2026")
    assert post(client, f"/admin/org/{GEN}/people/clerk/deactivate", token).status_code == 302
    assert clerk.get("/generator/").status_code == 302
    resp = clerk.post("/login", data={"username": "clerk", "password": "new-pass-2026",
                                      "csrf_token": csrf_of(clerk.get("/login").get_data(
                                          as_text=True))})
    assert resp.status_code == 401
    # back again, and made an admin
    assert post(client, f"/admin/org/{GEN}/people/clerk/activate", token).status_code == 302
    assert post(client, f"/admin/org/{GEN}/people/clerk/admin", token,
                admin="1").status_code == 302
    with app.app_context():
        assert access.is_org_admin(db.session, GEN, "clerk")


def test_an_admin_cannot_lock_themselves_out(units, client):
    token = log_in_as(client, "boss", PASSWORD)
    resp = post(client, f"/admin/org/{GEN}/people/boss/deactivate", token)
    assert resp.status_code == 422 and "admin-error" in resp.get_data(as_text=True)
    resp = post(client, f"/admin/org/{GEN}/people/boss/admin", token, admin="0")
    assert resp.status_code == 422
    assert client.get(f"/admin/org/{GEN}").status_code == 200


def test_revoking_a_lost_phones_key_stops_its_signatures(units, app, client):
    phone = units[GEN]
    with app.app_context():
        fingerprint = db.session.scalars(select(SigningKey.fingerprint)
                                         .where(SigningKey.org == GEN)).one()
    token = log_in_as(client, "boss", PASSWORD)
    resp = post(client, f"/admin/org/{GEN}/keys/{fingerprint}/revoke", token, reason="手机丢失")
    assert resp.status_code == 302
    with app.app_context():
        key = db.session.get(SigningKey, fingerprint)
        assert key is not None and key.revoked_at is not None
        entry = db.session.get(LogEntry, key.revoked_at)
        assert entry is not None and b"key.revoked" in entry.note
        assert "手机丢失".encode() in entry.note

    with pytest.raises(ApiError) as refused:
        phone.declare(code_for(GEN, 1), description(10_000))
    assert refused.value.body["code"] == "key_revoked"
    html = page(client, f"/admin/org/{GEN}")[1]
    assert "已注销" in html


def test_an_api_token_is_shown_once_works_and_can_be_revoked(units, app, client):
    token = log_in_as(client, "boss", PASSWORD)
    resp = post(client, f"/admin/org/{GEN}/tokens", token, label="ERP 对接")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 201


    secret = re.search(r'<code id="token-value">([^<]+)</code>', html)[1]
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/batches", headers=bearer).status_code == 200
    again = page(client, f"/admin/org/{GEN}")[1]
    assert secret not in again and "ERP 对接" in again  # never shown again
    with app.app_context():
        made = [t for t in access.tokens_of(db.session, GEN) if t.label == "ERP 对接"][0]
        ident = access.token_id(made)
    assert post(client, f"/admin/org/{GEN}/tokens/{ident}/revoke", token).status_code == 302
    assert api.get("/api/v1/batches", headers=bearer).status_code == 401
    assert post(client, f"/admin/org/{GEN}/tokens/zzzz/revoke", token).status_code == 404


def test_nobody_reaches_another_organisations_people(units, app, client):
    token = log_in_as(client, "boss2", PASSWORD)
    with app.app_context():
        fingerprint = db.session.scalars(select(SigningKey.fingerprint)
                                         .where(SigningKey.org == GEN)).one()
    assert client.get(f"/admin/org/{GEN}").status_code == 404
    assert post(client, f"/admin/org/{GEN}/people", token, username="mole",
                display_name="x", password="long-enough-1").status_code == 404
    assert post(client, f"/admin/org/{GEN}/keys/{fingerprint}/revoke", token).status_code == 404
    assert post(client, f"/admin/org/{GEN}/people/boss/deactivate", token).status_code == 404
    # its own key list does not take another organisation's key either
    resp = post(client, f"/admin/org/{OTHER_GEN}/keys/{fingerprint}/revoke", token)
    assert resp.status_code == 404
    with app.app_context():
        key = db.session.get(SigningKey, fingerprint)
        assert key is not None and key.revoked_at is None
        assert db.session.scalar(select(access.User).where(access.User.username == "mole")) is None


def test_a_member_who_is_not_admin_is_refused(units, client):
    token = log_in_as(client, "clerk", PASSWORD)
    assert client.get("/admin/").status_code == 403
    assert client.get(f"/admin/org/{GEN}").status_code == 403
    assert post(client, f"/admin/org/{GEN}/people", token, username="mole",
                display_name="x", password="long-enough-1").status_code == 403
    assert "单位管理" not in page(client, "/generator/")[1]


def test_a_regulator_reads_its_regions_units_only(units, client):
    token = log_in_as(client, "inspector", PASSWORD)
    status, html = page(client, "/admin/")
    assert status == 200 and "椒江小微企业1号" in html and "杭州市生态环境局" not in html
    status, html = page(client, f"/admin/org/{GEN}")
    assert status == 200 and 'id="people"' not in html and 'id="tokens"' not in html
    assert post(client, f"/admin/org/{GEN}/people", token, username="mole",
                display_name="x", password="long-enough-1").status_code == 403
    far = client.application.test_client()
    log_in_as(far, "far", PASSWORD)
    assert far.get(f"/admin/org/{GEN}").status_code == 404


def log_size(app) -> int:
    with app.app_context():
        size = db.session.scalar(select(LogEntry.idx).order_by(LogEntry.idx.desc()).limit(1))
        db.session.remove()
    return size


PERMIT = {"number": "台危废经第0101号", "valid_from": "2026-01-01", "valid_to": "2030-12-31",
          "codes": "HW08 HW49", "activities": ["collect", "store"], "capacity_t": "5000"}


def test_a_regulator_records_a_permit_of_its_region_only(units, app, client):
    token = log_in_as(client, "inspector", PASSWORD)
    assert 'action="/admin/org/' + COL + '/permits"' in page(client, f"/admin/org/{COL}")[1]
    before = log_size(app)
    # refused, said in the person's words, nothing signed
    for form, code, words in [
            ({"valid_from": "2026-06-01", "valid_to": "2026-01-01"}, 422, "早于"),
            ({"number": "  "}, 422, "请填写许可证编号"),
            ({"valid_to": "2026-02-30"}, 422, "日期格式"),
            ({"activities": []}, 422, "经营方式")]:
        resp = post(client, f"/admin/org/{COL}/permits", token, **{**PERMIT, **form})
        html = resp.get_data(as_text=True)
        assert resp.status_code == code and 'id="admin-error"' in html, (form, resp.status_code)
        assert words in html, form
    assert log_size(app) == before
    resp = post(client, f"/admin/org/{COL}/permits", token, **PERMIT)
    assert resp.status_code == 302
    assert "台危废经第0101号" in page(client, f"/admin/org/{COL}")[1]
    with app.app_context():
        permit = db.session.scalars(select(Permit).where(Permit.number == PERMIT["number"])).one()
        assert (permit.org, permit.valid_to, permit.capacity_t) == (COL, "2030-12-31", 5000)
        entry = db.session.scalars(select(LogEntry).order_by(LogEntry.idx.desc())).first()
        assert entry.kind == "permit.granted" and entry.stream == f"org:{COL}"
        db.session.remove()
    again = post(client, f"/admin/org/{COL}/permits", token, **PERMIT)
    assert again.status_code == 409 and "已记录过这个许可证编号" in again.get_data(as_text=True)
    # another region's regulator does not even see the unit
    far = app.test_client()
    far_token = log_in_as(far, "far", PASSWORD)
    resp = post(far, f"/admin/org/{COL}/permits", far_token, **{**PERMIT, "number": "杭1"})
    assert resp.status_code == 404
    # an enterprise's admin records no permits, not even its own
    boss = app.test_client()
    boss_token = log_in_as(boss, "boss", PASSWORD)
    assert post(boss, f"/admin/org/{GEN}/permits", boss_token,
                **{**PERMIT, "number": "自己1"}).status_code == 403
    assert log_size(app) == before + 1


def test_the_operator_registers_a_unit_and_records_its_permit(units, app, client):
    token = log_in_as(client, "root", PASSWORD)
    new = make_uscc("331003", 55)
    resp = post(client, "/admin/organisations", token, uscc=new, name="黄岩再生资源利用有限公司",
                region="331003", roles=["disposer"], contact="陈工", phone="0576-1234567")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/admin/org/{new}")
    assert "331003 黄岩区" in page(client, f"/admin/org/{new}")[1]
    resp = post(client, f"/admin/org/{new}/permits", token, number="浙危废经第0055号",
                valid_from="2026-01-01", valid_to="2030-12-31", codes="HW48 321-026-48",
                activities=["utilise"], capacity_t="3000")
    assert resp.status_code == 302
    with app.app_context():
        org = db.session.get(Organisation, new)
        assert org is not None and org.roles == "disposer"
        permit = db.session.scalars(select(Permit).where(Permit.org == new)).one()
        assert permit.capacity_t == 3000 and "HW48" in permit.codes.split()


def test_a_bad_registration_is_refused_and_logs_nothing(units, app, client):
    token = log_in_as(client, "root", PASSWORD)
    with app.app_context():
        size = db.session.scalar(select(LogEntry.idx).order_by(LogEntry.idx.desc()).limit(1))
    for form in [
        {"uscc": "91331002MA2XXXXXX1", "name": "坏代码", "region": "331002",
         "roles": ["generator"]},
        {"uscc": make_uscc("331002", 77), "name": "无类型", "region": "331002"},
        {"uscc": make_uscc("331002", 78), "name": "坏区划", "region": "99",
         "roles": ["generator"]},
        {"uscc": GEN, "name": "重复", "region": "331002", "roles": ["generator"]},
        {"uscc": make_uscc("331002", 79), "name": "", "region": "331002",
         "roles": ["generator"]},
    ]:
        resp = post(client, "/admin/organisations", token, **form)
        html = resp.get_data(as_text=True)
        assert 400 <= resp.status_code < 500 and 'id="admin-error"' in html, form
        assert form["name"] in html or not form["name"]  # the form keeps what was typed
    with app.app_context():
        assert db.session.scalar(select(LogEntry.idx).order_by(LogEntry.idx.desc())
                                 .limit(1)) == size


def test_only_the_operator_registers_units(units, client):
    token = log_in_as(client, "inspector", PASSWORD)
    resp = post(client, "/admin/organisations", token, uscc=make_uscc("331002", 60),
                name="x", region="331002", roles=["generator"])
    assert resp.status_code == 403


def test_a_collectors_admin_registers_a_vehicle_a_generators_cannot(units, app, client):
    token = log_in_as(client, "fleet", PASSWORD)
    resp = post(client, f"/admin/org/{COL}/vehicles", token, plate="浙j12345",
                transport_permit="浙交运管许可台字331002000101号")
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(Vehicle, "浙J12345") is not None
    other = app.test_client()
    token = log_in_as(other, "boss", PASSWORD)
    resp = post(other, f"/admin/org/{GEN}/vehicles", token, plate="浙J99999",
                transport_permit="x")
    assert resp.status_code == 403


def test_forms_without_the_csrf_token_are_refused(units, app, client):
    log_in_as(client, "boss", PASSWORD)
    resp = client.post(f"/admin/org/{GEN}/people", data={
        "username": "mole", "display_name": "x", "password": "long-enough-1"})
    assert resp.status_code in (400, 403)
    with app.app_context():
        assert db.session.scalar(select(access.User).where(access.User.username == "mole")) is None

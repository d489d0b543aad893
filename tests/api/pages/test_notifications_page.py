"""The 提醒 page and the header badge: a pickup request shows as an unread count on every page
of the collector, the list says what it is in Chinese (English on request), opening one marks it
read and goes to its page, "all read" clears the badge; other organisations see nothing."""

from __future__ import annotations

from tests.api.lifecycle import COLLECTOR, GENERATORS, code_for, description
from tests.api.logins import csrf_of, log_in_as, region_with_people

PASSWORD = "correct horse battery staple"


def test_badge_list_and_mark_read(app):
    r = region_with_people(app, {"driver": COLLECTOR, "other": GENERATORS[1]}, PASSWORD)
    b1 = code_for(GENERATORS[0], 1)
    r[GENERATORS[0]].declare(b1, description(50_000))
    r[GENERATORS[0]].request("POST", "/api/v1/pickups",
                             {"collector": COLLECTOR, "batches": [b1]})
    r[GENERATORS[0]].declare(code_for(GENERATORS[0], 2), description(1_000))
    r[GENERATORS[0]].request("POST", "/api/v1/pickups",
                             {"collector": COLLECTOR, "batches": [code_for(GENERATORS[0], 2)]})
    c = app.test_client()
    log_in_as(c, "driver", PASSWORD)
    home = c.get("/collector/").get_data(as_text=True)
    assert 'id="unread-badge">2</span>' in home
    page = c.get("/notifications/").get_data(as_text=True)
    assert page.count("新的收运预约") == 2 and page.count("未读</span>") == 2
    assert "2 个批次" not in page and "1 个批次待收运" in page
    first = page.split('name="id" value="')[1].split('"')[0]
    opened = c.post("/notifications/read", data={"id": first, "open": "/collector/",
                                                 "csrf_token": csrf_of(page)})
    assert opened.status_code == 302 and opened.headers["Location"] == "/collector/"
    page = c.get("/notifications/").get_data(as_text=True)
    assert 'id="unread-badge">1</span>' in page
    c.post("/notifications/read", data={"csrf_token": csrf_of(page)})
    page = c.get("/notifications/").get_data(as_text=True)
    assert "unread-badge" not in page and "未读</span>" not in page
    c.get("/lang/en")
    english = c.get("/notifications/").get_data(as_text=True)
    assert "New pickup request" in english and "Manifest " in english

    other = app.test_client()
    log_in_as(other, "other", PASSWORD)
    theirs = other.get("/notifications/").get_data(as_text=True)
    assert "没有提醒" in theirs and "unread-badge" not in theirs
    assert app.test_client().get("/notifications/").status_code == 302  # to the log-in


def test_handover_notices_link_to_the_readers_own_page_with_the_masses(app):
    """整批拒收, 部分拒收 and 重量差异 open the reader's own page for the batch (a collector's
    round, not the generator's pages that answer it 403), and a 重量差异 says both masses and
    the difference."""
    from tests.api.lifecycle import DISPOSER, manifest

    gen = GENERATORS[0]
    r = region_with_people(app, {"driver": COLLECTOR, "boss": gen}, PASSWORD)
    heavy, part = code_for(gen, 1), code_for(gen, 2)
    for code in (heavy, part):
        r[gen].declare(code, description(120_000))
        r[gen].release(code, COLLECTOR, 120_000, manifest(1))
        r[COLLECTOR].accept(code, gen, 120_000, manifest(1))
        r[COLLECTOR].release(code, DISPOSER, 120_000, manifest(2))
    r[DISPOSER].accept(heavy, COLLECTOR, 100_000, manifest(2))  # 20 kg less: beyond tolerance
    r[DISPOSER].refuse(part, COLLECTOR, manifest(2), "两桶渗漏", refused_mass_g=19_500)
    driver = app.test_client()
    log_in_as(driver, "driver", PASSWORD)
    page = driver.get("/notifications/").get_data(as_text=True)
    assert "重量差异" in page and "部分拒收" in page
    assert f"批次 {heavy}（联单 {manifest(2)}）：交出 120 千克，接收 100 千克，相差 20 千克" in page
    assert f"批次 {part}（联单 {manifest(2)}）：拒收 19.5 千克，原因：两桶渗漏" in page
    assert 'name="open" value="/generator/' not in page
    differences = page.split('data-event="handover.refused_or_different"')[1:]
    assert len(differences) == 2
    assert all('name="open" value="/collector/"' in d.split("</li>")[0] for d in differences)
    assert driver.get("/collector/").status_code == 200
    boss = app.test_client()
    log_in_as(boss, "boss", PASSWORD)
    page = boss.get("/notifications/").get_data(as_text=True)
    differences = page.split('data-event="handover.refused_or_different"')[1:]
    assert len(differences) == 2
    assert all('name="open" value="/generator/#handover-alerts"' in d.split("</li>")[0]
               for d in differences)
    assert "相差 20 千克" in page
    boss.get("/lang/en")
    english = boss.get("/notifications/").get_data(as_text=True)
    assert "released 120 kg, received 100 kg, a difference of 20 kg" in english

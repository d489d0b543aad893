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

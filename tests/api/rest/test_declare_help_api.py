"""GET /api/v1/catalogue/suggest: the declare form's finder over HTTP, on both databases."""

from __future__ import annotations

import pytest

from tests.api.lifecycle import GENERATORS, build_region, code_for, description

GEN = GENERATORS[0]


def bearer(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token}"}


@pytest.fixture
def prior(app):
    r = build_region(app, generators=1)
    r[GEN].declare(code_for(GEN, 1, "90040506"), description(1_000, "900-405-06", "废活性炭"))
    return r


def test_previous_first_then_the_regions_with_the_true_total(client, prior):
    answer = client.get("/api/v1/catalogue/suggest?q=活性炭", headers=bearer(prior[GEN])).json
    assert [(i["code"], i["why"]) for i in answer["items"][:2]] == [
        ("900-405-06", "previous"), ("900-039-49", "region")]
    assert answer["total"] == 11 and answer["items"][1]["name"] == "废活性炭"
    page = client.get("/api/v1/catalogue/suggest?q=废矿物油&offset=24&limit=12",
                      headers=bearer(prior[GEN])).json
    assert (page["total"], page["offset"], len(page["items"])) == (33, 24, 9)
    start = client.get("/api/v1/catalogue/suggest", headers=bearer(prior[GEN])).json
    assert start["items"][0]["code"] == "900-405-06"


def test_bad_paging_is_a_clear_error_and_a_login_is_needed(client, prior):
    bad = client.get("/api/v1/catalogue/suggest?q=油&limit=0", headers=bearer(prior[GEN]))
    assert bad.status_code == 422 and "limit" in bad.json["errors"]["query"]
    assert client.get("/api/v1/catalogue/suggest?q=油").status_code == 401

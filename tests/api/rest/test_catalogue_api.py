"""The catalogue API names its edition and chooses it by the day the waste was generated."""

from __future__ import annotations

from pathlib import Path

from api.extensions import db
from ledger.custody.editions import import_edition

FIXTURE = Path(__file__).parents[2] / "data" / "catalogue"


def load_fixture(app) -> None:
    with app.app_context():
        import_edition(db.session, "2025", "2025-01-01",
                       catalogue_csv=(FIXTURE / "hw_catalogue_fixture.csv").read_text("utf-8"),
                       exemptions_csv=(FIXTURE / "hw_exemptions_fixture.csv").read_text("utf-8"),
                       successors_csv=(FIXTURE / "hw_successors_fixture.csv").read_text("utf-8"))


def test_editions_say_the_edition_in_force_is_not_loaded_until_imported(client, app):
    body = client.get("/api/v1/catalogue/editions").json
    assert [e["edition"] for e in body["editions"]] == ["2021"]
    assert body["in_force"] == {
        "edition": "2025", "effective_from": "2025-01-01", "order": "生态环境部等五部门令第36号",
        "loaded": False, "used": "2021",
        "import_command": "waste-ledger catalogue import hw_catalogue_2025.csv --edition 2025 "
                          "--effective 2025-01-01 --exemptions hw_exemptions_2025.csv"}
    assert client.get("/api/v1/catalogue?q=活性炭").json["edition"] == "2021"
    load_fixture(app)
    body = client.get("/api/v1/catalogue/editions").json
    assert [e["edition"] for e in body["editions"]] == ["2021", "2025"]
    assert body["in_force"]["loaded"] and body["in_force"]["import_command"] is None


def test_search_and_lookup_use_the_edition_of_the_generation_day(client, app):
    load_fixture(app)
    assert client.get("/api/v1/catalogue?q=活性炭").json["edition"] == "2025"
    old = client.get("/api/v1/catalogue?q=900-252&generated_on=2024-05-01").json
    assert old["edition"] == "2021" and old["items"][0]["code"] == "900-252-12"
    assert client.get("/api/v1/catalogue?q=900-252").json["items"] == []
    gone = client.get("/api/v1/catalogue/900-252-12")
    assert gone.status_code == 404 and gone.json["code"] == "waste_code_superseded"
    assert client.get("/api/v1/catalogue/900-252-12?edition=2021").json["edition"] == "2021"
    assert client.get("/api/v1/catalogue/321-901-48").json["description"].startswith("【测试】")
    missing = client.get("/api/v1/catalogue/900-039-49?edition=2016")
    assert (missing.status_code, missing.json["code"]) == (404, "catalogue_edition_unknown")
    bad = client.get("/api/v1/catalogue/900-039-49?generated_on=2024-13-01")
    assert (bad.status_code, bad.json["code"]) == (422, "generated_on_invalid")


def test_an_identified_code_is_described_as_such(client):
    body = client.get("/api/v1/catalogue/900-000-49").json
    assert body["identified"] is True and body["category"] == "HW49"
    assert body["hazards"] == [] and body["category_name"] == "其他废物"
    assert client.get("/api/v1/catalogue/900-039-49").json["identified"] is False

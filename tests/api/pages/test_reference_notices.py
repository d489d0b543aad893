"""Pages that need an official list loaded with `waste-ledger reference import` say, until it
is, that it is not loaded and the exact command that loads it, instead of an empty list: the
disposer's 利用/处置方式 picker and the general industrial solid waste declare form."""

from __future__ import annotations

import re
from pathlib import Path

from api.extensions import db
from ledger.custody.reference import GENERAL, METHODS, import_list
from tests.api.lifecycle import DISPOSER, GENERATORS
from tests.api.logins import log_in_as, region_with_people

PASSWORD = "correct horse battery"
FIXTURES = Path(__file__).parents[2] / "data" / "reference"


def tag(html: str, element_id: str) -> str:
    match = re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*>', html)
    assert match, element_id
    return match.group(0)


def load(app, name: str) -> None:
    with app.app_context():
        import_list(db.session, name,
                    (FIXTURES / f"{name}_fixture.csv").read_text(encoding="utf-8-sig"),
                    source="test fixture")
        db.session.commit()
        db.session.remove()


def test_the_disposer_page_says_the_method_list_is_not_loaded_and_how_to_load_it(app, client):
    region_with_people(app, {"disposer": DISPOSER}, PASSWORD)
    log_in_as(client, "disposer", PASSWORD)
    html = client.get("/collector/disposer").get_data(as_text=True)
    note = html[html.index('id="methods-note"'):]
    note = note[:note.index("</p>")]
    assert "利用/处置方式代码表尚未载入" in note
    assert ("<code>waste-ledger reference import disposal_methods.csv --list "
            "disposal_methods</code>") in note
    assert " hidden" not in tag(html, "methods-note")
    assert " hidden" in tag(html, "dispose-code-wrap")  # no empty picker
    assert " hidden" not in tag(html, "dispose-code-other-wrap")  # the code by hand
    load(app, METHODS)
    html = client.get("/collector/disposer").get_data(as_text=True)
    assert " hidden" in tag(html, "methods-note")
    assert " hidden" not in tag(html, "dispose-code-wrap")
    client.get("/lang/en")
    html = client.get("/collector/disposer").get_data(as_text=True)
    assert "list of 利用/处置方式 codes is not loaded" in html


def test_the_general_waste_form_says_the_list_is_not_loaded_and_how_to_load_it(app, client):
    region_with_people(app, {"boss": GENERATORS[0]}, PASSWORD)
    log_in_as(client, "boss", PASSWORD)
    html = client.get("/generator/declare").get_data(as_text=True)
    help_ = html[html.index('id="general-help"'):]
    help_ = help_[:help_.index("</p>")]
    assert "一般工业固体废物代码表尚未载入" in help_
    assert ("<code>waste-ledger reference import general_waste.csv --list "
            "general_waste</code>") in help_
    assert '<datalist id="general-codes"></datalist>' in html
    load(app, GENERAL)
    html = client.get("/generator/declare").get_data(as_text=True)
    assert "尚未载入，没有可选的代码" not in html and "按已载入的一般工业固体废物代码表填写" in html
    assert '<option value="900-001-S99">' in html

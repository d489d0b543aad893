"""`waste-ledger reference` (the official 利用/处置方式 and general solid waste lists, loaded by
the operator) and `waste-ledger org facility` (storage facilities), on both databases."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from api.extensions import db
from ledger.custody.projections import StorageFacility
from ledger.custody.uscc import make_uscc

FIXTURES = Path(__file__).parents[2] / "data" / "reference"


def test_lists_say_they_are_not_loaded_then_load_validated(cli, tmp_path):
    init = cli("init").output.splitlines()
    # init names each list that is not loaded, what goes without it, and the exact command
    (methods,) = [line for line in init if "reference list disposal_methods" in line]
    assert "is NOT loaded" in methods and methods.endswith(
        "Load the official list with: "
        "waste-ledger reference import disposal_methods.csv --list disposal_methods")
    (general,) = [line for line in init if "reference list general_waste" in line]
    assert "is NOT loaded" in general and general.endswith(
        "waste-ledger reference import general_waste.csv --list general_waste")
    listed = cli("reference", "list").output
    assert "reference list disposal_methods" in listed and "is NOT loaded" in listed
    assert "waste-ledger reference import general_waste.csv --list general_waste" in listed
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,method\nX1,名称,焚烧\n", encoding="utf-8")
    out = cli("reference", "import", str(bad), "--list", "disposal_methods")
    assert out.exit_code != 0 and "line 2: method must be 利用 or 处置" in out.output
    for name in ("disposal_methods", "general_waste"):
        out = cli("reference", "import", str(FIXTURES / f"{name}_fixture.csv"), "--list", name)
        assert out.exit_code == 0, out.output
        assert out.output.startswith(f"loaded: {name}")
    listed = cli("reference", "list").output
    assert "disposal_methods: 2 rows, loaded" in listed
    assert "general_waste: 1 rows, loaded" in listed
    init = cli("init").output
    assert "reference list disposal_methods: 2 rows, loaded" in init
    assert not [line for line in init.splitlines()
                if line.startswith("reference list") and "NOT loaded" in line]


def test_the_operator_registers_a_storage_facility(cli, app):
    cli("init")
    org = make_uscc("331002", 4343)
    assert cli("org", "add", org, "--name", "台州市某化工厂", "--region", "331002",
               "--role", "generator").exit_code == 0
    out = cli("org", "facility", org, "TS001", "--name", "危废仓库", "--type", "贮存库",
              "--capacity-kg", "20000")
    assert out.exit_code == 0 and "storage facility registered at index" in out.output
    bad = cli("org", "facility", org, "TS002", "--name", "x", "--type", "仓库",
              "--capacity-kg", "1")
    assert bad.exit_code != 0 and "贮存库" in bad.output
    with app.app_context():
        rows = db.session.scalars(select(StorageFacility)).all()
        assert [(r.org, r.code, r.capacity_kg) for r in rows] == [(org, "TS001", 20_000)]
        db.session.remove()

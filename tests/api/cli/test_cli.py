"""The waste-ledger command: init, keygen, checkpoint, export and verify, end to end."""

import json
import os
import stat

from sqlalchemy import select, text

from api.extensions import db
from ledger import migrations
from ledger.audit.models import Declaration, DeclarationLine, Plan
from ledger.custody.exemptions import ExemptionClaim
from ledger.custody.projections import Batch, CarrierLeg, Handover
from ledger.custody.uscc import make_uscc
from ledger.tlog.checkpoints import parse_checkpoint
from ledger.tlog.entries import parse_entry
from ledger.tlog.log import log_head
from ledger.tlog.models import LogEntry
from ledger.tlog.notes import Signer, parse_vkey


def test_init_is_idempotent_and_prints_the_operator_key(cli):
    out = cli("init")
    assert out.exit_code == 0
    assert "already initialised" in out.output
    vkey = out.output.split("operator vkey: ")[1].strip()
    assert parse_vkey(vkey).name == "waste-ledger.local/log"


def test_db_commands_show_and_upgrade_the_schema_revision(cli, app):
    head = migrations.heads()[0]
    assert cli("db", "current").output == f"{head} (head)\n"
    history = cli("db", "history").output.splitlines()
    assert history[0].startswith(f"{migrations.history()[0].down_revision or '<base>'} -> {head} "
                                 "(head): ")
    assert history[-1].startswith("<base> -> 0001")
    assert cli("db", "upgrade").output == f"schema already at {head}\n"
    with app.app_context():  # a database made before migrations: tables, no version
        db.session.execute(text("DROP TABLE alembic_version"))
        db.session.commit()
        db.session.remove()
    assert cli("db", "current").output.startswith("none: ")
    out = cli("db", "upgrade")
    assert out.exit_code == 0
    assert out.output == ("adopted a database made before migrations\n"
                          f"schema upgraded: <empty> -> {head}\n")
    assert cli("db", "current").output == f"{head} (head)\n"


def test_keygen_writes_a_private_key_only_the_owner_can_read(cli, tmp_path):
    path = tmp_path / "driver.key"
    out = cli("keygen", "collector-driver-1", "-o", str(path))
    assert out.exit_code == 0
    vkey = parse_vkey(out.output.strip().splitlines()[-1])
    assert Signer.from_private_key_text(path.read_text()).verifier == vkey
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = cli("keygen", "collector-driver-1", "-o", str(path))
    assert again.exit_code != 0 and "not overwriting" in again.output


def test_keygen_rejects_a_bad_name(cli, tmp_path):
    out = cli("keygen", "bad name", "-o", str(tmp_path / "x.key"))
    assert out.exit_code != 0 and "key_name_invalid" in out.output


def test_checkpoint_export_verify_round_trip(cli, app, tmp_path):
    out = cli("checkpoint")
    assert out.exit_code == 0
    from api.runtime import log_config

    cp = parse_checkpoint(out.output.encode(), log_config(app).operator.verifier)
    assert cp.size == 1
    export = tmp_path / "export"
    assert cli("export", str(export)).exit_code == 0
    assert (export / "entries.bin").exists()
    result = cli("verify", str(export), "--quiet")
    assert result.exit_code == 0 and result.output.startswith("OK: 1 entries")
    (export / "entries.bin").write_bytes(b"\x00\x00\x00\x05hello")
    result = cli("verify", str(export), "--quiet")
    assert result.exit_code == 1 and result.output.startswith("FAIL")


def test_seed_demo_builds_a_verifiable_district_and_rebuild_matches(cli, app, tmp_path):
    out = cli("seed-demo", "--enterprises", "6", "--months", "2")
    assert out.exit_code == 0, out.output
    # with the smelter of the dross exemption and the carrier of the three-party manifest
    assert "seeded 14 organisations" in out.output
    export = tmp_path / "export"
    assert cli("export", str(export)).exit_code == 0
    verified = cli("verify", str(export), "--quiet")
    assert verified.exit_code == 0 and verified.output.startswith("OK: ")
    check = cli("rebuild", "--check")
    assert check.exit_code == 0 and "projections identical" in check.output
    # The demo has the region's special cases: dross utilised under the exemption (no gap),
    # and a waste found hazardous by identification.
    gaps = cli("gaps", "--type", "exemption_misfit", "--type", "permit_violation",
               "--format", "json")
    assert gaps.exit_code == 0  # the output begins with the "scanning" line of stderr
    found, _ = json.JSONDecoder().raw_decode(gaps.output, gaps.output.index("["))
    assert found == []
    with app.app_context():
        claims = db.session.scalars(select(ExemptionClaim)).all()
        assert sorted((c.item, c.stage, c.fits) for c in claims) == [(22, "利用", True)] * 2
        dross = db.session.get(Batch, claims[0].batch)
        assert (dross.waste_code, dross.state) == ("321-026-48", "disposed")
        # a carrier's leg, and the refused part of a partial refusal back with its enterprise
        legs = db.session.scalars(select(CarrierLeg)).all()
        assert len(legs) == 2 and all(leg.arrived_at is not None for leg in legs)
        part = db.session.scalars(select(Handover.refused_part).where(
            Handover.refused_part.is_not(None))).one()
        returned = db.session.get(Batch, part)
        assert (returned.state, returned.holder, returned.mass_g) == (
            "declared", returned.generator, 15_000)
        assert db.session.scalar(select(Batch.code).where(Batch.waste_code == "900-000-49"))
        # The district declares per container (一物一码): one container per code, and three
        # drums declared together share a lot reference.
        lots: dict[str, list[int]] = {}
        for entry in db.session.scalars(select(LogEntry).where(
                LogEntry.kind.in_(("batch.declared", "batch.consolidated")))):
            data = parse_entry(entry.note).data
            assert data["container"]["count"] == 1, entry.stream
            if "lot" in data:
                lots.setdefault(data["lot"]["ref"], []).append(data["lot"]["no"])
        assert list(lots.values()) == [[1, 2, 3]]
        # every enterprise filed its plan; the fourth (简化管理) declared the last quarter
        # from the pre-filled figures, on time (docs/plans.md)
        plans = db.session.scalars(select(Plan)).all()
        assert len(plans) == 6 and {p.frequency for p in plans} == {"quarterly", "yearly"}
        (declared,) = db.session.scalars(select(Declaration)).all()
        assert declared.late is False and declared.org == make_uscc("331002", 1003)
        for line in db.session.scalars(select(DeclarationLine)):  # with own utilisation
            assert line.own_utilisation_g > 0 or line.generated_g == 0
        db.session.remove()


def test_operator_enrols_an_organisation_a_key_a_permit_a_vehicle_a_user(cli, client, tmp_path):
    from ledger.custody.uscc import make_uscc

    org = make_uscc("331002", 4242)
    out = cli("org", "add", org, "--name", "台州市某收集公司", "--region", "331002",
              "--role", "collector", "--contact", "林工", "--phone", "0576-1234567")
    assert out.exit_code == 0, out.output
    bad = cli("org", "add", org[:-1] + "0", "--name", "x", "--region", "331002",
              "--role", "collector")
    assert bad.exit_code != 0 and "uscc" in bad.output
    key_file = tmp_path / "k.key"
    vkey = cli("keygen", "yard-phone", "-o", str(key_file)).output.strip().splitlines()[-1]
    assert cli("org", "key", org, vkey, "--label", "地磅房手机").exit_code == 0
    assert cli("org", "permit", org, "--number", "浙危废经第0042号", "--valid-from",
               "2026-01-01", "--valid-to", "2028-12-31", "--code", "HW49", "--activity",
               "collect", "--capacity-t", "300").exit_code == 0
    assert cli("org", "vehicle", org, "浙J·E0042", "--transport-permit",
               "浙交运管许可台字0042号").exit_code == 0
    body = client.get(f"/api/v1/organisations/{org}").json
    assert body["permits"][0]["number"] == "浙危废经第0042号"
    assert body["keys"][0]["label"] == "地磅房手机"
    out = cli("user", "add", "lin", "--org", org, "--name", "林工", "--password", "s3cret-pass")
    assert out.exit_code == 0, out.output
    token = client.post("/api/v1/auth/token", json={"username": "lin", "password": "s3cret-pass"})
    assert token.status_code == 201 and token.json["org"] == org
    wrong = client.post("/api/v1/auth/token", json={"username": "lin", "password": "nope-nope"})
    assert wrong.status_code == 403 and wrong.json["code"] == "login_failed"
    created = cli("token", "create", "--org", org).output.strip()
    assert client.get("/api/v1/batches", headers={"Authorization": f"Bearer {created}"}
                      ).status_code == 200


def test_init_says_the_catalogue_in_force_is_not_loaded_and_how_to_load_it(cli):
    out = cli("init")
    assert "is NOT loaded" in out.output and "2025" in out.output
    assert ("waste-ledger catalogue import hw_catalogue_2025.csv --edition 2025 "
            "--effective 2025-01-01 --exemptions hw_exemptions_2025.csv") in out.output


def test_init_says_which_years_the_holiday_calendar_knows(cli):
    from ledger.clock import beijing_today
    from ledger.custody.workdays import known_years

    (line,) = [x for x in cli("init").output.splitlines() if x.startswith("holiday calendar")]
    first, last = known_years()
    assert f"knows {first}-{last}" in line
    if beijing_today().year + 1 > last:  # this year's deadlines may reach an unknown year
        assert f"holiday calendar not known for year {last + 1}" in line
        assert "pip install --upgrade chinese-calendar" in line
    else:
        assert line.endswith(", loaded")


def test_catalogue_import_loads_an_edition_and_refuses_a_bad_table(cli, tmp_path):
    from pathlib import Path

    fixture = Path(__file__).parents[2] / "data" / "catalogue"
    table = fixture / "hw_catalogue_fixture.csv"
    exemptions = fixture / "hw_exemptions_fixture.csv"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(table.read_bytes().replace("不是名录条目,T".encode(),
                                               "不是名录条目,X".encode()))
    out = cli("catalogue", "import", str(bad), "--edition", "2025", "--effective",
              "2025-01-01", "--exemptions", str(exemptions))
    assert out.exit_code != 0
    assert "catalogue line 9 (code 321-901-48): unknown hazard characteristics 'X'" in out.output
    assert "NOT loaded" in cli("catalogue", "list").output
    args = ("catalogue", "import", str(table), "--edition", "2025", "--effective", "2025-01-01",
            "--exemptions", str(exemptions), "--successors",
            str(fixture / "hw_successors_fixture.csv"))
    out = cli(*args)
    assert out.exit_code == 0, out.output
    assert "loaded: catalogue 2025, in force from 2025-01-01, 8 codes, 2 exemption rows, " \
           "3 superseded codes" in out.output
    assert "already loaded (identical)" in cli(*args).output
    listed = cli("catalogue", "list").output
    assert "2025  in force from 2025-01-01  imported" in listed
    assert "in force today: 2025" in listed and "NOT" not in listed
    assert "catalogue in force today" not in cli("init").output  # the reference lists may be


def test_cases_lookback_with_nothing_closed_signs_nothing(cli, app):
    with app.app_context():
        before = log_head(db.session).size
        db.session.remove()
    out = cli("cases", "lookback")
    assert out.exit_code == 0, out.output
    assert "lookback: 0 case(s) reopened" in out.output
    with app.app_context():
        assert log_head(db.session).size == before
        db.session.remove()

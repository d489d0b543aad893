"""`waste-ledger rebuild --check` on logs written by every path that writes one: HTTP, the
command line, the demo seed and the simulator (the bulk loader is in tests/bench). A replay
must reproduce every projection exactly, and the export of the same log must verify."""

from __future__ import annotations

from api.demo.seed import in_process
from ledger.custody.uscc import make_uscc
from ledger.tlog.client import Client
from ledger.tlog.notes import Signer
from tests.api.lifecycle import (
    COLLECTOR,
    DISPOSER,
    DISPOSER_PERMIT,
    GENERATORS,
    build_region,
    code_for,
    description,
    manifest,
)
from tests.api.replay import assert_rebuild_identical_and_export_verifies


def test_a_log_written_through_http_rebuilds_identically(app, client, cli, tmp_path):
    region = build_region(app, generators=2)
    gen = region[GENERATORS[0]]
    # A key made on a phone, registered through the API, signs the very next entry.
    phone = Signer.generate("gen-phone-2")
    added = client.post("/api/v1/keys", json={"vkey": phone.verifier.vkey, "label": "新手机"},
                        headers={"Authorization": f"Bearer {gen.token}"})
    assert added.status_code == 201, added.json
    device = Client(gen.transport, gen.org, phone, gen.token)
    code = code_for(gen.org, 1)
    receipt = device.declare(code, description(50_000))
    assert receipt["index"] == added.json["registered_at"] + 1
    device.release(code, COLLECTOR, 50_000, manifest(1), vehicle="浙J·D1234")
    region[COLLECTOR].accept(code, gen.org, 49_800, manifest(1))
    region[COLLECTOR].release(code, DISPOSER, 49_800, manifest(2))
    region[DISPOSER].refuse(code, COLLECTOR, manifest(2), "一桶渗漏", refused_mass_g=9_800)
    region[DISPOSER].dispose(code, "disposal", "D10", DISPOSER_PERMIT, 40_000)
    other = region[GENERATORS[1]]
    parents = []
    for serial in (1, 2):
        c = code_for(other.org, serial)
        other.declare(c, description(10_000))
        other.release(c, COLLECTOR, 10_000, manifest(2 + serial))
        region[COLLECTOR].accept(c, other.org, 10_000, manifest(2 + serial))
        parents.append((c, 10_000))
    drum = code_for(COLLECTOR, 1)
    region[COLLECTOR].consolidate(drum, parents, description(20_000))
    assert_rebuild_identical_and_export_verifies(cli, tmp_path)


def test_a_log_written_by_the_command_line_rebuilds_identically(app, cli, tmp_path):
    org = make_uscc("331002", 4243)
    assert cli("org", "add", org, "--name", "台州市某收集公司", "--region", "331002",
               "--role", "collector", "--role", "generator").exit_code == 0
    key_file = tmp_path / "yard.key"
    vkey = cli("keygen", "yard-phone", "-o", str(key_file)).output.strip().splitlines()[-1]
    out = cli("org", "key", org, vkey, "--label", "地磅房手机")
    assert out.exit_code == 0, out.output
    token = cli("token", "create", "--org", org).output.strip()
    device = Client(in_process(app), org, Signer.from_private_key_text(key_file.read_text()),
                    token)
    device.declare(code_for(org, 1), description(30_000))  # the index right after the key
    assert cli("org", "permit", org, "--number", "浙危废经第4243号", "--valid-from",
               "2026-01-01", "--valid-to", "2028-12-31", "--code", "HW49", "--activity",
               "collect", "--capacity-t", "300").exit_code == 0
    assert cli("org", "vehicle", org, "浙J·E4243", "--transport-permit",
               "浙交运管许可台字4243号").exit_code == 0
    spare = Signer.generate("spare-phone")
    assert cli("org", "key", org, spare.verifier.vkey).exit_code == 0
    assert cli("org", "revoke-key", org, spare.verifier.fingerprint,
               "--reason", "丢失").exit_code == 0
    assert_rebuild_identical_and_export_verifies(cli, tmp_path)


def test_a_demo_district_rebuilds_identically(cli, tmp_path):
    out = cli("seed-demo", "--enterprises", "4", "--months", "2")
    assert out.exit_code == 0, out.output
    assert_rebuild_identical_and_export_verifies(cli, tmp_path)


def test_a_simulated_region_rebuilds_identically(cli, tmp_path):
    out = cli("simulate", "--clean", "--enterprises", "3", "--months", "2",
              "--faults-file", str(tmp_path / "faults.json"))
    assert out.exit_code == 0, out.output
    assert_rebuild_identical_and_export_verifies(cli, tmp_path)

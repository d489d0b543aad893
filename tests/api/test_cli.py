"""The waste-ledger command: init, keygen, checkpoint, export and verify, end to end."""

import os
import stat

from ledger.checkpoints import parse_checkpoint
from ledger.notes import Signer, parse_vkey


def test_init_is_idempotent_and_prints_the_operator_key(cli):
    out = cli("init")
    assert out.exit_code == 0
    assert "already initialised" in out.output
    vkey = out.output.split("operator vkey: ")[1].strip()
    assert parse_vkey(vkey).name == "waste-ledger.local/log"


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


def test_seed_demo_builds_a_verifiable_district_and_rebuild_matches(cli, tmp_path):
    out = cli("seed-demo", "--enterprises", "6", "--months", "2")
    assert out.exit_code == 0, out.output
    assert "seeded 12 organisations" in out.output
    export = tmp_path / "export"
    assert cli("export", str(export)).exit_code == 0
    verified = cli("verify", str(export), "--quiet")
    assert verified.exit_code == 0 and verified.output.startswith("OK: ")
    check = cli("rebuild", "--check")
    assert check.exit_code == 0 and "projections identical" in check.output

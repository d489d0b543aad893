"""The offline verifier catches every kind of tampering with an export."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.tlog import export as bundle
from ledger.tlog.checkpoints import sign_checkpoint
from ledger.tlog.entries import entry_text, parse_entry
from ledger.tlog.log import export_log
from ledger.tlog.merkle import leaf_hash, root
from ledger.tlog.notes import Signer, b64, sign_note
from ledger.tlog.verify import VerificationFailed, main, verify_export
from tests import ed25519_ref
from tests.ledger.factories import make_world

GEN = "91331001MA2B00001A"
COL = "91331001MA2C00002B"
BATCHES = [f"91331001MA2B00001A90003949202611220{i:02d}" for i in range(1, 4)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small, realistic log (SQLite) exported once; each test works on a copy."""
    from sqlalchemy import create_engine

    tmp = tmp_path_factory.mktemp("log")
    engine = create_engine(f"sqlite:///{tmp / 'l.db'}")
    world = make_world(engine, checkpoint_every_entries=4)
    world.register_org(GEN, "椒江某五金厂")
    world.register_org(COL, "台州某环保收集公司")
    gen = world.register_key(GEN, "gen-phone")
    col = world.register_key(COL, "col-driver")
    for b in BATCHES:
        world.act(gen, GEN, b, data={"mass_g": 120000})
        world.act(gen, GEN, b, data={"to": COL})
        world.act(col, COL, b, data={"mass_g": 119500})
    old_key = world.register_key(GEN, "gen-old")
    world.act(old_key, GEN, BATCHES[0], data={"note": "废活性炭"})
    world.revoke_key(GEN, old_key)
    world.act(gen, GEN, BATCHES[0], data={"note": "after revocation"})
    out = tmp / "export"
    export_log(world.session, world.config, str(out))
    world.session.close()
    engine.dispose()
    return out, world, old_key


@pytest.fixture
def export_dir(exported, tmp_path) -> Path:
    src, _, _ = exported
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def records(d: Path) -> list[bytes]:
    with (d / bundle.ENTRIES).open("rb") as fh:
        return list(bundle.read_records(fh))


def write(d: Path, notes: list[bytes], operator: Signer | None = None) -> None:
    """Rewrite the entries (and, to simulate a colluding operator, a matching checkpoint)."""
    with (d / bundle.ENTRIES).open("wb") as fh:
        for n in notes:
            bundle.write_record(fh, n)
    if operator is not None:
        r = root([leaf_hash(n) for n in notes])
        (d / bundle.CHECKPOINT).write_bytes(sign_checkpoint(operator, len(notes), r))
        shutil.rmtree(d / bundle.OLD_CHECKPOINTS)


def failure(d: Path, **kw):
    with pytest.raises(VerificationFailed) as err:
        verify_export(d, **kw)
    return err.value.failure


def test_clean_export_verifies_with_summary(export_dir, capsys):
    assert main([str(export_dir), "--quiet", "--jobs", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("OK: 18 entries, 6 streams, root ")


def test_every_single_byte_change_is_caught(export_dir):
    for name in (bundle.CHECKPOINT, bundle.OPERATOR_VKEY, bundle.ENTRIES):
        path = export_dir / name
        original = path.read_bytes()
        stride = 1 if name != bundle.ENTRIES else 7
        for i in range(0, len(original), stride):
            changed = bytearray(original)
            changed[i] ^= 0x01
            path.write_bytes(bytes(changed))
            with pytest.raises(VerificationFailed):
                verify_export(export_dir)
        path.write_bytes(original)
    verify_export(export_dir)


def test_last_byte_of_every_entry_is_covered(export_dir):
    notes = records(export_dir)
    for i in range(len(notes)):
        changed = list(notes)
        changed[i] = notes[i][:-2] + bytes([notes[i][-2] ^ 1]) + notes[i][-1:]
        write(export_dir, changed)
        with pytest.raises(VerificationFailed):
            verify_export(export_dir)


def test_deleted_entry_is_caught_even_with_a_re_signed_checkpoint(export_dir, exported):
    _, world, _ = exported
    notes = records(export_dir)
    write(export_dir, notes[:9] + notes[10:], world.operator)  # the middle of a stream
    f = failure(export_dir)
    assert f.index == 9 and f.rule == "seq_mismatch"


def test_deleted_last_entry_of_a_stream_is_caught_by_a_held_checkpoint(export_dir, exported,
                                                                         tmp_path):
    """A stream's last entry leaves no gap in its chain; what catches a colluding operator is
    the checkpoint in the receipt someone kept, which the rewritten log cannot match."""
    _, world, _ = exported
    notes = records(export_dir)
    held = tmp_path / "receipt-checkpoint"
    held.write_bytes(sign_checkpoint(world.operator, 11, root([leaf_hash(n) for n in notes[:11]])))
    write(export_dir, notes[:10] + notes[11:], world.operator)  # entry 10 ends its stream
    verify_export(export_dir)
    f = failure(export_dir, checkpoints=[held])
    assert (f.index, f.rule) == (10, "checkpoint_inconsistent")


def test_swapped_entries_are_caught(export_dir, exported):
    _, world, _ = exported
    notes = records(export_dir)
    notes[12], notes[13] = notes[13], notes[12]
    write(export_dir, notes, world.operator)
    f = failure(export_dir)
    assert f.index == 12


def test_inserted_entry_is_caught(export_dir, exported):
    _, world, _ = exported
    notes = records(export_dir)
    intruder = Signer.generate("gen-phone")  # same name as the real key, another key
    e = parse_entry(notes[6])
    payload = dict(e.payload, data={"mass_g": 1})
    forged = sign_note(entry_text(payload), intruder)
    write(export_dir, notes[:7] + [forged] + notes[7:], world.operator)
    f = failure(export_dir)
    assert f.index == 7


def test_forged_signature_is_caught_at_its_index(export_dir, exported):
    _, world, _ = exported
    notes = records(export_dir)
    e = parse_entry(notes[9])
    liar = Signer.generate(e.note.signatures[0].name)
    forged = e.note.text + b"\n" + liar.signature_line(e.note.text).encode()
    write(export_dir, notes[:9] + [forged] + notes[10:], world.operator)
    f = failure(export_dir)
    assert f.index == 9 and f.rule in ("key_unknown", "signature_missing")


def test_bad_signature_by_a_known_key_is_caught(export_dir, exported):
    _, world, _ = exported
    notes = records(export_dir)
    raw = bytearray(notes[15])
    raw[-20] = ord("A") if raw[-20] != ord("A") else ord("B")
    write(export_dir, notes[:15] + [bytes(raw)] + notes[16:], world.operator)
    for jobs in (1, 2):
        f = failure(export_dir, jobs=jobs)
        assert (f.index, f.rule) == (15, "signature_invalid")


def test_revoked_key_used_after_revocation_is_caught(export_dir, exported):
    _, world, old_key = exported
    notes = records(export_dir)
    last = parse_entry(notes[-1])
    payload = {**last.payload, "seq": last.seq + 1, "key": old_key.verifier.fingerprint,
               "prev": __import__("base64").b64encode(last.leaf_hash).decode(),
               "data": {"note": "signed with the revoked key"}}
    write(export_dir, notes + [sign_note(entry_text(payload), old_key)], world.operator)
    f = failure(export_dir)
    assert (f.index, f.rule) == (len(notes), "key_revoked")


def test_truncated_tail_is_caught_against_an_older_checkpoint(export_dir, exported, tmp_path):
    _, world, _ = exported
    held = tmp_path / "held-checkpoint"
    held.write_bytes((export_dir / bundle.CHECKPOINT).read_bytes())  # what a user kept
    notes = records(export_dir)
    write(export_dir, notes[:-3], world.operator)  # operator hides the last three
    verify_export(export_dir)  # consistent on its own...
    f = failure(export_dir, checkpoints=[held])  # ...but not with what the user holds
    assert f.rule == "log_truncated"


def test_forked_history_is_caught_against_an_older_checkpoint(export_dir, exported, tmp_path):
    _, world, _ = exported
    notes = records(export_dir)
    held = tmp_path / "held"
    held.write_bytes(sign_checkpoint(world.operator, 8,
                                     root([leaf_hash(n) for n in notes[:7]] + [b"\x00" * 32])))
    f = failure(export_dir, checkpoints=[held])
    assert (f.index, f.rule) == (7, "checkpoint_inconsistent")


def test_checkpoint_signed_by_the_wrong_key_is_caught(export_dir, exported):
    _, world, _ = exported
    notes = records(export_dir)
    impostor = Signer.generate(world.operator.name)
    r = root([leaf_hash(n) for n in notes])
    (export_dir / bundle.CHECKPOINT).write_bytes(sign_checkpoint(impostor, len(notes), r))
    assert failure(export_dir).rule == "checkpoint_unsigned"


def test_trusting_a_different_operator_key_fails(export_dir):
    other = Signer.generate("waste-ledger.test/log")
    # entry 0 is the first thing the trusted key must have signed (checkpoints are checked
    # with the key in force at their size, known only while replaying)
    found = failure(export_dir, operator=other.verifier)
    assert (found.rule, found.index) == ("key_unknown", 0)


def test_cli_exit_codes(export_dir, capsys, tmp_path):
    notes = records(export_dir)
    write(export_dir, notes[:-1])
    assert main([str(export_dir), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL") and "log_truncated" in out
    assert main([str(tmp_path / "missing")]) == 2


def test_verifier_imports_neither_flask_nor_sqlalchemy(export_dir):
    code = (
        "import sys; from ledger.verify import main; rc = main([sys.argv[1], '--quiet']); "
        "assert 'flask' not in sys.modules and 'sqlalchemy' not in sys.modules, 'imported'; "
        "sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(export_dir)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: ")


def test_export_checkpoints_cannot_mask_a_held_one_of_the_same_size(export_dir, exported,
                                                                    tmp_path):
    _, world, _ = exported
    notes = records(export_dir)
    held = tmp_path / "held-4"
    held.write_bytes(sign_checkpoint(world.operator, 4, b"\x07" * 32))  # what the user holds
    (export_dir / bundle.OLD_CHECKPOINTS).mkdir(exist_ok=True)
    (export_dir / bundle.OLD_CHECKPOINTS / "4").write_bytes(
        sign_checkpoint(world.operator, 4, root([leaf_hash(n) for n in notes[:4]])))
    f = failure(export_dir, checkpoints=[held])
    assert (f.index, f.rule) == (3, "checkpoint_inconsistent")


@pytest.mark.parametrize("name", [bundle.CHECKPOINT, bundle.ENTRIES, bundle.OPERATOR_VKEY])
def test_missing_files_exit_2_with_a_message(export_dir, capsys, name):
    (export_dir / name).unlink()
    assert main([str(export_dir), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: missing in {export_dir}: {name}\n"


def test_a_missing_operator_vkey_is_fine_with_key(export_dir, exported, capsys):
    vkey = (export_dir / bundle.OPERATOR_VKEY).read_text().strip()
    (export_dir / bundle.OPERATOR_VKEY).unlink()
    assert main([str(export_dir), "--quiet", "--key", vkey]) == 0


@pytest.mark.parametrize("content, rule", [
    (b"\xff\xfe not utf-8\n", "operator_key_malformed"),
    (b"two\nlines\n", "operator_key_malformed"),
    (b"no-newline", "operator_key_malformed"),
    (b"bad+vkey\n", "vkey_malformed"),
])
def test_an_operator_vkey_that_is_not_one_utf8_line_fails_with_exit_1(export_dir, capsys,
                                                                       content, rule):
    (export_dir / bundle.OPERATOR_VKEY).write_bytes(content)
    assert main([str(export_dir), "--quiet"]) == 1
    assert capsys.readouterr().out == f"FAIL: {rule}: " + failure(export_dir).message + "\n"
    assert failure(export_dir).rule == rule


def test_identity_R_signature_is_caught_by_the_verifier(export_dir, exported):
    """An entry whose signature has R = identity (made by the key's holder; OpenSSL accepts
    it, libsodium does not) fails the strict rule here as on append, even in worker processes
    and under a checkpoint the operator re-signed."""
    _, world, old_key = exported
    notes = records(export_dir)
    index = next(i for i, n in enumerate(notes) if "\u2014 gen-old ".encode() in n
                 and b"\xe5\xba\x9f" in n)  # the test.note signed by gen-old
    text = notes[index][: notes[index].rindex(b"\n\n") + 1]
    sig = ed25519_ref.sign_with_r(old_key.seed(), text, ed25519_ref.IDENTITY_ENC)
    line = f"\u2014 gen-old {b64(old_key.verifier.key_id + sig)}\n".encode()
    notes[index] = text + b"\n" + line
    write(export_dir, notes, world.operator)
    for jobs in (1, 2):
        f = failure(export_dir, jobs=jobs)
        assert (f.index, f.rule) == (index, "signature_invalid")


def test_nul_in_a_signed_payload_is_caught_by_the_verifier(export_dir, exported):
    """A log that took U+0000 (SQLite did, before the rule) fails verification at that entry."""
    _, world, old_key = exported
    notes = records(export_dir)
    index = next(i for i, n in enumerate(notes) if "废活性炭".encode() in n)
    text = notes[index][: notes[index].rindex(b"\n\n") + 1]
    notes[index] = sign_note(text.replace("废活性炭".encode(), b"\\u0000"), old_key)
    write(export_dir, notes, world.operator)
    f = failure(export_dir)
    assert (f.index, f.rule) == (index, "json_control_char")

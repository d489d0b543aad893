"""A planned change of the operator key: operator.rotated, signed by the old key and the new one.

The append path, the rebuild and the offline verifier all follow it: entries after it are
operator-signed by the new key only, checkpoints from its size on are signed by the new key,
and a log whose operator key file does not match the key in force signs nothing."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from ledger.errors import (
    ConfigurationError,
    Conflict,
    KeyNotAuthorised,
    LedgerError,
    PayloadInvalid,
    RuleViolation,
)
from ledger.tlog import export as bundle
from ledger.tlog.checkpoints import parse_checkpoint, sign_checkpoint, verify_tlog_proof
from ledger.tlog.log import (
    append_entry,
    export_log,
    genesis_operator_vkey,
    issue_checkpoint,
    log_head,
    root_at,
)
from ledger.tlog.models import LogEntry
from ledger.tlog.notes import Signer
from ledger.tlog.rebuild import rebuild
from ledger.tlog.registry import rotate_operator
from ledger.tlog.rules import org_stream
from ledger.tlog.verify import VerificationFailed, verify_export
from tests.ledger.factories import OPERATOR_ORG, World, make_world

GEN = "91331001MA2B00001A"
LATER = "91331001MA2C00002B"


@pytest.fixture
def world(database):
    engine = database.engine()
    w = make_world(engine, checkpoint_every_entries=2)
    w.register_org(GEN, "椒江某五金厂")
    w.gen = w.register_key(GEN, "gen-phone")  # type: ignore[attr-defined]
    w.act(w.gen, GEN, "b:1")  # type: ignore[attr-defined]
    yield w
    w.session.close()
    engine.dispose()


def size(world: World) -> int:
    world.session.rollback()
    return world.session.scalar(select(func.count()).select_from(LogEntry))


def rotate(world: World) -> tuple[Signer, int]:
    new = Signer.generate(world.operator.name)
    receipt = rotate_operator(world.session, world.config, new)
    world.heads[org_stream(OPERATOR_ORG)] = (world.heads[org_stream(OPERATOR_ORG)][0] + 1,
                                             receipt.leaf_hash)
    old = world.config.operator
    world.config = dataclasses.replace(world.config, operator=new)
    # the receipt's checkpoint is the first one signed by the new key
    cp = verify_tlog_proof(receipt.proof, _note_at(world, receipt.index), new.verifier)
    assert cp.size == receipt.index + 1
    with pytest.raises(LedgerError):
        parse_checkpoint(cp.note, old.verifier)
    return old, receipt.index


def _note_at(world: World, index: int) -> bytes:
    note = world.session.scalar(select(LogEntry.note).where(LogEntry.idx == index))
    world.session.rollback()
    return note


def rotation_note(world: World, signers: list[Signer], **data: str) -> bytes:
    old = world.config.operator
    payload = world.draft(old, OPERATOR_ORG, org_stream(OPERATOR_ORG), "operator.rotated",
                          {"old": old.verifier.vkey, **data})
    return world.sign(payload, *signers)


def test_after_a_rotation_only_the_new_key_acts_for_the_operator(world, tmp_path):
    old, at = rotate(world)
    assert log_head(world.session).operator_vkey == world.config.operator.verifier.vkey
    assert genesis_operator_vkey(world.session) == old.verifier.vkey
    world.register_org(LATER, "台州某收集公司")  # signed by the new key, accepted
    before = size(world), root_at(world.session, size(world))
    stale = world.sign(world.draft(old, OPERATOR_ORG, org_stream("91331001MA2D00003C"),
                                   "org.registered", {"name": "x", "region": "331002",
                                                      "roles": ["generator"]}), old)
    with pytest.raises(KeyNotAuthorised) as err:
        append_entry(world.session, stale, world.config)
    assert err.value.code == "key_unknown"
    assert (size(world), root_at(world.session, size(world))) == before
    # checkpoints at sizes after the rotation are the new key's
    cp = parse_checkpoint(issue_checkpoint(world.session, world.config),
                          world.config.operator.verifier)
    assert cp.size > at + 1
    # the replay and the offline verifier follow the rotation from entry 0's key
    assert rebuild(world.session, world.config, commit=False).identical
    out = tmp_path / "export"
    export_log(world.session, world.config, str(out))
    assert (out / bundle.OPERATOR_VKEY).read_text() == old.verifier.vkey + "\n"
    summary = verify_export(out)
    assert summary.entries == size(world)
    # an organisation's receipt from before the rotation still proves, under the new key
    first = _note_at(world, 3)
    again = append_entry(world.session, first, world.config)
    assert not again.created
    assert verify_tlog_proof(again.proof, first, world.config.operator.verifier).size == size(
        world)


def test_the_old_key_file_signs_nothing_after_the_rotation(world):
    old, _ = rotate(world)
    stale_config = dataclasses.replace(world.config, operator=old)
    before = size(world)
    with pytest.raises(ConfigurationError) as err:
        issue_checkpoint(world.session, stale_config)
    assert err.value.code == "operator_key_mismatch"
    note = world.sign(world.draft(world.gen, GEN, "b:1"), world.gen)
    with pytest.raises(ConfigurationError) as err:
        append_entry(world.session, note, stale_config)
    assert err.value.code == "operator_key_mismatch"
    assert size(world) == before


def test_a_rotation_is_appended_only_by_the_new_keys_holder(world):
    """Posted like any entry, with the server still holding the old key, it is refused: the
    server could not sign the checkpoints that follow."""
    new = Signer.generate(world.operator.name)
    note = rotation_note(world, [world.operator, new], vkey=new.verifier.vkey)
    before = size(world)
    with pytest.raises(ConfigurationError) as err:
        append_entry(world.session, note, world.config)
    assert err.value.code == "operator_key_mismatch"
    assert size(world) == before


@pytest.mark.parametrize("case", ["unsigned_by_new", "wrong_old", "other_name", "not_operator",
                                  "same_key"])
def test_a_malformed_rotation_is_refused(world, case):
    new = Signer.generate(world.operator.name)
    signers = [world.operator, new]
    data = {"vkey": new.verifier.vkey}
    expected: tuple[type[LedgerError], str] = (KeyNotAuthorised, "signature_missing")
    if case == "unsigned_by_new":
        signers = [world.operator]
    elif case == "wrong_old":
        data["old"] = new.verifier.vkey
        expected = (RuleViolation, "field_invalid")
    elif case == "other_name":
        other = Signer.generate("another.example/log")
        data["vkey"], signers = other.verifier.vkey, [world.operator, other]
        expected = (PayloadInvalid, "field_invalid")
    elif case == "same_key":
        data["vkey"], signers = world.operator.verifier.vkey, [world.operator]
        expected = (Conflict, "key_already_registered")
    if case == "not_operator":
        payload = world.draft(world.gen, GEN, org_stream(GEN), "operator.rotated",
                              {"old": world.operator.verifier.vkey, **data})
        note = world.sign(payload, world.gen, new)
        expected = (KeyNotAuthorised, "registry_forbidden")
    else:
        note = rotation_note(world, signers, **data)
    before = size(world), log_head(world.session).operator_vkey
    with pytest.raises(expected[0]) as err:
        append_entry(world.session, note, dataclasses.replace(world.config, operator=new))
    assert err.value.code == expected[1], err.value
    assert (size(world), log_head(world.session).operator_vkey) == before


def test_the_verifier_checks_each_checkpoint_with_the_key_in_force_at_its_size(world,
                                                                                tmp_path):
    old, at = rotate(world)
    world.register_org(LATER, "台州某收集公司")
    out = tmp_path / "export"
    export_log(world.session, world.config, str(out))
    new = world.config.operator
    before_root = root_at(world.session, at)
    after_root = root_at(world.session, at + 1)
    forged_before = tmp_path / "before"
    forged_before.write_bytes(sign_checkpoint(new, at, before_root))  # new key, too early
    forged_after = tmp_path / "after"
    forged_after.write_bytes(sign_checkpoint(old, at + 1, after_root))  # old key, too late
    good_before = tmp_path / "good-before"
    good_before.write_bytes(sign_checkpoint(old, at, before_root))
    assert verify_export(out, checkpoints=[good_before]).entries == size(world)
    for forged in (forged_before, forged_after):
        with pytest.raises(VerificationFailed) as err:
            verify_export(out, checkpoints=[forged])
        assert err.value.failure.rule == "checkpoint_unsigned", forged
    # the export's own checkpoint, re-signed with the retired key, is refused too
    (out / bundle.CHECKPOINT).write_bytes(sign_checkpoint(old, size(world),
                                                          root_at(world.session, size(world))))
    with pytest.raises(VerificationFailed) as err:
        verify_export(out)
    assert err.value.failure.rule == "checkpoint_unsigned"

"""Appending entries on SQLite and PostgreSQL: every rule, and a log left unchanged on error."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from ledger.errors import (
    Conflict,
    InvalidInput,
    KeyNotAuthorised,
    LedgerError,
    PayloadInvalid,
    RuleViolation,
    SignatureInvalid,
    TooLarge,
)
from ledger.tlog import merkle
from ledger.tlog.checkpoints import parse_checkpoint, verify_tlog_proof
from ledger.tlog.entries import entry_text
from ledger.tlog.log import consistency_proof, inclusion_proof, issue_checkpoint, log_head, root_at
from ledger.tlog.models import Checkpoint, LogEntry
from ledger.tlog.notes import Signer, VerifierKey, b64, sign_note
from ledger.tlog.rules import org_stream
from tests import ed25519_ref
from tests.ledger.factories import OPERATOR_ORG, World, make_world

GEN = "91331001MA2B00001A"  # a small workshop (generator)
COL = "91331001MA2C00002B"  # a collector
BATCH = "91331001MA2B00001A900039492026112200" + "1"


@pytest.fixture
def world(database):
    engine = database.engine()
    w = make_world(engine)
    yield w
    w.session.close()
    engine.dispose()


@pytest.fixture
def parties(world: World):
    world.register_org(GEN, "椒江某五金厂")
    world.register_org(COL, "台州某环保收集公司")
    return world.register_key(GEN, "gen-phone"), world.register_key(COL, "col-driver")


def size(world: World) -> int:
    world.session.rollback()
    return world.session.scalar(select(func.count()).select_from(LogEntry))


def rejected(world: World, raw: bytes, exc_type: type[LedgerError], code: str) -> LedgerError:
    """Assert the append fails with exactly this error and the log does not change."""
    before = size(world)
    head_before = log_head(world.session).root
    with pytest.raises(exc_type) as err:
        world.append(raw)
    assert err.value.code == code, err.value
    assert size(world) == before
    assert log_head(world.session).root == head_before
    return err.value


def test_genesis_is_the_operator_registering_itself(world: World):
    first = world.session.get(LogEntry, 0)
    assert first.kind == "org.registered" and first.org == OPERATOR_ORG
    assert log_head(world.session).operator_org == OPERATOR_ORG


def test_receipt_proves_inclusion_under_a_signed_checkpoint(world, parties):
    gen_key, _ = parties
    raw = world.sign(world.draft(gen_key, GEN, BATCH, data={"mass_g": 125000}), gen_key)
    receipt = world.append(raw)
    assert receipt.created
    cp = verify_tlog_proof(receipt.proof, raw, world.operator.verifier)
    assert cp.size == receipt.index + 1
    assert receipt.leaf_hash == merkle.leaf_hash(raw)
    assert world.session.get(LogEntry, receipt.index).note == raw  # exact bytes kept


def test_same_note_twice_is_idempotent(world, parties):
    gen_key, _ = parties
    raw = world.sign(world.draft(gen_key, GEN, BATCH), gen_key)
    first = world.append(raw)
    n = size(world)
    again = world.append(raw)
    assert (again.index, again.leaf_hash, again.proof) == (first.index, first.leaf_hash,
                                                            first.proof)
    assert not again.created
    assert size(world) == n


def test_wrong_seq_is_a_conflict(world, parties):
    gen_key, _ = parties
    world.act(gen_key, GEN, BATCH)
    err = rejected(world, world.sign(world.draft(gen_key, GEN, BATCH, seq=5), gen_key),
                   Conflict, "seq_mismatch")
    assert err.field == "seq"


def test_replayed_position_is_a_conflict(world, parties):
    gen_key, _ = parties
    stale = world.draft(gen_key, GEN, BATCH)
    world.act(gen_key, GEN, BATCH, data={"n": 1})
    stale["data"] = {"n": 2}  # same seq 0, different content
    rejected(world, world.sign(stale, gen_key), Conflict, "seq_mismatch")


def test_wrong_prev_is_a_conflict(world, parties):
    gen_key, _ = parties
    world.act(gen_key, GEN, BATCH)
    bad = world.draft(gen_key, GEN, BATCH, prev=b"\x07" * 32)
    rejected(world, world.sign(bad, gen_key), Conflict, "prev_mismatch")


def test_time_may_not_go_backwards_in_a_stream(world, parties):
    gen_key, _ = parties
    world.act(gen_key, GEN, BATCH)
    early = world.draft(gen_key, GEN, BATCH, t=world.clock.ms - 1000)
    rejected(world, world.sign(early, gen_key), RuleViolation, "time_before_previous")


def test_time_far_in_the_future_is_refused_but_offline_delay_is_fine(world, parties):
    gen_key, _ = parties
    future = world.draft(gen_key, GEN, BATCH, t=world.clock.ms + 301_000)
    rejected(world, world.sign(future, gen_key), RuleViolation, "time_in_future")
    hours_old = world.draft(gen_key, GEN, BATCH, t=world.clock.ms - 6 * 3600_000)
    world.append(world.sign(hours_old, gen_key))  # signed offline hours ago: accepted


def test_unregistered_key_is_refused(world, parties):
    stranger = Signer.generate("stranger")
    raw = world.sign(world.draft(stranger, GEN, BATCH), stranger)
    rejected(world, raw, KeyNotAuthorised, "key_unknown")


def test_key_of_another_organisation_is_refused(world, parties):
    _, col_key = parties
    raw = world.sign(world.draft(col_key, GEN, BATCH), col_key)  # collector claims to be GEN
    rejected(world, raw, KeyNotAuthorised, "key_wrong_org")


def test_forged_signature_is_refused(world, parties):
    gen_key, _ = parties
    raw = bytearray(world.sign(world.draft(gen_key, GEN, BATCH), gen_key))
    sig_at = raw.rindex(b" ") + 10
    raw[sig_at] = ord("A") if raw[sig_at] != ord("A") else ord("B")
    rejected(world, bytes(raw), SignatureInvalid, "signature_invalid")


def test_payload_changed_after_signing_is_refused(world, parties):
    gen_key, _ = parties
    raw = world.sign(world.draft(gen_key, GEN, BATCH, data={"mass_g": 125000}), gen_key)
    forged = raw.replace(b"125000", b"100000")
    rejected(world, forged, SignatureInvalid, "signature_invalid")


def test_signature_by_a_different_key_than_named_is_refused(world, parties):
    gen_key, _ = parties
    second = world.register_key(GEN, "gen-pc")
    raw = world.sign(world.draft(gen_key, GEN, BATCH), second)  # names gen_key, signed by pc
    rejected(world, raw, KeyNotAuthorised, "signature_missing")


def test_two_signatures_by_the_same_key_are_refused(world, parties):
    gen_key, _ = parties
    raw = world.sign(world.draft(gen_key, GEN, BATCH), gen_key, gen_key)
    rejected(world, raw, RuleViolation, "signature_duplicate")


def test_cosignature_by_unknown_key_is_ignored_as_c2sp_says(world, parties):
    gen_key, _ = parties
    world.append(world.sign(world.draft(gen_key, GEN, BATCH), gen_key, Signer.generate("x")))


def test_revoked_key_can_sign_its_revocation_but_nothing_after(world, parties):
    gen_key, _ = parties
    world.revoke_key(GEN, gen_key, by=gen_key, by_org=GEN)
    raw = world.sign(world.draft(gen_key, GEN, BATCH), gen_key)
    rejected(world, raw, KeyNotAuthorised, "key_revoked")


def test_organisation_registers_its_own_second_key(world, parties):
    gen_key, _ = parties
    pc = world.register_key(GEN, "gen-pc", by=gen_key, by_org=GEN)
    world.act(pc, GEN, BATCH)


def test_only_the_operator_registers_organisations(world, parties):
    gen_key, _ = parties
    raw = world.sign(world.draft(gen_key, GEN, org_stream("91331001MA2D00003C"),
                                 "org.registered", {"name": "x"}), gen_key)
    rejected(world, raw, KeyNotAuthorised, "registry_forbidden")


def test_an_organisation_cannot_register_keys_for_another(world, parties):
    gen_key, _ = parties
    evil = Signer.generate("evil")
    raw = world.sign(world.draft(gen_key, GEN, org_stream(COL), "key.registered",
                                 {"vkey": evil.verifier.vkey}), gen_key)
    rejected(world, raw, KeyNotAuthorised, "registry_forbidden")


def test_a_key_is_registered_once(world, parties):
    gen_key, _ = parties
    raw = world.sign(world.draft(world.operator, OPERATOR_ORG, org_stream(COL),
                                 "key.registered", {"vkey": gen_key.verifier.vkey}),
                     world.operator)
    rejected(world, raw, Conflict, "key_already_registered")


def test_registry_kinds_stay_in_org_streams(world, parties):
    k = Signer.generate("k")
    raw = world.sign(world.draft(world.operator, OPERATOR_ORG, BATCH, "key.registered",
                                 {"vkey": k.verifier.vkey}), world.operator)
    rejected(world, raw, RuleViolation, "registry_stream")


def test_org_stream_must_start_with_registration(world):
    raw = world.sign(world.draft(world.operator, OPERATOR_ORG, org_stream(GEN), "test.note"),
                     world.operator)
    rejected(world, raw, RuleViolation, "org_not_registered")


@pytest.mark.parametrize("data", [{}, {"key": 5}, {"reason": "lost"}])
def test_a_revocation_without_a_string_data_key_is_key_unknown(world, parties, data):
    """docs/ledger-format.md 4.5: no field_missing for key.revoked, key_unknown on data.key."""
    err = rejected(world, world.sign(world.draft(world.operator, OPERATOR_ORG, org_stream(GEN),
                                                 "key.revoked", data), world.operator),
                   RuleViolation, "key_unknown")
    assert err.field == "data.key"


@pytest.mark.parametrize("subject", ["91331002000000019a", "9133100200000001", "x", ""])
def test_an_org_stream_names_an_18_character_subject_whatever_the_kind(world, subject):
    """docs/ledger-format.md 5.4 D2b: checked for every kind in an org: stream (index > 0)."""
    raw = world.sign(world.draft(world.operator, OPERATOR_ORG, "org:" + subject, "test.note"),
                     world.operator)
    assert rejected(world, raw, PayloadInvalid, "field_invalid").field == "stream"


def test_unknown_kind_is_refused(world, parties):
    gen_key, _ = parties
    raw = world.sign(world.draft(gen_key, GEN, BATCH, "custody.teleported"), gen_key)
    rejected(world, raw, PayloadInvalid, "kind_unknown")


def test_oversized_and_garbage_notes_change_nothing(world, parties):
    gen_key, _ = parties
    big = world.sign(world.draft(gen_key, GEN, BATCH, data={"notes": "废" * 30000}), gen_key)
    rejected(world, big, TooLarge, "too_large")
    rejected(world, b"\xff\xfe garbage", LedgerError, "note_not_utf8")
    rejected(world, "x\n\n— a b\n".encode(), LedgerError, "note_malformed")


def test_non_canonical_payload_is_refused_not_fixed(world, parties):
    gen_key, _ = parties
    body = entry_text(world.draft(gen_key, GEN, BATCH)).replace(b'{"data"', b'{ "data"')
    rejected(world, sign_note(body, gen_key), PayloadInvalid, "payload_not_canonical")


def test_database_refuses_to_edit_or_delete_entries(world):
    for stmt in ("UPDATE log_entries SET kind = 'x'", "DELETE FROM log_entries"):
        with pytest.raises(DBAPIError):
            world.session.execute(text(stmt))
        world.session.rollback()
    assert size(world) == 1


def test_stored_tree_gives_the_same_roots_and_valid_proofs(world, parties):
    gen_key, _ = parties
    for i in range(20):
        world.act(gen_key, GEN, f"{BATCH[:-1]}{i % 10}", data={"i": i})
    world.session.rollback()
    leaves = world.session.scalars(select(LogEntry.leaf_hash).order_by(LogEntry.idx)).all()
    n = len(leaves)
    assert log_head(world.session).root == merkle.root(leaves)
    for m in (1, 2, 5, 8, 13, n):
        r = root_at(world.session, m)
        assert r == merkle.root(leaves[:m])
        for i in {0, m // 2, m - 1}:
            assert merkle.verify_inclusion(i, m, leaves[i], inclusion_proof(world.session, i, m),
                                           r)
        assert merkle.verify_consistency(m, n, r, merkle.root(leaves),
                                         consistency_proof(world.session, m, n))


def test_checkpoints_are_stored_every_n_entries_and_on_request(database):
    engine = database.engine()
    world = make_world(engine, checkpoint_every_entries=5, checkpoint_every_ms=10**12)
    world.register_org(GEN)
    key = world.register_key(GEN, "k")
    for i in range(10):
        world.act(key, GEN, BATCH, data={"i": i})
    world.session.rollback()
    sizes = world.session.scalars(select(Checkpoint.size).order_by(Checkpoint.size)).all()
    assert sizes == [1, 6, 11]
    world.act(key, GEN, BATCH)
    note = issue_checkpoint(world.session, world.config)
    cp = parse_checkpoint(note, world.operator.verifier)
    assert cp.size == 14 and cp.root == log_head(world.session).root
    world.session.close()
    engine.dispose()


def _resigned(raw: bytes, signer: Signer, signature: bytes) -> bytes:
    """The same note text with ``signer``'s line carrying ``signature`` instead."""
    text = raw[: raw.rindex(b"\n\n") + 1]
    line = f"\u2014 {signer.name} {b64(signer.verifier.key_id + signature)}\n"
    return text + b"\n" + line.encode()


@pytest.mark.parametrize("forge", ["identity_R", "S_plus_L"])
def test_signatures_outside_the_strict_rule_are_refused(world, parties, forge):
    """Made with the key holder's own secret, so the group equation holds; OpenSSL alone would
    accept the identity R, libsodium would not (docs/ledger-format.md 2.8)."""
    gen_key, _ = parties
    raw = world.sign(world.draft(gen_key, GEN, BATCH), gen_key)
    text = raw[: raw.rindex(b"\n\n") + 1]
    if forge == "identity_R":
        sig = ed25519_ref.sign_with_r(gen_key.seed(), text, ed25519_ref.IDENTITY_ENC)
    else:
        good = ed25519_ref.sign(gen_key.seed(), text)
        sig = good[:32] + (int.from_bytes(good[32:], "little") + ed25519_ref.L).to_bytes(
            32, "little")
    assert ed25519_ref.cofactorless_holds(gen_key.verifier.public_key, text, sig)
    rejected(world, _resigned(raw, gen_key, sig), SignatureInvalid, "signature_invalid")
    world.append(raw)  # the ordinary signature of the same text is fine


@pytest.mark.parametrize("point", [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8, sign bit
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1
])
def test_registering_a_small_order_or_non_canonical_key_is_refused(world, parties, point):
    vkey = VerifierKey("weak-phone", bytes.fromhex(point)).vkey
    raw = world.sign(world.draft(world.operator, OPERATOR_ORG, org_stream(GEN),
                                 "key.registered", {"vkey": vkey}), world.operator)
    rejected(world, raw, InvalidInput, "vkey_weak")

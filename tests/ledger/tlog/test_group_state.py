"""Group commit with the group's state read once and its rows written together: the rules of
each entry see the entries before it in the same group (a key registered, used and revoked in
one batch), a refused entry is refused alone with its own error, and what lands is exactly what
appending the entries one by one would have stored (``rebuild --check`` replays it entry by
entry against the database)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ledger.errors import LedgerError
from ledger.tlog import merkle
from ledger.tlog.checkpoints import verify_tlog_proof
from ledger.tlog.entries import entry_text
from ledger.tlog.log import Receipt, append_entries, append_entry, log_head
from ledger.tlog.models import LogEntry, SigningKey
from ledger.tlog.notes import Signer, b64, sign_note
from ledger.tlog.rebuild import rebuild
from ledger.tlog.rules import org_stream
from tests.ledger.factories import OPERATOR_ORG, World, make_world

ORG = "91331001MA2B00001A"
OTHER = "91331001MA2B00002B"


@pytest.fixture
def world(database):
    engine = database.engine()
    w = make_world(engine)
    w.register_org(ORG)
    yield w
    w.session.close()
    engine.dispose()


def _signed(world: World, signer: Signer, org: str, stream: str, kind: str = "test.note",
            data: dict | None = None, **kw) -> bytes:
    """Sign the next entry of ``stream`` and advance the world's idea of its head (as if it
    were accepted: the tests say which ones are not)."""
    note = world.sign(world.draft(signer, org, stream, kind, data, **kw), signer)
    seq = world.draft(signer, org, stream, kind, data, **kw)["seq"]
    world.heads[stream] = (seq, merkle.leaf_hash(note))
    return note


def _codes(outcomes: list) -> list[str]:
    return ["ok" if isinstance(o, Receipt) else o.code for o in outcomes]


def _assert_log_sound(world: World, notes: list[bytes], outcomes: list) -> None:
    world.session.rollback()
    size = log_head(world.session).size
    rows = world.session.execute(select(LogEntry.idx, LogEntry.leaf_hash, LogEntry.note)
                                 .order_by(LogEntry.idx)).all()
    assert [r.idx for r in rows] == list(range(size))
    assert log_head(world.session).root == merkle.root([r.leaf_hash for r in rows])
    for note, outcome in zip(notes, outcomes, strict=True):
        if isinstance(outcome, Receipt):
            verify_tlog_proof(outcome.proof, note, world.operator.verifier)
            assert rows[outcome.index].note == note  # the signed bytes, kept exactly
    world.session.rollback()
    report = rebuild(world.session, world.config, commit=False)
    assert report.identical, report.differences


def test_a_key_registered_used_and_revoked_in_one_batch(world):
    """Registry entries (held back and written together) and handler entries (written at
    once) depend on each other inside one group."""
    reg = org_stream(ORG)
    work = f"{ORG}900039492026120301"
    scale = Signer.generate("scale")
    notes = [
        _signed(world, world.operator, OPERATOR_ORG, reg, "key.registered",
                {"vkey": scale.verifier.vkey, "label": "磅秤"}),
        _signed(world, scale, ORG, work),  # signed by the key registered just before
        _signed(world, scale, ORG, work),
    ]
    # the same public key registered again in the same group: refused alone
    dup = world.sign(world.draft(world.operator, OPERATOR_ORG, reg, "key.registered",
                                 {"vkey": scale.verifier.vkey, "label": "again"}),
                     world.operator)
    notes.append(dup)
    notes.append(_signed(world, world.operator, OPERATOR_ORG, reg, "key.revoked",
                         {"key": scale.verifier.fingerprint, "reason": "lost"}))
    late = world.sign(world.draft(scale, ORG, work), scale)  # after the revocation
    notes.append(late)
    notes.append(_signed(world, world.operator, OPERATOR_ORG, reg, "key.revoked",
                         {"key": scale.verifier.fingerprint, "reason": "twice"}))
    size0 = log_head(world.session).size
    world.session.rollback()
    outcomes = append_entries(world.session, notes, world.config)
    assert _codes(outcomes) == ["ok", "ok", "ok", "key_already_registered", "ok",
                                "key_revoked", "key_already_revoked"]
    assert [o.index for o in outcomes if isinstance(o, Receipt)] == list(
        range(size0, size0 + 4))
    key = world.session.get(SigningKey, scale.verifier.fingerprint)
    assert key is not None and (key.registered_at, key.revoked_at) == (size0, size0 + 3)
    _assert_log_sound(world, notes, outcomes)


def test_registry_entries_only_one_stream_built_and_used_in_one_batch(world):
    """An organisation registered, given a key, and that key registering the next key for its
    own organisation: every rule sees the entries before it in the group, nothing written yet."""
    reg = org_stream(OTHER)
    first, second = Signer.generate("first"), Signer.generate("second")
    notes = [
        _signed(world, world.operator, OPERATOR_ORG, reg, "org.registered",
                {"name": "另一单位", "region": "331002", "roles": ["generator"]}),
        _signed(world, world.operator, OPERATOR_ORG, reg, "key.registered",
                {"vkey": first.verifier.vkey}),
    ]
    # a note whose seq is wrong, in the middle: refused alone
    notes.append(world.sign(world.draft(world.operator, OPERATOR_ORG, reg, "key.registered",
                                        {"vkey": second.verifier.vkey}, seq=7,
                                        prev=bytes(32)), world.operator))
    notes.append(_signed(world, first, OTHER, reg, "key.registered",
                         {"vkey": second.verifier.vkey, "label": "由本单位登记"}))
    notes.append(_signed(world, second, OTHER, reg, "key.revoked",
                         {"key": first.verifier.fingerprint, "reason": "换新"}))
    # signed by the key the entry before revoked: still valid for its own revocation, not after
    notes.append(world.sign(world.draft(first, OTHER, reg, "key.registered",
                                        {"vkey": Signer.generate("third").verifier.vkey}),
                            first))
    # an unknown kind, refused with its own error after the rules passed
    notes.append(world.sign(world.draft(second, OTHER, reg, "no.such.kind"), second))
    outcomes = append_entries(world.session, notes, world.config)
    assert _codes(outcomes) == ["ok", "ok", "seq_mismatch", "ok", "ok", "key_revoked",
                                "kind_unknown"]
    # appended again in one group with a new entry: the first receipts, one new index
    more = _signed(world, second, OTHER, reg, "key.registered",
                   {"vkey": Signer.generate("fourth").verifier.vkey})
    again = append_entries(world.session, [notes[0], more, notes[3], more], world.config)
    assert _codes(again) == ["ok"] * 4
    assert [(r.index, r.created) for r in (again[0], again[2])] == [  # type: ignore[union-attr]
        (outcomes[0].index, False), (outcomes[3].index, False)]  # type: ignore[union-attr]
    assert again[1].created and not again[3].created  # type: ignore[union-attr]
    assert again[1].index == again[3].index  # type: ignore[union-attr]
    _assert_log_sound(world, notes + [notes[0], more, notes[3], more], outcomes + again)


def test_a_batch_that_is_refused_whole_in_a_lone_append_changes_nothing(world):
    reg = org_stream(ORG)
    note = world.sign(world.draft(world.operator, OPERATOR_ORG, reg, "key.revoked",
                                  {"key": "0" * 64, "reason": "x"}), world.operator)
    size0 = log_head(world.session).size
    world.session.rollback()
    with pytest.raises(LedgerError) as caught:
        append_entry(world.session, note, world.config)
    assert caught.value.code == "key_unknown"
    world.session.rollback()
    assert log_head(world.session).size == size0


def test_a_group_of_registry_entries_costs_the_same_statements_whatever_its_size(world):
    """The point of reading the group's state once and writing its rows together: the
    statements under the lock do not grow with the number of entries (docs/benchmarks.md)."""
    from sqlalchemy import event

    def statements_for(n: int, serial: int) -> list[str]:
        org = f"91331001MA2B{serial:05d}X"
        reg = org_stream(org)
        notes = [_signed(world, world.operator, OPERATOR_ORG, reg, "org.registered",
                         {"name": "单位", "region": "331002", "roles": ["generator"]})]
        notes += [_signed(world, world.operator, OPERATOR_ORG, reg, "key.registered",
                          {"vkey": Signer.generate(f"k{i}").verifier.vkey})
                  for i in range(n - 1)]
        seen: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement.split()[0].upper())

        engine = world.session.get_bind()
        event.listen(engine, "before_cursor_execute", record)
        try:
            outcomes = append_entries(world.session, notes, world.config)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert _codes(outcomes) == ["ok"] * n
        return seen

    small, large = statements_for(3, 1), statements_for(40, 2)
    assert len(large) == len(small), (" ".join(small), " ".join(large))
    assert len(large) <= 16, large
    assert "SAVEPOINT" not in large


def test_custody_entries_that_depend_on_each_other_in_one_batch(database):
    """Domain kinds (handlers that read and write projections) after registry entries held
    back in the same group: an organisation registered, its key registered, a batch declared
    with that key and released, all in one request; a release of a batch nobody declared is
    refused alone."""
    from tests.ledger.custody_world import (
        COLLECTOR,
        GENERATORS,
        MANIFEST,
        batch_code,
        description,
        make_region,
    )

    engine = database.engine()
    region = make_region(engine)
    world = region.world
    try:
        org = GENERATORS[7]
        reg = org_stream(org)
        key = Signer.generate("key-new-gen")
        code, other, never = batch_code(org, 1), batch_code(org, 2), batch_code(org, 3)
        release = {"to": COLLECTOR, "mass_g": 120_000, "manifest": MANIFEST,
                   "vehicle": "浙J·D1234"}
        notes = [
            _signed(world, world.operator, OPERATOR_ORG, reg, "org.registered",
                    {"name": "新单位", "region": "331002", "roles": ["generator"]}),
            _signed(world, world.operator, OPERATOR_ORG, reg, "key.registered",
                    {"vkey": key.verifier.vkey, "label": "新设备"}),
            _signed(world, key, org, code, "batch.declared", description("900-039-49", 120_000)),
            _signed(world, key, org, code, "custody.released", release),
            world.sign(world.draft(key, org, never, "custody.released", release), key),
            _signed(world, key, org, other, "batch.declared", description("900-039-49", 5_000)),
        ]
        outcomes = append_entries(world.session, notes, world.config)
        assert _codes(outcomes)[:4] == ["ok"] * 4 and _codes(outcomes)[5] == "ok"
        assert isinstance(outcomes[4], LedgerError)
        _assert_log_sound(world, notes, outcomes)
    finally:
        world.session.close()
        engine.dispose()


def test_the_key_cache_before_the_lock_never_decides_a_signature(world):
    """Public keys are cached per process for the signature maths outside the lock. A wrong
    key cached under a registered key's name and id can neither make a forged signature pass
    nor a good one fail, and a revoked key stays refused although its public key is cached."""
    from ledger.tlog import log as log_module

    reg, work = org_stream(ORG), f"{ORG}900039492026120401"
    scale = Signer.generate("scale")
    world.append(world.sign(world.draft(world.operator, OPERATOR_ORG, reg, "key.registered",
                                        {"vkey": scale.verifier.vkey}), world.operator))
    pair = (scale.verifier.name, scale.verifier.key_id)
    forger = Signer.generate("scale")
    log_module._VERIFIERS[pair] = (forger.verifier,)  # poisoned
    # signed by the scale: accepted (the rules verify against the registered key)
    good = world.sign(world.draft(scale, ORG, work), scale)
    assert world.append(good).created
    # the forger's maths under the scale's name and key id: passes against the poisoned
    # cache before the lock, refused under it
    body = world.draft(scale, ORG, work)
    text = sign_note(entry_text(body), scale).split(b"\n\n")[0] + b"\n"
    forged = text + b"\n" + (f"\u2014 scale {b64(scale.verifier.key_id + forger.sign(text))}\n"
                             .encode())
    with pytest.raises(LedgerError) as refused:
        append_entry(world.session, forged, world.config)
    assert refused.value.code == "signature_invalid"
    log_module._VERIFIERS[pair] = (scale.verifier,)  # the right key, cached
    world.append(world.sign(world.draft(world.operator, OPERATOR_ORG, reg, "key.revoked",
                                        {"key": scale.verifier.fingerprint}), world.operator))
    with pytest.raises(LedgerError) as late:
        append_entry(world.session, world.sign(world.draft(scale, ORG, work), scale),
                     world.config)
    assert late.value.code == "key_revoked"
    _assert_log_sound(world, [good], [append_entry(world.session, good, world.config)])


def test_a_lone_note_posted_again_gets_its_first_receipt(world):
    """A single note is looked up by leaf hash under the lock only: posted again, it is not
    appended twice and gets the receipt of its first index."""
    reg = org_stream(ORG)
    note = _signed(world, world.operator, OPERATOR_ORG, reg, "key.registered",
                   {"vkey": Signer.generate("phone").verifier.vkey})
    first = append_entry(world.session, note, world.config)
    again = append_entry(world.session, note, world.config)
    assert first.created and not again.created
    assert (again.index, again.leaf_hash) == (first.index, first.leaf_hash)
    assert log_head(world.session).size == first.index + 1
    verify_tlog_proof(again.proof, note, world.operator.verifier)

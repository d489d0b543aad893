"""Group commit: appends waiting for the head lock are integrated together, one transaction and
one checkpoint signature per batch, each entry accepted or refused on its own."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ledger.errors import Conflict, LedgerError, SignatureInvalid
from ledger.tlog import merkle
from ledger.tlog.checkpoints import parse_tlog_proof, verify_tlog_proof
from ledger.tlog.db import configure_engine, write_transaction
from ledger.tlog.groupcommit import group_for
from ledger.tlog.log import Receipt, append_entries, append_entry, log_head, read_head
from ledger.tlog.models import Checkpoint, LogEntry
from ledger.tlog.notes import Signer
from tests.ledger.factories import World, make_world

ORG = "91331001MA2B00001A"


@pytest.fixture
def world(database):
    engine = database.engine()
    w = make_world(engine)
    w.register_org(ORG)
    yield w
    w.session.close()
    engine.dispose()


@pytest.fixture
def key(world: World) -> Signer:
    return world.register_key(ORG, "scale")


def _chain(world: World, key: Signer, stream: str, n: int) -> list[bytes]:
    """n signed entries of one stream, seq 0..n-1, chained."""
    notes = []
    for i in range(n):
        notes.append(world.sign(world.draft(key, ORG, stream, data={"i": i}), key))
        world.heads[stream] = (i, merkle.leaf_hash(notes[-1]))
    return notes


def _break_signature(note: bytes) -> bytes:
    """The note with one base64 character inside its last signature changed."""
    forged = bytearray(note)
    forged[-10] = ord("A") if forged[-10] != ord("A") else ord("B")
    return bytes(forged)


def _root_and_size(world: World) -> tuple[bytes, int]:
    world.session.rollback()
    head = log_head(world.session)
    return head.root, head.size


def _assert_proves(world: World, receipt: Receipt, note: bytes) -> int:
    """The receipt proves ``note`` at its index under an operator-signed checkpoint; returns
    the checkpoint's size."""
    cp = verify_tlog_proof(receipt.proof, note, world.operator.verifier)
    assert parse_tlog_proof(receipt.proof).index == receipt.index
    return cp.size


def _assert_no_gap(world: World) -> None:
    world.session.rollback()
    rows = world.session.execute(select(LogEntry.idx, LogEntry.leaf_hash)
                                 .order_by(LogEntry.idx)).all()
    assert [r.idx for r in rows] == list(range(len(rows)))
    assert log_head(world.session).root == merkle.root([r.leaf_hash for r in rows])


def test_a_chain_in_one_batch_lands_in_order_under_one_checkpoint(world, key):
    stream = f"{ORG}900039492026120101"
    notes = _chain(world, key, stream, 5)
    _, before = _root_and_size(world)
    receipts = append_entries(world.session, notes, world.config)
    assert all(isinstance(r, Receipt) and r.created for r in receipts)
    assert [r.index for r in receipts] == list(range(before, before + 5))  # type: ignore[union-attr]
    # one checkpoint signature for the batch: every receipt proves to the batch's end
    assert {_assert_proves(world, r, n) for r, n in zip(receipts, notes, strict=True)} == {
        before + 5}  # type: ignore[arg-type]
    # appended again, each gets a receipt for its first index, against the log as it is now
    for note, first in zip(notes, receipts, strict=True):
        again = append_entry(world.session, note, world.config)
        assert not again.created and again.index == first.index  # type: ignore[union-attr]
        assert _assert_proves(world, again, note) == before + 5
    _assert_no_gap(world)


def test_a_refused_entry_is_refused_alone_and_the_others_land(world, key):
    stream = f"{ORG}900039492026120102"
    good = _chain(world, key, stream, 3)
    forged = _break_signature(good[1])
    other = f"{ORG}900039492026120103"
    wrong_seq = world.sign(world.draft(key, ORG, other, seq=4, prev=bytes(32)), key)
    root0, size0 = _root_and_size(world)
    outcomes = append_entries(world.session, [good[0], wrong_seq, forged, good[1],
                                              good[2]], world.config)
    assert isinstance(outcomes[1], Conflict) and outcomes[1].code == "seq_mismatch"
    assert isinstance(outcomes[2], SignatureInvalid)
    landed = [outcomes[0], outcomes[3], outcomes[4]]
    assert [r.index for r in landed] == [size0, size0 + 1, size0 + 2]  # type: ignore[union-attr]
    for r, n in zip(landed, good, strict=True):
        _assert_proves(world, r, n)  # type: ignore[arg-type]
    root1, size1 = _root_and_size(world)
    assert size1 == size0 + 3 and root1 != root0
    assert world.session.scalars(select(LogEntry.stream).where(LogEntry.idx >= size0)).all() \
        == [stream] * 3  # the refused ones left nothing


def test_a_batch_whose_entries_are_all_refused_changes_nothing(world, key):
    stream = f"{ORG}900039492026120104"
    bad = [world.sign(world.draft(key, ORG, stream, seq=s, prev=bytes(32)), key) for s in (2, 3)]
    root0, size0 = _root_and_size(world)
    checkpoints0 = world.session.scalars(select(Checkpoint.size)).all()
    outcomes = append_entries(world.session, bad, world.config)
    assert [o.code for o in outcomes] == ["seq_mismatch", "seq_mismatch"]  # type: ignore[union-attr]
    assert _root_and_size(world) == (root0, size0)
    assert world.session.scalars(select(Checkpoint.size)).all() == checkpoints0


def test_the_same_note_twice_in_a_batch_and_again_later_has_one_index(world, key):
    stream = f"{ORG}900039492026120105"
    (note,) = _chain(world, key, stream, 1)
    first, again = append_entries(world.session, [note, note], world.config)
    assert isinstance(first, Receipt) and isinstance(again, Receipt)
    assert first.created and not again.created and first.index == again.index
    later = append_entry(world.session, note, world.config)
    assert not later.created and later.index == first.index
    _assert_proves(world, later, note)
    _assert_no_gap(world)


def test_a_signature_by_an_unregistered_key_of_the_same_name_is_refused(world, key):
    impostor = Signer.from_seed(key.name, bytes(32))  # same key name, other key
    stream = f"{ORG}900039492026120106"
    payload = world.draft(key, ORG, stream)
    with pytest.raises(LedgerError) as caught:
        append_entry(world.session, world.sign(payload, impostor), world.config)
    assert caught.value.code in ("signature_missing", "key_wrong_org")
    ok = world.sign(payload, key)
    assert append_entry(world.session, ok, world.config).created


def test_writers_waiting_for_the_lock_are_integrated_in_one_transaction(database, world, key):
    """While another connection holds the head lock, K threads queue their entries; when it is
    let go, one of them integrates all K: one batch, one checkpoint size in every receipt."""
    k = 6
    streams = [f"{ORG}9000394920261202{i:02d}" for i in range(k)]
    notes = [_chain(world, key, s, 1)[0] for s in streams]
    # one broken in the middle of the group: it alone is refused
    notes[2] = _break_signature(notes[2])
    engine = world.session.get_bind()
    group = group_for(engine, world.config)
    results: dict[int, Receipt | BaseException] = {}

    def write(i: int) -> None:
        session = sessionmaker(engine)()
        try:
            results[i] = append_entry(session, notes[i], world.config)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            results[i] = exc
        finally:
            session.close()

    holder_engine = database.engine()
    configure_engine(holder_engine)
    holder = sessionmaker(holder_engine)()
    threads = [threading.Thread(target=write, args=(i,)) for i in range(k)]
    try:
        with write_transaction(holder):
            read_head(holder, lock=True)
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            while len(group._queue) < k and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(group._queue) == k
    finally:
        for t in threads:
            t.join(timeout=60)
        holder.close()
        holder_engine.dispose()
    assert isinstance(results[2], SignatureInvalid)
    accepted = {i: r for i, r in results.items() if isinstance(r, Receipt)}
    assert sorted(accepted) == [0, 1, 3, 4, 5]
    sizes = {_assert_proves(world, r, notes[i]) for i, r in accepted.items()}
    _, size = _root_and_size(world)
    assert sizes == {size}  # one batch, one checkpoint signature
    assert sorted(r.index for r in accepted.values()) == list(range(size - 5, size))
    for i, first in accepted.items():
        again = append_entry(world.session, notes[i], world.config)
        assert (again.index, again.created) == (first.index, False)
    _assert_no_gap(world)

"""Many writers at once: the log never forks and never has a gap, on both databases."""

from __future__ import annotations

import multiprocessing as mp
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ledger.errors import Conflict
from ledger.tlog import merkle
from ledger.tlog.db import configure_engine
from ledger.tlog.entries import entry_text, format_time, prev_field
from ledger.tlog.log import append_entry, log_head
from ledger.tlog.models import LogEntry
from ledger.tlog.notes import Signer, sign_note
from tests.ledger.factories import T0, World, log_config_for_tests, make_world

ORGS = [f"91331001MA2B{i:05d}A" for i in range(4)]


@pytest.fixture
def setup(database):
    """A log with four organisations, each with one key; closed after the test."""
    engine = database.engine()
    world = make_world(engine)
    keys = []
    for org in ORGS:
        world.register_org(org)
        keys.append(world.register_key(org, f"k{org[-6:]}"))
    yield world, keys
    world.session.close()
    engine.dispose()


def _note(key: Signer, org: str, stream: str, seq: int, prev: bytes | None, n: int) -> bytes:
    payload = {"stream": stream, "seq": seq, "org": org, "key": key.verifier.fingerprint,
               "t": format_time(T0), "kind": "test.note", "data": {"n": n}}
    if prev is not None:
        payload["prev"] = prev_field(prev)
    return sign_note(entry_text(payload), key)


def _writer(url, engine_options, seed, name, org, stream, count, results):
    """Append ``count`` entries to one stream from its own connection (thread or process)."""
    from sqlalchemy import create_engine

    config = log_config_for_tests()
    engine = create_engine(url, **engine_options)
    configure_engine(engine)
    session = sessionmaker(engine)()
    key = Signer.from_seed(name, seed)
    prev = None
    for i in range(count):
        raw = _note(key, org, stream, i, prev, i)
        append_entry(session, raw, config)
        prev = merkle.leaf_hash(raw)
    session.close()
    engine.dispose()
    results.append(count)


def _check_log(world: World) -> None:
    world.session.rollback()
    rows = world.session.execute(select(LogEntry.idx, LogEntry.leaf_hash)
                                 .order_by(LogEntry.idx)).all()
    assert [r.idx for r in rows] == list(range(len(rows)))  # no gap, no duplicate
    assert log_head(world.session).root == merkle.root([r.leaf_hash for r in rows])
    assert log_head(world.session).size == len(rows)


def test_threads_appending_to_their_own_streams(database, setup):
    world, keys = setup
    results: list[int] = []
    threads = [
        threading.Thread(target=_writer, args=(
            database.url, database.engine_options, k.seed(), k.name, org,
            f"{org}90003949202611220{i + 1:02d}", 15, results))
        for i, (k, org) in enumerate(zip(keys, ORGS, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [15] * 4
    _check_log(world)


def test_processes_appending_concurrently(database, setup):
    world, keys = setup
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        results = manager.list()
        procs = [
            ctx.Process(target=_writer, args=(
                database.url, database.engine_options, k.seed(), k.name, org,
                f"{org}90003949202611230{i + 1:02d}", 10, results))
            for i, (k, org) in enumerate(zip(keys, ORGS, strict=True))
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        assert [p.exitcode for p in procs] == [0] * 4
        assert list(results) == [10] * 4
    _check_log(world)


def test_racing_for_the_same_stream_position_one_wins_one_conflicts(database, setup):
    world, keys = setup
    stream = f"{ORGS[0]}900039492026112401"
    notes = [_note(keys[0], ORGS[0], stream, 0, None, n) for n in range(6)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(notes))

    def race(raw: bytes) -> None:
        engine = database.engine()
        configure_engine(engine)
        session = sessionmaker(engine)()
        barrier.wait()
        try:
            append_entry(session, raw, world.config)
            outcomes.append("won")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            session.close()
            engine.dispose()

    threads = [threading.Thread(target=race, args=(n,)) for n in notes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1
    assert set(outcomes) - {"won"} <= {"seq_mismatch", "append_race"}
    world.session.rollback()
    assert world.session.scalars(select(LogEntry.seq).where(LogEntry.stream == stream)).all() == [0]
    _check_log(world)

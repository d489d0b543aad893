"""A witness under concurrent add-checkpoint requests, on SQLite and PostgreSQL: exactly one
of the racing checkpoints is cosigned, every other request is told the winner's size (409), and
the witness never moves back (the race c2sp.org/tlog-witness warns about)."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from api.witness import create_witness_app
from ledger.tlog import merkle
from ledger.tlog.checkpoints import sign_checkpoint
from ledger.tlog.cosignatures import format_add_checkpoint
from ledger.tlog.notes import Signer
from ledger.tlog.witness import WitnessConfig, WitnessedLog

LOG = Signer.generate("race.example/log")
LEAVES = [merkle.leaf_hash(bytes([i])) for i in range(16)]


def checkpoint(size: int) -> bytes:
    return sign_checkpoint(LOG, size, merkle.root(LEAVES[:size]))


@pytest.fixture
def witness(database):
    app = create_witness_app(WitnessConfig(Signer.generate("race.example/w"),
                                           {LOG.name: LOG.verifier}),
                             database.url, database.engine_options)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app.extensions["witness_engine"]
    finally:
        server.shutdown()
        thread.join()
        app.extensions["witness_engine"].dispose()


def post(url: str, body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(f"{url}/add-checkpoint", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def race(url: str, bodies: list[bytes]) -> list[tuple[int, bytes]]:
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda b: post(url, b), bodies))


def held_size(engine) -> int:
    with Session(engine) as session:
        return session.get(WitnessedLog, LOG.name).size


def test_racing_checkpoints_one_wins_and_the_witness_never_moves_back(witness):
    url, engine = witness
    # first contact: sizes 3 and 5 race from old size 0
    bodies = [format_add_checkpoint(0, [], checkpoint(3 if i % 2 else 5)) for i in range(12)]
    answers = race(url, bodies)
    assert [s for s, _ in answers].count(200) == 1, answers
    winner = held_size(engine)
    assert winner in (3, 5)
    assert all((s, b) == (409, f"{winner}\n".encode()) for s, b in answers if s != 200)
    # from the held size, sizes 9 and 12 race with valid proofs
    bodies = [format_add_checkpoint(winner, merkle.consistency_proof(winner, LEAVES[:n]),
                                    checkpoint(n)) for n in (9, 12) * 6]
    answers = race(url, bodies)
    assert [s for s, _ in answers].count(200) == 1, answers
    now = held_size(engine)
    assert now in (9, 12)
    assert all((s, b) == (409, f"{now}\n".encode()) for s, b in answers if s != 200)
    # an older checkpoint, sent from the held size, is refused: it would move the witness back
    status, _ = post(url, format_add_checkpoint(now, [], checkpoint(3)))
    assert status == 400 and held_size(engine) == now

"""Proofs from tiles alone (ledger.tlog.tiles.TileHashReader), on SQLite and PostgreSQL: over the
database's tiles, over a directory `tiles export` wrote and over /log/ on a real HTTP server on
loopback, each compared with what /api/v1/proofs/* answers; tiles that lie are caught."""

from __future__ import annotations

import base64
import json
import threading
import urllib.request

import pytest
from werkzeug.serving import make_server

from ledger.errors import InvalidInput, LedgerError, NotFound
from ledger.tlog import merkle
from ledger.tlog.log import issue_checkpoint
from ledger.tlog.models import LogEntry
from ledger.tlog.notes import Signer
from ledger.tlog.tiles import (
    DirectoryTiles,
    StoredTiles,
    TileHashReader,
    checked_reader,
    export_tiles,
    tile_source,
)
from tests.ledger.factories import OPERATOR_ORG, make_world, operator

STREAM = "91331001MA2B00001A9000394920261122001"
SIZE = 520  # two full level-0 tiles, a partial one of 8, a level-1 tile of 2
INDEXES = [0, 1, 255, 256, 300, 511, 512, SIZE - 1]
OLD = [1, 2, 7, 255, 256, 257, 300, 512, SIZE]


@pytest.fixture
def served(database, tmp_path):
    """A log of 520 entries, its tiles exported to a directory, the app on a port."""
    from api import create_app
    from api.extensions import db

    engine = database.engine()
    world = make_world(engine)
    for i in range(SIZE - 1):  # entry 0 is the log's genesis
        world.act(world.operator, OPERATOR_ORG, STREAM, data={"i": i})
    issue_checkpoint(world.session, world.config)
    export_tiles(world.session, world.config, str(tmp_path / "tiles"), entries=False)
    key_file = tmp_path / "operator.key"
    key_file.write_text(operator().private_key_text() + "\n")
    app = create_app({"TESTING": True, "DATABASE_URL": database.url,
                      "SQLALCHEMY_ENGINE_OPTIONS": database.engine_options,
                      "OPERATOR_KEY_FILE": str(key_file), "SECRET_KEY": "x"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield world, f"http://127.0.0.1:{server.server_port}", tmp_path / "tiles"
    finally:
        server.shutdown()
        thread.join()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        world.session.close()
        engine.dispose()


def api_proof(base: str, path: str) -> tuple[bytes, list[bytes]]:
    with urllib.request.urlopen(f"{base}/api/v1/proofs/{path}", timeout=30) as resp:
        body = json.load(resp)
    return base64.b64decode(body["root"]), [base64.b64decode(h) for h in body["hashes"]]


def assert_matches_api(reader: TileHashReader, base: str) -> None:
    assert reader.size == SIZE
    for index in INDEXES:
        for size in (index + 1, 300, SIZE):
            if index >= size:
                continue
            root, hashes = api_proof(base, f"inclusion?index={index}&size={size}")
            assert reader.root(size) == root, (index, size)
            assert reader.inclusion_path(index, size) == hashes, (index, size)
    for old in OLD:
        for new in (old, 300, 513, SIZE):
            if old > new:
                continue
            root, hashes = api_proof(base, f"consistency?old={old}&new={new}")
            assert reader.consistency_path(old, new) == hashes, (old, new)
            assert merkle.verify_consistency(old, new, reader.root(old), root, hashes)


def test_proofs_from_tiles_are_the_apis_from_every_source(served):
    world, base, directory = served
    stored = TileHashReader(StoredTiles(world.session, SIZE), SIZE)
    assert_matches_api(stored, base)
    for location in (str(directory), f"{base}/log"):
        cp, reader = checked_reader(tile_source(location), world.config.operator.verifier)
        assert cp.size == SIZE and reader.root() == cp.root
        assert_matches_api(reader, base)
    # one fetch per tile, however many proofs: level 0 tiles 0..2 and the level-1 tile
    assert sorted(reader._tiles) == [(0, 0), (0, 1), (0, 2), (1, 0)]


def test_tiles_that_lie_or_are_missing_are_refused(served):
    world, base, directory = served
    verifier = world.config.operator.verifier
    tile = directory / "tile/0/001"
    good = tile.read_bytes()
    tile.write_bytes(good[:32] + bytes(32) + good[64:])  # leaf 257's hash changed
    # the root does not read that tile (the level-1 tile covers it): the reader opens, but a
    # proof through the lying tile does not verify against the signed root; others still do
    cp, reader = checked_reader(DirectoryTiles(directory), verifier)
    leaf = lambda i: world.session.get(LogEntry, i).leaf_hash  # noqa: E731
    assert not merkle.verify_inclusion(300, SIZE, leaf(300), reader.inclusion_path(300), cp.root)
    assert merkle.verify_inclusion(3, SIZE, leaf(3), reader.inclusion_path(3), cp.root)
    edge = directory / "tile/0/002.p/8"  # the partial tile the root reads
    edge_bytes = edge.read_bytes()
    edge.write_bytes(bytes(32) + edge_bytes[32:])
    with pytest.raises(InvalidInput) as err:
        checked_reader(DirectoryTiles(directory), verifier)
    assert err.value.code == "tiles_inconsistent"
    edge.write_bytes(edge_bytes)
    tile.write_bytes(good[:-1])  # torn
    with pytest.raises(InvalidInput) as err:
        TileHashReader(DirectoryTiles(directory), SIZE) \
            .inclusion_path(300)
    assert err.value.code == "tile_size_wrong"
    tile.unlink()
    with pytest.raises(NotFound) as err2:
        TileHashReader(DirectoryTiles(directory), SIZE).inclusion_path(300)
    assert err2.value.code == "tile_not_found"
    # a proof beyond the tiles' checkpoint or outside the tree is refused, not guessed
    _cp, reader = checked_reader(tile_source(f"{base}/log"), verifier)
    with pytest.raises(NotFound) as err2:
        reader.inclusion_path(3, SIZE + 1)
    assert err2.value.code == "size_beyond_log"
    with pytest.raises(LedgerError) as err3:
        reader.consistency_path(301, 300)
    assert err3.value.code == "size_out_of_range"
    with pytest.raises(LedgerError) as err3:
        tile_source("http://127.0.0.1:9/log").checkpoint()  # nothing listens on port 9
    assert err3.value.code == "tile_source_failed"


def test_a_checkpoint_not_signed_by_the_operator_is_refused(served):
    world, _base, directory = served
    stranger = Signer.generate(world.config.operator.verifier.name).verifier
    with pytest.raises(LedgerError):
        checked_reader(DirectoryTiles(directory), stranger)

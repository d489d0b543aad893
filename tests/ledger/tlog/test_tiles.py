"""C2SP tlog-tiles from the stored tree, on SQLite and PostgreSQL: paths, tiles, bundles."""

from __future__ import annotations

import pytest

from ledger.errors import ConfigurationError, NotFound, TooLarge
from ledger.tlog import merkle
from ledger.tlog.entries import MAX_BUNDLE_ENTRY, entry_text
from ledger.tlog.log import log_head, root_at
from ledger.tlog.models import LogEntry
from ledger.tlog.notes import sign_note
from ledger.tlog.rules import org_stream
from ledger.tlog.tiles import (
    Tile,
    parse_tile_path,
    read_tile,
    tile_available,
    tiles_for_size,
    unbundle,
)
from tests.ledger.factories import OPERATOR_ORG, World, log_config_for_tests, make_world

STREAM = "91331001MA2B00001A9000394920261122001"


@pytest.fixture
def world(database):
    engine = database.engine()
    w = make_world(engine)
    yield w
    w.session.close()
    engine.dispose()


def grow(world: World, count: int) -> None:
    for i in range(count):
        world.act(world.operator, OPERATOR_ORG, STREAM, data={"i": i})


@pytest.mark.parametrize("path,tile", [
    ("0/000", Tile(0, 0, 256)),
    ("0/x001/x234/067", Tile(0, 1234067, 256)),
    ("1/005.p/17", Tile(1, 5, 17)),
    ("63/x001/000.p/255", Tile(63, 1000, 255)),
    ("entries/x002/999.p/1", Tile(None, 2999, 1)),
])
def test_tile_paths_parse_in_their_one_spelling(path, tile):
    assert parse_tile_path(path) == tile
    assert tile.path == f"tile/{path}"


@pytest.mark.parametrize("path", [
    "0/0", "0/0000", "0/x000/005", "0/001/002", "0/x001", "00/000", "64/000", "-1/000",
    "0/000.p/0", "0/000.p/256", "0/000.p/07", "0/000.p/", "0/000.p", "data/000", "0/",
    "entries/", "0/x001.p/3/004", "0/ 000", "0/٠٠٠",
])
def test_malformed_tile_paths_are_not_found(path):
    with pytest.raises(NotFound) as err:
        parse_tile_path(path)
    assert err.value.code == "tile_path_invalid"


def test_the_specs_example_of_size_70000():
    """c2sp.org/tlog-tiles: 273 full level-0 tiles, a partial of 112, one full level-1 tile,
    a partial level-1 tile of 17 and a partial level-2 tile of 1 (plus the bundles)."""
    tiles = [t for t in tiles_for_size(70_000) if t.level is not None]
    assert [t for t in tiles if t.level == 0 and t.full] == [Tile(0, n, 256) for n in range(273)]
    assert [t for t in tiles if not (t.level == 0 and t.full)] == [
        Tile(0, 273, 112), Tile(1, 0, 256), Tile(1, 1, 17), Tile(2, 0, 1)]
    bundles = [t for t in tiles_for_size(70_000) if t.level is None]
    assert bundles == [Tile(None, n, 256) for n in range(273)] + [Tile(None, 273, 112)]
    assert [t.path for t in tiles_for_size(256)] == [
        "tile/0/000", "tile/entries/000", "tile/1/000.p/1"]
    assert list(tiles_for_size(0)) == []


def test_tiles_are_the_stored_tree(world):
    grow(world, 299)  # 300 entries: a full tile, a partial of 44 and a level-1 tile of 1
    size = log_head(world.session).size
    assert size == 300
    rows = world.session.query(LogEntry).order_by(LogEntry.idx).all()
    leaves = [r.leaf_hash for r in rows]

    full = read_tile(world.session, Tile(0, 0, 256), size)
    assert full == b"".join(leaves[:256])
    assert read_tile(world.session, Tile(0, 1, 44), size) == b"".join(leaves[256:300])
    # a level-1 hash is the root of a whole level-0 tile: MTH of 256 leaves
    assert read_tile(world.session, Tile(1, 0, 1), size) == merkle.root(leaves[:256])
    assert read_tile(world.session, Tile(1, 0, 1), size) == root_at(world.session, 256)
    # a partial tile is the prefix of the tile it grows into
    assert read_tile(world.session, Tile(0, 0, 10), size) == full[: 10 * 32]

    bundle = read_tile(world.session, Tile(None, 1, 44), size)
    assert unbundle(bundle) == [r.note for r in rows[256:300]]
    assert bundle[:2] == len(rows[256].note).to_bytes(2, "big")
    assert [merkle.leaf_hash(n) for n in unbundle(bundle)] == leaves[256:300]


def test_tiles_beyond_the_log_are_not_served(world):
    grow(world, 9)  # 10 entries
    size = log_head(world.session).size
    for tile in (Tile(0, 0, 256), Tile(0, 0, 11), Tile(None, 0, 11), Tile(1, 0, 1),
                 Tile(0, 1, 1)):
        assert not tile_available(tile, size)
        with pytest.raises(NotFound) as err:
            read_tile(world.session, tile, size)
        assert err.value.code == "tile_not_found"
    assert len(read_tile(world.session, Tile(0, 0, 10), size)) == 320


def test_a_note_of_65535_bytes_fits_a_bundle_and_one_more_byte_does_not(world):
    """The size limit is the bundle's uint16: 65,535 bytes are accepted, 65,536 refused."""
    def note_of(length: int, seq: int) -> bytes:
        payload = world.draft(world.operator, OPERATOR_ORG, org_stream("91331001MA2B00001A"),
                              "org.registered", {"name": "某厂", "pad": ""}, seq=seq)
        base = len(sign_note(entry_text(payload), world.operator))
        payload["data"]["pad"] = "a" * (length - base)
        raw = sign_note(entry_text(payload), world.operator)
        assert len(raw) == length
        return raw

    size = log_head(world.session).size
    with pytest.raises(TooLarge):
        world.append(note_of(MAX_BUNDLE_ENTRY + 1, 0))
    assert log_head(world.session).size == size
    receipt = world.append(note_of(MAX_BUNDLE_ENTRY, 0))
    bundle = read_tile(world.session, Tile(None, 0, receipt.index + 1), receipt.index + 1)
    assert len(unbundle(bundle)[-1]) == MAX_BUNDLE_ENTRY


def test_a_log_cannot_be_configured_beyond_the_bundle_limit():
    with pytest.raises(ConfigurationError) as err:
        log_config_for_tests(max_note_bytes=MAX_BUNDLE_ENTRY + 1)
    assert err.value.code == "max_note_bytes_invalid"

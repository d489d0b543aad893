"""The log as C2SP tlog-tiles (c2sp.org/tlog-tiles): hash tiles and entry bundles.

A tile at level L, number N, holds the hashes of tree level 8·L with indexes
[N·256, N·256 + W): at level 0 the leaf hashes, above that the roots of whole tiles of the level
below. Those are exactly the perfect subtrees the database already keeps (``log_entries.leaf_hash``
and ``merkle_nodes`` at level 8·L), so a tile is one range query and never a computation. An
entry bundle is the level-0 range of notes, each with a big-endian uint16 length prefix, the
notes byte for byte as signed (which is why a note may not exceed 65,535 bytes).

Every hash of a tile is final once it exists: a full tile never changes, and a partial tile of
width W is the first W hashes of the full one. Tiles are served for any width the stored tree
covers (``tile_available``); what a client may *rely* on is only a tile its checkpoint needs.
"""

from __future__ import annotations

import os
import re
import struct
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import InvalidInput, LedgerError, NotFound, PayloadInvalid
from ledger.tlog import merkle
from ledger.tlog.checkpoints import SignedCheckpoint, parse_checkpoint
from ledger.tlog.entries import MAX_BUNDLE_ENTRY
from ledger.tlog.log import LogConfig, issue_checkpoint, with_cosignatures
from ledger.tlog.models import LogEntry, MerkleNode
from ledger.tlog.notes import VerifierKey

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes, 8,192 bytes when full
MAX_LEVEL = 63
ENTRIES = "entries"
_LEN16 = struct.Struct(">H")
_ELEMENT = re.compile(r"x?[0-9]{3}")


@dataclass(frozen=True)
class Tile:
    """A tile coordinate: ``level`` is None for an entry bundle (``tile/entries/...``)."""

    level: int | None
    n: int
    width: int

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        """The path below the log's prefix, e.g. ``tile/0/x001/234.p/7``."""
        level = ENTRIES if self.level is None else str(self.level)
        partial = "" if self.full else f".p/{self.width}"
        return f"tile/{level}/{encode_index(self.n)}{partial}"

    @property
    def hash_level(self) -> int:
        """The tree level whose hashes the tile holds (entry bundles: the leaves)."""
        return TILE_HEIGHT * (self.level or 0)


def encode_index(n: int) -> str:
    """``1234067`` -> ``x001/x234/067``: zero-padded three-digit elements, all but the last
    prefixed with ``x`` (so a file system never has a file and a directory of one name)."""
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def parse_tile_path(path: str) -> Tile:
    """Parse ``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]`` (what follows ``tile/``), strictly:
    anything that is not the one canonical spelling of a tile raises ``tile_path_invalid``."""
    # NotFound, not InvalidInput: a static mirror answers 404 to a name it does not have.
    bad = NotFound(f"{path!r} is not a tile path", code="tile_path_invalid", field="path")
    head, _, rest = path.partition("/")
    parts = rest.split("/")
    width = TILE_WIDTH
    if len(parts) >= 2 and parts[-2].endswith(".p"):
        if not re.fullmatch(r"[1-9][0-9]{0,2}", parts[-1]) or int(parts[-1]) >= TILE_WIDTH:
            raise bad
        width = int(parts[-1])
        parts = parts[:-2] + [parts[-2][:-2]]
    if not parts or not all(_ELEMENT.fullmatch(p) for p in parts):
        raise bad
    n = 0
    for p in parts:
        n = n * 1000 + int(p.lstrip("x"))
    if head == ENTRIES:
        level = None
    elif re.fullmatch(r"0|[1-9][0-9]?", head) and int(head) <= MAX_LEVEL:
        level = int(head)
    else:
        raise bad
    tile = Tile(level, n, width)
    if tile.path != f"tile/{path}":  # one spelling only: no extra x000/, no missing x
        raise bad
    return tile


def tile_available(tile: Tile, size: int) -> bool:
    """Whether every hash of ``tile`` is final in a tree of ``size`` leaves."""
    span = 1 << tile.hash_level  # leaves under each hash of the tile
    return (tile.n * TILE_WIDTH + tile.width) * span <= size


def tiles_for_size(size: int) -> Iterator[Tile]:
    """Every tile of a tree of ``size`` (full ones and this size's partial ones), entry
    bundles included, level by level."""
    level = 0
    while level == 0 or size >> (TILE_HEIGHT * level):
        hashes = size >> (TILE_HEIGHT * level)  # hashes at this tile level
        for n in range(hashes // TILE_WIDTH):
            yield Tile(level, n, TILE_WIDTH)
            if level == 0:
                yield Tile(None, n, TILE_WIDTH)
        if hashes % TILE_WIDTH:
            n, width = hashes // TILE_WIDTH, hashes % TILE_WIDTH
            yield Tile(level, n, width)
            if level == 0:
                yield Tile(None, n, width)
        level += 1


# --- reading tiles from the stored tree ------------------------------------------------------


def _range(tile: Tile) -> tuple[int, int]:
    start = tile.n * TILE_WIDTH
    return start, start + tile.width


def read_tile(session: Session, tile: Tile, size: int) -> bytes:
    """The bytes of ``tile`` in a log of ``size`` entries (NotFound if the log is too small)."""
    if not tile_available(tile, size):
        raise NotFound(f"{tile.path} is beyond the log's {size} entries",
                       code="tile_not_found", field="path")
    start, stop = _range(tile)
    if tile.level is None:
        notes = session.scalars(select(LogEntry.note).where(
            LogEntry.idx >= start, LogEntry.idx < stop).order_by(LogEntry.idx)).all()
        body = bundle(notes)
        count = len(notes)
    else:
        hashes = _hashes(session, tile.hash_level, start, stop)
        body, count = b"".join(hashes), len(hashes)
    if count != tile.width:  # the head says the tree is there, the rows must be too
        raise NotFound(f"{tile.path}: the stored tree lacks {tile.width - count} hash(es)",
                       code="tile_incomplete", field="path")
    return body


def _hashes(session: Session, level: int, start: int, stop: int) -> list[bytes]:
    if level == 0:
        q = select(LogEntry.leaf_hash).where(LogEntry.idx >= start, LogEntry.idx < stop) \
            .order_by(LogEntry.idx)
    else:
        q = select(MerkleNode.hash).where(MerkleNode.level == level, MerkleNode.idx >= start,
                                          MerkleNode.idx < stop).order_by(MerkleNode.idx)
    return list(session.scalars(q))


def bundle(notes: Sequence[bytes]) -> bytes:
    """An entry bundle: each note behind its big-endian uint16 length."""
    out = bytearray()
    for note in notes:
        if not 0 < len(note) <= MAX_BUNDLE_ENTRY:
            raise InvalidInput(f"a note of {len(note)} bytes does not fit an entry bundle",
                               code="bundle_entry_size")
        out += _LEN16.pack(len(note)) + note
    return bytes(out)


def unbundle(data: bytes) -> list[bytes]:
    """The notes of an entry bundle (for clients and tests); raises on torn framing."""
    notes, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise InvalidInput("entry bundle ends inside a length", code="bundle_truncated")
        (n,) = _LEN16.unpack_from(data, pos)
        if n == 0 or pos + 2 + n > len(data):
            raise InvalidInput("entry bundle ends inside an entry", code="bundle_truncated")
        notes.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return notes


# --- reading the tree back from tiles ----------------------------------------------------------
# What tlog.TileHashReader is in Go's sumdb code: proofs computed from tiles alone, wherever the
# tiles come from (this database, an exported directory, any HTTP server or CDN serving /log/).
# The Merkle algorithms are merkle.py's; a reader only turns tiles into its subtree getter.


class TileSource(Protocol):
    """Where tiles come from: the bytes of one tile (NotFound if the source lacks it)."""

    def tile(self, tile: Tile) -> bytes: ...


class StoredTiles:
    """The tiles of this database's tree of ``size`` entries (what /log/tile serves)."""

    def __init__(self, session: Session, size: int) -> None:
        self.session, self.size = session, size

    def tile(self, tile: Tile) -> bytes:
        return read_tile(self.session, tile, self.size)


class DirectoryTiles:
    """A static tree as ``waste-ledger tiles export`` writes it."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def tile(self, tile: Tile) -> bytes:
        try:
            return (self.directory / tile.path).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{tile.path} is not in {self.directory}",
                           code="tile_not_found", field="path") from None

    def checkpoint(self) -> bytes:
        return (self.directory / "checkpoint").read_bytes()


class HttpTiles:
    """Tiles over HTTP below ``base_url`` (e.g. ``https://ledger.example/log``), with urllib."""

    def __init__(self, base_url: str, *, timeout: float = 10.0,
                 headers: dict[str, str] | None = None) -> None:
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self.headers = dict(headers or {})

    def _get(self, path: str) -> bytes:
        req = urllib.request.Request(f"{self.base_url}/{path}", headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise NotFound(f"{path} is not at {self.base_url}", code="tile_not_found",
                               field="path") from None
            raise LedgerError(f"{self.base_url}/{path} answered {exc.code}",
                              code="tile_source_failed") from None
        except (urllib.error.URLError, OSError) as exc:
            raise LedgerError(f"{self.base_url}/{path}: {exc}",
                              code="tile_source_failed") from None

    def tile(self, tile: Tile) -> bytes:
        return self._get(tile.path)

    def checkpoint(self) -> bytes:
        return self._get("checkpoint")


def tile_source(location: str) -> DirectoryTiles | HttpTiles:
    """An exported directory, or an ``http(s)://`` base URL serving /log/."""
    if location.startswith(("http://", "https://")):
        return HttpTiles(location)
    return DirectoryTiles(location)


class TileHashReader:
    """The hashes of the tree of ``size`` entries, read from ``source``'s tiles.

    Every perfect subtree of a tree of ``size`` lies inside the tiles of that size: a subtree
    at level h = 8·L + r is the fold of 2**r consecutive hashes of one tile at level L. So
    proofs for any index and any older size need only this size's tiles, which are cached per
    reader (one fetch per tile however many proofs use it). The tiles are not trusted: a proof
    built from a wrong tile fails verification against the checkpoint's root."""

    def __init__(self, source: TileSource, size: int) -> None:
        self.source, self.size = source, size
        self._tiles: dict[tuple[int, int], bytes] = {}

    def hash(self, level: int, index: int) -> bytes:
        """The subtree getter of merkle.py: the hash over leaves [index·2**level, +2**level)."""
        tile_level, rest = divmod(level, TILE_HEIGHT)
        first, count = index << rest, 1 << rest  # hashes at tree level 8·tile_level
        if (first + count) << (TILE_HEIGHT * tile_level) > self.size:
            raise NotFound(f"subtree ({level}, {index}) is beyond a tree of {self.size}",
                           code="tile_not_found", field="size")
        n, offset = divmod(first, TILE_WIDTH)
        data = self._tile(tile_level, n)
        hashes = [data[i : i + merkle.HASH_SIZE]
                  for i in range(offset * merkle.HASH_SIZE, (offset + count) * merkle.HASH_SIZE,
                                 merkle.HASH_SIZE)]
        return merkle.root(hashes)  # a perfect power of two of hashes: their subtree's root

    def _tile(self, level: int, n: int) -> bytes:
        key = (level, n)
        if key not in self._tiles:
            width = min(TILE_WIDTH, (self.size >> (TILE_HEIGHT * level)) - n * TILE_WIDTH)
            tile = Tile(level, n, width)
            data = self.source.tile(tile)
            if len(data) != width * merkle.HASH_SIZE:
                raise InvalidInput(f"{tile.path} has {len(data)} bytes, not {width * 32}",
                                   code="tile_size_wrong", field="path")
            self._tiles[key] = data
        return self._tiles[key]

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` entries (default: the reader's whole tree)."""
        size = self.size if size is None else self._within(size, "size")
        return merkle.subtree_root(0, size, self.hash)

    def inclusion_path(self, index: int, size: int | None = None) -> list[bytes]:
        """The inclusion proof of entry ``index`` in the tree of ``size`` entries."""
        size = self.size if size is None else self._within(size, "size")
        if not 0 <= index < size:
            raise PayloadInvalid("index must be in [0, size)", code="index_out_of_range",
                                 field="index")
        return merkle.inclusion_path(index, size, self.hash)

    def consistency_path(self, old: int, new: int | None = None) -> list[bytes]:
        """The consistency proof from size ``old`` to size ``new``."""
        new = self.size if new is None else self._within(new, "new")
        if not 0 <= old <= new:
            raise PayloadInvalid("need 0 <= old <= new", code="size_out_of_range", field="old")
        return merkle.consistency_path(old, new, self.hash)

    def _within(self, size: int, field: str) -> int:
        if not 0 <= size <= self.size:
            raise NotFound(f"the tiles cover {self.size} entries, not {size}",
                           code="size_beyond_log", field=field)
        return size


def checked_reader(source: DirectoryTiles | HttpTiles,
                   operator: VerifierKey) -> tuple[SignedCheckpoint, TileHashReader]:
    """The source's checkpoint, its signature checked with ``operator``, and a reader at its
    size whose tiles give the checkpoint's root (so proofs from them verify against it)."""
    cp = parse_checkpoint(source.checkpoint(), operator)
    reader = TileHashReader(source, cp.size)
    if reader.root() != cp.root:
        raise InvalidInput("the tiles do not give the checkpoint's root",
                           code="tiles_inconsistent", field="path")
    return cp, reader


# --- static export -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TilesExport:
    size: int
    written: int
    kept: int


def export_tiles(session: Session, config: LogConfig, directory: str, *,
                 entries: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> TilesExport:
    """Write the log as the static tree /log/ serves: a fresh checkpoint and every tile of its
    size (entry bundles unless ``entries`` is false) under ``directory``. The checkpoint is
    written last, so no reader ever sees a checkpoint whose tiles are missing; full tiles
    already there are kept (they never change), so a re-run writes only what is new."""
    note = issue_checkpoint(session, config)
    size = parse_checkpoint(note, config.operator.verifier).size
    out = Path(directory)
    written = kept = 0
    wanted = [t for t in tiles_for_size(size) if entries or t.level is not None]
    for done, tile in enumerate(wanted, start=1):
        target = out / tile.path
        if tile.full and target.is_file():
            kept += 1
        else:
            _write_atomic(target, read_tile(session, tile, size))
            written += 1
        if progress is not None and (done % 1000 == 0 or done == len(wanted)):
            progress(done, len(wanted))
    _write_atomic(out / "checkpoint", with_cosignatures(session, note, size))
    session.rollback()  # end the read transaction
    return TilesExport(size, written, kept)


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)

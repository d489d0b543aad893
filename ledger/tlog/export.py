"""The export directory: what ``waste-ledger export`` writes and ``waste-ledger verify`` reads.

::

    DIR/entries.bin     every entry note in index order, each as a 4-byte big-endian length
                        followed by exactly that many bytes of the note
    DIR/checkpoint      the checkpoint (signed note) at size = number of entries
    DIR/operator.vkey   the operator's verifier key (one line: name+keyid+base64)
    DIR/checkpoints/    optional: older checkpoints, one file per size (named by the size)

Framing by length keeps every byte meaningful: any change to a length either breaks the framing
or changes a leaf, which changes the Merkle root.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from ledger.errors import InvalidInput

ENTRIES = "entries.bin"
CHECKPOINT = "checkpoint"
OPERATOR_VKEY = "operator.vkey"
OLD_CHECKPOINTS = "checkpoints"
_LEN = struct.Struct(">I")


def write_record(fh: BinaryIO, note: bytes) -> None:
    fh.write(_LEN.pack(len(note)))
    fh.write(note)


def read_records(fh: BinaryIO, max_size: int = 1 << 20) -> Iterator[bytes]:
    """Yield each framed note; raise InvalidInput on a torn or oversized frame."""
    count = 0
    while True:
        prefix = fh.read(_LEN.size)
        if not prefix:
            return
        if len(prefix) < _LEN.size:
            raise InvalidInput(f"entries.bin ends inside the length of record {count}",
                               code="export_truncated")
        (n,) = _LEN.unpack(prefix)
        if n == 0 or n > max_size:
            raise InvalidInput(f"record {count} has an impossible length {n}",
                               code="export_framing")
        data = fh.read(n)
        if len(data) != n:
            raise InvalidInput(f"entries.bin ends inside record {count}", code="export_truncated")
        count += 1
        yield data

"""Where the installation's state lives, and who may read it.

Everything the app writes for itself — the SQLite database, the operator key, the session
secret, the self-signed TLS certificate — is kept in one instance directory: ``instance/`` in the
checkout, or ``WASTE_LEDGER_INSTANCE_PATH`` for a packaged deployment. The directory is made
0700 and the files in it 0600: the database holds password and token hashes, the keys sign for
the log (docs/deployment.md, "Files and their modes").
"""

from __future__ import annotations

import os
from pathlib import Path

from ledger.tlog.notes import Signer

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# The files SQLite keeps beside a database; it creates them with the database's own mode.
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def instance_dir(path: Path) -> Path:
    """Create the instance directory 0700, or bring an existing one down to 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_DIR)
    return path


def ensure_dir(path: Path) -> None:
    """Create a missing directory 0700; an existing one (maybe shared, like /tmp) is left as is."""
    if not path.exists():
        path.mkdir(parents=True, mode=PRIVATE_DIR)


def write_private_file(path: Path, data: bytes) -> None:
    """Write a new file readable only by its owner; never overwrite one (FileExistsError)."""
    ensure_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_private_key(path: Path, signer: Signer) -> None:
    """A signing key file (``waste-ledger keygen`` format), mode 0600, never overwritten."""
    write_private_file(path, (signer.private_key_text() + "\n").encode())


def sqlite_path(url: str) -> Path | None:
    """The file of an ``sqlite:///`` URL (None for another database or ``:memory:``)."""
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?", 1)[0])


def private_sqlite_file(database: Path) -> None:
    """Create the database file 0600 before SQLite does (it would use the umask, usually giving
    0644), so its WAL and shared-memory files are 0600 too; tighten files made before."""
    ensure_dir(database.parent)
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        for suffix in SQLITE_COMPANIONS:
            p = Path(str(database) + suffix)
            if p.exists() and p.stat().st_mode & 0o077:
                p.chmod(PRIVATE_FILE)

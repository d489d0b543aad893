"""Backup and restore of the installation's database: a consistent snapshot taken while the
server runs, and its restoration into an empty database (docs/deployment.md, "Backups").

SQLite: the backup is an SQLite database file made with SQLite's online backup API (one read
transaction, so concurrent appends go on and the copy is one committed state). PostgreSQL:
the backup is a ``pg_dump -Fc`` archive of the schema the app uses (pg_dump reads from one
snapshot), restored with ``pg_restore``. The operator key, the session secret and the TLS files
are not in the database and not in the backup: they are backed up separately.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect, make_url, text

from api.instance import PRIVATE_FILE, ensure_dir
from ledger.errors import ConfigurationError, InvalidInput

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    kind: str  # "sqlite" or "pg_dump"
    log_size: int | None  # entries in the log at the snapshot (read back from SQLite's copy)


def backup(engine: Engine, path: Path) -> BackupResult:
    """Write a consistent snapshot of the database to ``path`` (a new file, mode 0600)."""
    if path.exists():
        raise InvalidInput(f"{path} exists; not overwriting a backup", code="backup_exists")
    ensure_dir(path.parent)
    if engine.dialect.name == "sqlite":
        try:
            _sqlite_backup(engine, path)
        except sqlite3.Error as exc:
            path.unlink(missing_ok=True)  # never leave half a backup that looks like one
            raise ConfigurationError(f"the SQLite backup failed: {exc}",
                                     code="backup_failed") from None
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            size = conn.execute("SELECT size FROM log_head").fetchone()
        return BackupResult(path, "sqlite", size[0] if size else 0)
    _pg_dump(engine, path)
    return BackupResult(path, "pg_dump", None)


def restore(engine: Engine, path: Path) -> None:
    """Restore a backup into ``engine``'s database, which must be empty (no tables)."""
    head = _read_head_bytes(path)
    if not _is_empty(engine):
        raise ConfigurationError("the target database is not empty: restore only into an "
                                 "empty database", code="restore_target_not_empty")
    if engine.dialect.name == "sqlite":
        if not head.startswith(SQLITE_MAGIC):
            raise InvalidInput(f"{path} is not an SQLite backup", code="backup_unreadable")
        try:
            _sqlite_restore(engine, path)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"the SQLite restore failed: {exc}",
                                     code="restore_failed") from None
    else:
        if not head.startswith(PG_MAGIC):
            raise InvalidInput(f"{path} is not a pg_dump -Fc archive", code="backup_unreadable")
        _pg_restore(engine, path)


def _is_empty(engine: Engine) -> bool:
    """No table at all: for PostgreSQL in any schema of the database (a restore recreates the
    schema it was taken from, whatever the target's search_path)."""
    if engine.dialect.name == "sqlite":
        return not inspect(engine).get_table_names()
    with engine.connect() as conn:
        return not conn.execute(text(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN "
            "('pg_catalog', 'information_schema')")).scalar_one()


def _read_head_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(16)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}",
                           code="backup_unreadable") from None


def _sqlite_file(engine: Engine) -> str:
    database = engine.url.database
    if not database or database == ":memory:":
        raise ConfigurationError("an in-memory database has nothing to back up",
                                 code="backup_unsupported")
    return database


def _sqlite_backup(engine: Engine, path: Path) -> None:
    # The file is made 0600 before SQLite writes into it.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    src = sqlite3.connect(_sqlite_file(engine), timeout=30)
    dst = sqlite3.connect(path)
    try:
        src.backup(dst)  # all pages in one step: one read transaction, writers continue (WAL)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()


def _sqlite_restore(engine: Engine, path: Path) -> None:
    engine.dispose()  # no pooled connection may hold the empty file open
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    dst = sqlite3.connect(_sqlite_file(engine), timeout=30)
    try:
        if dst.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise ConfigurationError("the target database is not empty",
                                     code="restore_target_not_empty")
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
    finally:
        dst.close()
        src.close()


def _pg_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise ConfigurationError(
            f"{name} is not on PATH: install the PostgreSQL client tools of the server's version "
            "(Debian: postgresql-client), or back up with them by hand (docs/deployment.md)",
            code="backup_tool_missing")
    return tool


def _pg_dsn(engine: Engine) -> str:
    """The libpq form of the app's URL (pg_dump knows no SQLAlchemy driver names)."""
    url = make_url(engine.url.render_as_string(hide_password=False))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_dump(engine: Engine, path: Path) -> None:
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    # The whole database when the app uses `public` (a dump of `public` alone would try to
    # create it again on restore); otherwise the app's own schema.
    only = [] if schema == "public" else [f"--schema={schema}"]
    tmp = path.with_name(path.name + ".partial")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    done = subprocess.run([_pg_tool("pg_dump"), "--format=custom", "--no-owner",
                           "--no-privileges", *only, f"--file={tmp}", _pg_dsn(engine)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise ConfigurationError(f"pg_dump failed: {done.stderr.strip()}", code="backup_failed")
    os.replace(tmp, path)


def _pg_restore(engine: Engine, path: Path) -> None:
    engine.dispose()
    done = subprocess.run([_pg_tool("pg_restore"), "--no-owner", "--no-privileges",
                           "--exit-on-error", "--single-transaction",
                           f"--dbname={_pg_dsn(engine)}", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ConfigurationError(f"pg_restore failed: {done.stderr.strip()}",
                                 code="restore_failed")

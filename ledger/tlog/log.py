"""Use cases of the log: initialise, append an entry, issue checkpoints, prove, export.

``append_entry`` is where every rule is enforced: it parses the note and checks its signatures'
maths, then (group commit: appends waiting together share one transaction) under the log's
write lock checks the integrity rules (``rules.check_entry``) and the domain rules of the
entry's kind, stores the exact bytes with the next index and the Merkle nodes it completes, and
commits before it returns a receipt. An entry that fails leaves the log as it was.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ledger.errors import (
    ConfigurationError,
    Conflict,
    LedgerError,
    NotFound,
    PayloadInvalid,
    SignatureInvalid,
)
from ledger.tlog import export as bundle
from ledger.tlog.checkpoints import format_tlog_proof, parse_checkpoint, sign_checkpoint
from ledger.tlog.db import write_transaction
from ledger.tlog.entries import (
    DEFAULT_MAX_NOTE_BYTES,
    MAX_BUNDLE_ENTRY,
    Entry,
    check_fields,
    entry_text,
    format_time,
    parse_entry,
    parse_time,
    prev_field,
)
from ledger.tlog.groupcommit import Take, group_for
from ledger.tlog.merkle import (
    EMPTY_ROOT,
    append_to_frontier,
    inclusion_path,
    root_from_inclusion,
    root_of_frontier,
    unpack_frontier,
    verify_consistency,
)
from ledger.tlog.models import (
    Base,
    Checkpoint,
    CheckpointCosignature,
    LogEntry,
    LogHead,
    SigningKey,
)
from ledger.tlog.notes import (
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    Signer,
    VerifierKey,
    b64,
    check_note_size,
    parse_vkey,
    sign_note,
    signed_size,
    verify_signature,
)
from ledger.tlog.rules import (
    KIND_KEY_REGISTERED,
    KIND_KEY_REVOKED,
    KIND_OPERATOR_ROTATED,
    KIND_ORG_REGISTERED,
    REGISTRY_KINDS,
    KeyRecord,
    LedgerState,
    SignatureCheck,
    StreamHead,
    Verdict,
    check_entry,
    check_signing_key,
    check_time,
    org_stream,
)
from ledger.tlog.tree import stored_consistency_path, stored_inclusion_path, stored_root

HEAD_ID = 1


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class AppendContext:
    """What a kind's handler sees while its entry is being appended (inside the transaction)."""

    session: Session
    entry: Entry
    verdict: Verdict
    index: int
    now_ms: int
    config: LogConfig
    # True while ``rebuild`` replays a stored entry: projections are remade, but nothing that
    # happened once because of the entry (a notification) happens again.
    replay: bool = False


KindHandler = Callable[[AppendContext], None]


@dataclass(frozen=True)
class LogConfig:
    """How this log runs. ``kinds`` maps each domain kind to the handler that checks its rules
    and updates projections; registry kinds are always known."""

    operator: Signer
    max_note_bytes: int = DEFAULT_MAX_NOTE_BYTES
    max_skew_ms: int = 300_000
    checkpoint_every_entries: int = 1000
    checkpoint_every_ms: int = 60_000
    kinds: Mapping[str, KindHandler] = field(default_factory=dict)
    clock: Callable[[], int] = now_ms

    def __post_init__(self) -> None:
        if not 0 < self.max_note_bytes <= MAX_BUNDLE_ENTRY:
            raise ConfigurationError(
                f"the note size limit must be 1 to {MAX_BUNDLE_ENTRY} bytes (tlog-tiles entry "
                f"bundles frame each note with a uint16), not {self.max_note_bytes}",
                code="max_note_bytes_invalid")

    @property
    def origin(self) -> str:
        return self.operator.name


@dataclass(frozen=True)
class Receipt:
    """Proof that an entry is in the log: index, leaf hash and a tlog-proof to a checkpoint."""

    index: int
    leaf_hash: bytes
    proof: str
    created: bool


@dataclass
class HeadState:
    """The log head as the append path holds it: read once under the lock, written once.

    A plain value rather than the ORM row, so an append costs no unit-of-work bookkeeping."""

    size: int
    root: bytes
    frontier: bytes
    operator_org: str | None
    checkpoint_size: int | None
    checkpoint_ms: int | None
    operator_vkey: str  # the operator key in force now (changed only by operator.rotated)


_HEAD = Base.metadata.tables["log_head"]
_HEAD_ROW = select(_HEAD.c.size, _HEAD.c.root, _HEAD.c.frontier, _HEAD.c.operator_org,
                   _HEAD.c.checkpoint_size, _HEAD.c.checkpoint_ms,
                   _HEAD.c.operator_vkey).where(_HEAD.c.id == HEAD_ID)
_HEAD_ROW_LOCKED = _HEAD_ROW.with_for_update()
_WRITE_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(
    size=bindparam("b_size"), root=bindparam("b_root"), frontier=bindparam("b_frontier"),
    operator_org=bindparam("b_org"), checkpoint_size=bindparam("b_cp_size"),
    checkpoint_ms=bindparam("b_cp_ms"), operator_vkey=bindparam("b_vkey"))


def read_head(session: Session, *, lock: bool) -> HeadState | None:
    """The head row (locked for update when ``lock``), or None before ``init``."""
    row = session.connection().execute(_HEAD_ROW_LOCKED if lock else _HEAD_ROW).first()
    return None if row is None else HeadState(*row)


def write_head(session: Session, head: HeadState) -> None:
    session.connection().execute(_WRITE_HEAD, {
        "b_size": head.size, "b_root": head.root, "b_frontier": head.frontier,
        "b_org": head.operator_org, "b_cp_size": head.checkpoint_size,
        "b_cp_ms": head.checkpoint_ms, "b_vkey": head.operator_vkey})


# The head names the operator key as text; parse each distinct one once, not on every append.
operator_key_of = functools.lru_cache(maxsize=16)(parse_vkey)


def require_operator(config: LogConfig, operator_vkey: str) -> None:
    """Refuse to sign for the log with any key but the operator key in force (``operator_vkey``
    of the head): a lost or replaced key file must stop the server, never sign silently."""
    if config.operator.verifier.vkey != operator_vkey:
        raise ConfigurationError(
            f"the configured operator key ({config.operator.verifier.vkey}) is not this log's "
            f"operator key ({operator_vkey}): restore the right key file from its backup "
            "(a planned change of key is `waste-ledger operator rotate`)",
            code="operator_key_mismatch",
        )


class DbState:
    """``rules.LedgerState`` read from the database inside the append transaction."""

    def __init__(self, session: Session, head: LogHead | HeadState, operator_key: VerifierKey,
                 before: int | None = None) -> None:
        self.session = session
        self.conn = session.connection()
        self.operator_key = operator_key
        self.operator_org = head.operator_org
        self.before = before  # see the log as it was before this index (rebuild replays)

    def stream_head(self, stream: str) -> StreamHead | None:
        row = self.conn.execute(_STREAM_HEAD, {
            "stream": stream, "before": MAX_INDEX if self.before is None else self.before,
        }).first()
        return None if row is None else StreamHead(row.seq, row.leaf_hash, row.t_ms)

    def key_by_fingerprint(self, fingerprint: str) -> KeyRecord | None:
        row = self.conn.execute(_KEY_BY_FP, {"fp": fingerprint}).first()
        return None if row is None else _key_record(row)

    def keys_by_id(self, name: str, key_id: bytes) -> list[KeyRecord]:
        rows = self.conn.execute(_KEYS_BY_ID, {"name": name, "key_id": key_id})
        return [_key_record(r) for r in rows]


# The statements of the append path, built once: building a select() costs more Python time
# than running it (measured in bench/ledger.py).
MAX_INDEX = 2**62
_STREAM_HEAD = (
    select(LogEntry.seq, LogEntry.leaf_hash, LogEntry.t_ms)
    .where(LogEntry.stream == bindparam("stream"), LogEntry.idx < bindparam("before"))
    .order_by(LogEntry.seq.desc()).limit(1)
)
_KEY_COLUMNS = (SigningKey.fingerprint, SigningKey.org, SigningKey.name, SigningKey.public_key,
                SigningKey.registered_at, SigningKey.revoked_at)
_KEY_BY_FP = select(*_KEY_COLUMNS).where(SigningKey.fingerprint == bindparam("fp"))
_KEYS_BY_ID = select(*_KEY_COLUMNS).where(SigningKey.name == bindparam("name"),
                                          SigningKey.key_id == bindparam("key_id"))
_LAST_SEQ = (select(LogEntry.stream, func.max(LogEntry.seq).label("seq"))
             .where(LogEntry.stream.in_(bindparam("streams", expanding=True)))
             .group_by(LogEntry.stream).subquery())
_STREAM_HEADS = select(LogEntry.stream, LogEntry.seq, LogEntry.leaf_hash, LogEntry.t_ms).join(
    _LAST_SEQ, (LogEntry.stream == _LAST_SEQ.c.stream) & (LogEntry.seq == _LAST_SEQ.c.seq))
_STORED = select(LogEntry.idx, LogEntry.leaf_hash).where(
    LogEntry.leaf_hash.in_(bindparam("leaves", expanding=True)))
_NAMED = (SigningKey.name.in_(bindparam("names", expanding=True)),
          SigningKey.key_id.in_(bindparam("ids", expanding=True)))
_VERIFIER_KEYS = select(SigningKey.name, SigningKey.key_id, SigningKey.public_key).where(*_NAMED)
_KEYS_AHEAD = select(*_KEY_COLUMNS, SigningKey.key_id).where(or_(
    SigningKey.fingerprint.in_(bindparam("fps", expanding=True)), and_(*_NAMED)))
_INSERT_ENTRY = insert(Base.metadata.tables["log_entries"])
_INSERT_NODES = insert(Base.metadata.tables["merkle_nodes"])
_INSERT_CHECKPOINT = insert(Base.metadata.tables["checkpoints"])
_INSERT_KEY = insert(Base.metadata.tables["signing_keys"])
_REVOKE_KEY = (update(Base.metadata.tables["signing_keys"])
               .where(Base.metadata.tables["signing_keys"].c.fingerprint == bindparam("fp"))
               .values(revoked_at=bindparam("at")))


def _key_record(row: Any) -> KeyRecord:
    return KeyRecord(row.fingerprint, row.org, row.name, row.public_key, row.registered_at,
                     row.revoked_at)


# --- initialisation ----------------------------------------------------------------------


def init_log(session: Session, config: LogConfig, operator_org: str,
             genesis_data: Mapping[str, Any]) -> Receipt:
    """Create the log head and append entry 0: the operator registering its organisation."""
    with write_transaction(session):
        if session.get(LogHead, HEAD_ID) is not None:
            raise Conflict("the log is already initialised", code="log_exists")
        session.add(LogHead(id=HEAD_ID, size=0, root=EMPTY_ROOT, frontier=b"",
                            operator_vkey=config.operator.verifier.vkey))
    payload = {
        "stream": org_stream(operator_org),
        "seq": 0,
        "org": operator_org,
        "key": config.operator.verifier.fingerprint,
        "t": format_time(config.clock() // 1000 * 1000),
        "kind": KIND_ORG_REGISTERED,
        "data": dict(genesis_data),
    }
    return append_entry(session, sign_note(entry_text(payload), config.operator), config)


def log_head(session: Session) -> LogHead:
    head = session.get(LogHead, HEAD_ID)
    if head is None:
        raise ConfigurationError("the log is not initialised: run `waste-ledger init`",
                                 code="log_not_initialised")
    return head


def check_operator(session: Session, config: LogConfig) -> None:
    """Refuse to run with an operator key other than the one in force in the log (the key of
    entry 0, or the one the last ``operator.rotated`` entry named)."""
    require_operator(config, log_head(session).operator_vkey)


def operator_vkey_at(session: Session, size: int) -> str:
    """The operator key in force after the first ``size`` entries: the one a checkpoint of
    that size is signed by (docs/ledger-format.md, section 7.2)."""
    last = session.scalars(select(LogEntry.note).where(LogEntry.kind == KIND_OPERATOR_ROTATED,
                                                       LogEntry.idx < size)
                           .order_by(LogEntry.idx.desc()).limit(1)).first()
    if last is None:
        return genesis_operator_vkey(session)
    new = parse_entry(last, max_size=len(last)).data["vkey"]
    assert isinstance(new, str)  # the rules checked it when the rotation was appended
    return new


def genesis_operator_vkey(session: Session) -> str:
    """The operator key that signed entry 0: a verifier's trust anchor. The first rotation
    names it in ``data.old``; before any rotation it is the key in force."""
    first = session.scalars(select(LogEntry.note).where(LogEntry.kind == KIND_OPERATOR_ROTATED)
                            .order_by(LogEntry.idx).limit(1)).first()
    if first is None:
        return log_head(session).operator_vkey
    old = parse_entry(first, max_size=len(first)).data["old"]
    assert isinstance(old, str)  # the rules checked it when the rotation was appended
    return old


# --- append --------------------------------------------------------------------------------


def append_entry(session: Session, raw: bytes, config: LogConfig) -> Receipt:
    """Verify and append one signed entry note; return its receipt after commit.

    The very same note appended again adds nothing and returns a receipt for its first index
    (``created=False``)."""
    outcome = append_entries(session, [raw], config)[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def append_entries(session: Session, raws: Sequence[bytes],
                   config: LogConfig) -> list[Receipt | LedgerError]:
    """Append several notes in order, each accepted or refused on its own; every receipt is
    returned only after the transaction that stored it committed.

    The checks that need no log state (size, parsing, canonical JSON, the signature maths
    against the keys registered now) run here, outside the head lock and in parallel with
    other requests. The rest is group commit (``ledger.tlog.groupcommit``): the entries join
    the process's pending set, and whichever request holds the head lock integrates every
    pending entry in one transaction with one checkpoint signature (``_integrate``)."""
    if session.new or session.dirty or session.deleted:
        # the read transaction is ended below: refuse rather than drop the caller's changes
        raise RuntimeError("append_entries needs a session without pending changes")
    outcomes: list[Receipt | LedgerError | None] = [None] * len(raws)
    pending: list[tuple[int, _Prepared]] = []
    for pos, prepared in enumerate(_prepare_all(session, raws, config)):
        if isinstance(prepared, _Prepared):
            pending.append((pos, prepared))
        else:
            outcomes[pos] = prepared
    session.rollback()  # hand the connection back while we wait
    if pending:
        group = group_for(session.get_bind(), config)
        done = group.submit([p for _, p in pending],
                            lambda take: _integrate(session, config, take))
        for (pos, _), outcome in zip(pending, done, strict=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, LedgerError):
                raise outcome
            outcomes[pos] = outcome
    return [o for o in outcomes if o is not None]


@dataclass(frozen=True)
class _Prepared:
    """An entry that passed the checks needing no log state, with the signatures (by key) whose
    maths already verified; the rules under the lock look the keys up again."""

    entry: Entry
    verified: frozenset[tuple[bytes, bytes]]

    def signature_check(self, note: Note, sig: NoteSignature, key: VerifierKey) -> None:
        if (sig.signature, key.public_key) not in self.verified:
            verify_signature(note, sig, key)


def _prepare_all(session: Session, raws: Sequence[bytes], config: LogConfig,
                 ) -> list[_Prepared | Receipt | LedgerError]:
    """``_prepare`` for every note of a request, with one look-up of their leaf hashes and one
    of the keys their signatures name (instead of one of each per note)."""
    parsed: list[Entry | LedgerError] = []
    for raw in raws:
        try:
            parsed.append(parse_entry(raw, max_size=config.max_note_bytes))
        except LedgerError as exc:
            parsed.append(exc)
    entries = [e for e in parsed if isinstance(e, Entry)]
    # A lone note is looked up under the lock instead (``_integrate`` does in any case): a
    # statement and a read transaction fewer for every new entry; a repeat waits for the lock.
    stored = _stored_indexes(session.connection(), entries) if len(entries) > 1 else {}
    ids = {(sig.name, sig.key_id) for e in entries if e.leaf_hash not in stored
           for sig in e.note.signatures}
    # The operator's own signatures are checked against the configured key: no look-up.
    operator = config.operator.verifier
    ids.discard((operator.name, operator.key_id))
    keys = _verifier_keys(session, ids)
    head: HeadState | None = None
    out: list[_Prepared | Receipt | LedgerError] = []
    for item in parsed:
        if isinstance(item, LedgerError):
            out.append(item)
            continue
        existing = stored.get(item.leaf_hash)
        if existing is not None:  # a stored entry never moves: its receipt needs no lock
            if head is None:
                head = read_head(session, lock=False)
                assert head is not None  # it holds an entry
            try:
                out.append(_receipt_for_existing(session, config, head, existing,
                                                 item.leaf_hash))
            except LedgerError as exc:
                out.append(exc)
            continue
        out.append(_verify_maths(item, config, keys))
    return out


# Public keys by (name, key id), as registered, for the signature maths before the lock. Only an
# accelerator: a key is never altered once registered, and the rules under the lock look every
# key up in the log and re-verify any signature this did not verify (a key registered since
# under a cached name and id, say), so a stale or foreign entry cannot accept a signature.
_VERIFIERS: dict[tuple[str, bytes], tuple[VerifierKey, ...]] = {}
_VERIFIERS_MAX = 100_000


def _verifier_keys(session: Session, ids: set[tuple[str, bytes]],
                   ) -> dict[tuple[str, bytes], list[VerifierKey]]:
    """The registered keys of these (name, key id) pairs: from the process's cache, and the
    pairs it lacks in one query."""
    keys: dict[tuple[str, bytes], list[VerifierKey]] = {}
    for pair in ids:
        cached = _VERIFIERS.get(pair)  # one look-up: another thread may clear the cache
        if cached is not None:
            keys[pair] = list(cached)
    missing = ids - keys.keys()
    if not missing:
        return keys
    for row in _keys_named(session.connection(), missing, _VERIFIER_KEYS):
        keys.setdefault((row.name, row.key_id), []).append(VerifierKey(row.name, row.public_key))
    if len(_VERIFIERS) + len(missing) > _VERIFIERS_MAX:
        _VERIFIERS.clear()  # bounded: a busy log re-reads its signers' keys once
    for pair in missing & keys.keys():
        _VERIFIERS[pair] = tuple(keys[pair])
    return keys


def _stored_indexes(conn: Connection, entries: Sequence[Entry]) -> dict[bytes, int]:
    """The index of each of ``entries`` already in the log, by leaf hash (one query)."""
    leaves = list({e.leaf_hash for e in entries})
    if not leaves:
        return {}
    return {leaf: idx for idx, leaf in conn.execute(_STORED, {"leaves": leaves})}


def _keys_named(conn: Connection, pairs: set[tuple[str, bytes]], statement: Any) -> list[Any]:
    """The keys of these (name, key_id) pairs, in one statement built once per shape.

    ``name IN (..) AND key_id IN (..)`` searches the (name, key_id) index on both databases
    (SQLite scans the whole table for a row-value IN list); it may return keys of a name and
    an id named in different pairs, which are dropped here."""
    rows = conn.execute(statement, {"names": sorted({n for n, _ in pairs}),
                                  "ids": sorted({k for _, k in pairs})})
    return [r for r in rows if (r.name, r.key_id) in pairs]


def _verify_maths(entry: Entry, config: LogConfig,
                  keys: Mapping[tuple[str, bytes], list[VerifierKey]]) -> _Prepared:
    operator = config.operator.verifier
    verified = set()
    for sig in entry.note.signatures:
        candidates = list(keys.get((sig.name, sig.key_id), ()))
        if sig.name == operator.name and sig.key_id == operator.key_id:
            candidates.append(operator)
        for key in candidates:
            try:
                verify_signature(entry.note, sig, key)
            except SignatureInvalid:
                continue  # checked again, and reported in rule order, under the lock
            verified.add((sig.signature, key.public_key))
    return _Prepared(entry, frozenset(verified))


class _GroupState:
    """``rules.LedgerState`` for the entries of one group, under the head lock.

    The stream heads and the keys the group's entries name are read in one query each when the
    group starts; every entry the group accepts is then laid over them in memory (its stream's
    new head, a key it registered or revoked), so the rules of each entry see exactly the log
    before it, earlier entries of the group included, before anything is written. Whatever was
    not read ahead is read on demand: the database then lacks only the group's unwritten
    entries, and everything they changed is in the overlay."""

    def __init__(self, conn: Connection, head: HeadState) -> None:
        self.conn = conn
        self.operator_key = operator_key_of(head.operator_vkey)
        self.operator_org = head.operator_org
        self.heads: dict[str, StreamHead | None] = {}
        self.by_fp: dict[str, KeyRecord | None] = {}
        self.by_id: dict[tuple[str, bytes], list[KeyRecord]] = {}

    def at(self, head: HeadState) -> None:
        """The operator as the head says before the next entry (a rotation changes it)."""
        self.operator_key = operator_key_of(head.operator_vkey)
        self.operator_org = head.operator_org

    def read_ahead(self, entries: Sequence[Entry]) -> None:
        streams = list({e.stream for e in entries})
        if streams:
            for s in streams:
                self.heads[s] = None
            for row in self.conn.execute(_STREAM_HEADS, {"streams": streams}):
                self.heads[row.stream] = StreamHead(row.seq, row.leaf_hash, row.t_ms)
        fps: set[str] = set()
        ids: set[tuple[str, bytes]] = set()
        for e in entries:
            fps.add(e.key)
            ids.update((sig.name, sig.key_id) for sig in e.note.signatures)
            if e.kind == KIND_KEY_REVOKED and isinstance(e.data.get("key"), str):
                fps.add(e.data["key"])
            elif e.kind in (KIND_KEY_REGISTERED, KIND_OPERATOR_ROTATED):
                vkey = e.data.get("vkey")
                if isinstance(vkey, str):
                    try:
                        vk = parse_vkey(vkey)
                    except (LedgerError, ValueError):
                        continue  # the rules refuse it, with their own error
                    fps.add(vk.fingerprint)
                    ids.add((vk.name, vk.key_id))  # the overlay adds it there if accepted
        if not fps and not ids:
            return
        for fp in fps:
            self.by_fp[fp] = None
        for pair in ids:
            self.by_id[pair] = []
        for key in self.conn.execute(_KEYS_AHEAD, {
                "fps": sorted(fps), "names": sorted({n for n, _ in ids}),
                "ids": sorted({k for _, k in ids})}):
            # a key of a name and an id named in different pairs is kept by fingerprint only
            rec = self._canonical(key)
            if (key.name, key.key_id) in ids:
                self.by_id[(key.name, key.key_id)].append(rec)

    def maybe_stored(self, entries: Sequence[Entry]) -> list[Entry]:
        """The entries that may already be in the log: a stored entry's stream has reached
        its seq, so an entry past its stream's head (the usual case) needs no look-up by
        leaf hash, and a group of such entries saves that query."""
        out = []
        for e in entries:
            head = self.stream_head(e.stream)
            if head is not None and head.seq >= e.seq:
                out.append(e)
        return out

    def _canonical(self, row: Any) -> KeyRecord:
        # One object per key, so a revocation laid over it is seen by both look-ups.
        rec = self.by_fp.get(row.fingerprint)
        if rec is None:
            rec = self.by_fp[row.fingerprint] = _key_record(row)
        return rec

    def stream_head(self, stream: str) -> StreamHead | None:
        if stream not in self.heads:
            row = self.conn.execute(_STREAM_HEAD, {"stream": stream, "before": MAX_INDEX}).first()
            self.heads[stream] = None if row is None else StreamHead(row.seq, row.leaf_hash,
                                                                    row.t_ms)
        return self.heads[stream]

    def key_by_fingerprint(self, fingerprint: str) -> KeyRecord | None:
        if fingerprint not in self.by_fp:
            row = self.conn.execute(_KEY_BY_FP, {"fp": fingerprint}).first()
            self.by_fp[fingerprint] = None if row is None else _key_record(row)
        return self.by_fp[fingerprint]

    def keys_by_id(self, name: str, key_id: bytes) -> list[KeyRecord]:
        pair = (name, key_id)
        if pair not in self.by_id:
            self.by_id[pair] = [self._canonical(r) for r in self.conn.execute(
                _KEYS_BY_ID, {"name": name, "key_id": key_id})]
        return self.by_id[pair]

    def apply(self, entry: Entry, verdict: Verdict, index: int) -> None:
        """Lay an accepted entry over the state (as ``rules.MemoryState.apply``)."""
        self.heads[entry.stream] = StreamHead(entry.seq, entry.leaf_hash, entry.t_ms)
        if verdict.new_key is not None:
            rec = verdict.new_key
            self.keys_by_id(rec.name, rec.verifier.key_id).append(rec)  # read first, then add
            self.by_fp[rec.fingerprint] = rec
        if verdict.revoked_key is not None:
            revoked = self.key_by_fingerprint(verdict.revoked_key)
            assert revoked is not None  # the rules found it
            revoked.revoked_at = index


@dataclass
class _Writes:
    """What the group's registry entries write, held back until one multi-row statement per
    table (``write_rows``): before an entry whose kind handler touches the database, and at the
    end of the group."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    revoked: list[dict[str, Any]] = field(default_factory=list)

    def write_rows(self, conn: Connection) -> None:
        # In foreign-key order: keys name the entries that registered and revoked them.
        if self.entries:
            conn.execute(_INSERT_ENTRY, self.entries)
        if self.keys:
            conn.execute(_INSERT_KEY, self.keys)
        if self.nodes:
            conn.execute(_INSERT_NODES, self.nodes)
        if self.revoked:
            conn.execute(_REVOKE_KEY, self.revoked)
        self.entries, self.keys, self.nodes, self.revoked = [], [], [], []


def _integrate(session: Session, config: LogConfig, take: Take) -> list[Receipt | LedgerError]:
    """Integrate every pending entry in one transaction under the head lock, each accepted or
    refused on its own, with one checkpoint signature for the group.

    The group's state (stored leaf hashes, stream heads, keys) is read in one query each. An
    entry of a registry kind (no kind handler) is checked against that state with the group's
    earlier entries laid over it, in memory, and its rows are held back: the group's entries,
    keys and tree nodes are written by one multi-row statement per table, and a refused entry
    has written nothing, so it needs no SAVEPOINT. An entry whose kind has a handler (domain
    rules that read and write projections) is applied as before, in a SAVEPOINT of its own,
    after the rows held back so far are written."""
    batch: list[_Prepared] = []
    outcomes: list[tuple[str, int] | LedgerError] = []
    lone = False
    try:
        with write_transaction(session):
            head = read_head(session, lock=True)
            if head is None:
                raise ConfigurationError("the log is not initialised", code="log_not_initialised")
            batch = take()  # after the lock: whatever queued while we waited comes along
            conn = session.connection()
            start, old_frontier = head.size, unpack_frontier(head.frontier)
            tree = _GroupTree(old_frontier, start)
            now = config.clock()
            entries = [item.entry for item in batch]
            state = _GroupState(conn, head)
            state.read_ahead(entries)
            stored = _stored_indexes(conn, state.maybe_stored(entries))
            writes = _Writes()
            # An entry alone needs no SAVEPOINT (two round trips): if its handler refuses it,
            # the whole transaction is rolled back instead.
            lone = len(batch) == 1
            for item in batch:
                entry = item.entry
                again = tree.placed.get(entry.leaf_hash)
                if again is not None:
                    outcomes.append(("again", again))
                    continue
                if entry.leaf_hash in stored:  # appended while this one waited
                    outcomes.append(("stored", stored[entry.leaf_hash]))
                    continue
                if config.kinds.get(entry.kind) is None:
                    outcomes.append(_integrate_held(config, head, item, now, tree, state,
                                                    writes))
                else:
                    writes.write_rows(conn)
                    outcomes.append(_integrate_one(session, config, head, item, now, tree, state,
                                                   savepoint=not lone))
            writes.write_rows(conn)
            if head.size > start:
                _maybe_store_checkpoint(session, config, head, now)
                write_head(session, head)
            # Proved to the whole tree, now that every row of the group is written.
            existing = {o[1]: _receipt_for_existing(session, config, head, o[1],
                                                    item.entry.leaf_hash)
                        for item, o in zip(batch, outcomes, strict=True)
                        if isinstance(o, tuple) and o[0] == "stored"}
    except IntegrityError as exc:
        # Unique index / leaf hash / (stream, seq) under the lock: another writer got there.
        raise Conflict("another entry took this position; re-read, re-sign and retry",
                       code="append_race") from exc
    except OperationalError as exc:
        if "locked" in str(exc).lower() or "could not serialize" in str(exc).lower():
            raise Conflict("the log is busy; retry", code="log_busy") from exc
        raise
    except LedgerError as exc:
        if not lone:
            raise
        return [exc]  # the lone entry was refused; the rollback undid all it wrote
    checkpoint = sign_checkpoint(config.operator, head.size, head.root) if head.size > start \
        else b""
    receipts: list[Receipt | LedgerError] = []
    for item, outcome in zip(batch, outcomes, strict=True):
        if isinstance(outcome, LedgerError):
            receipts.append(outcome)
        elif outcome[0] == "stored":
            receipts.append(existing[outcome[1]])
        else:
            kind, idx = outcome
            proof = format_tlog_proof(idx, inclusion_path(idx, head.size, tree.get), checkpoint)
            receipts.append(Receipt(idx, item.entry.leaf_hash, proof, created=kind == "new"))
    return receipts


def _integrate_held(config: LogConfig, head: HeadState, item: _Prepared, now: int,
                    tree: _GroupTree, state: _GroupState,
                    writes: _Writes) -> tuple[str, int] | LedgerError:
    """Check an entry with no kind handler (a registry kind, or an unknown kind to refuse) as
    the next index against the group's state; if it passes, hold its rows back in ``writes``
    and advance ``head`` and ``state``: ("new", index), or the error that refused it (nothing
    was written and nothing changed)."""
    entry, index = item.entry, head.size
    try:
        state.at(head)
        verdict = check_entry(entry, state, index, now_ms=now, max_skew_ms=config.max_skew_ms,
                              signature_check=item.signature_check)
        if entry.kind not in REGISTRY_KINDS:
            raise PayloadInvalid(f"unknown kind {entry.kind!r}", code="kind_unknown",
                                 field="kind")
        # An operator.rotated entry is appended by the new key's holder, whose checkpoints
        # from this size on are signed by the new key; any other configured key signs nothing.
        require_operator(config, head.operator_vkey if verdict.new_operator is None
                         else verdict.new_operator.vkey)
    except LedgerError as exc:
        return exc
    # Accepted: nothing below refuses it.
    writes.entries.append({
        "idx": index, "leaf_hash": entry.leaf_hash, "stream": entry.stream,
        "seq": entry.seq, "kind": entry.kind, "org": entry.org, "key_fp": entry.key,
        "t_ms": entry.t_ms, "received_ms": now, "note": entry.note.raw,
    })
    if verdict.new_key is not None:
        writes.keys.append(_key_row(verdict.new_key, entry, index))
    if verdict.revoked_key is not None:
        writes.revoked.append({"fp": verdict.revoked_key, "at": index})
    completed = _advance(head, index, entry, verdict)
    writes.nodes.extend({"level": lv, "idx": i, "hash": h} for lv, i, h in completed)
    state.apply(entry, verdict, index)
    tree.add(index, entry.leaf_hash, completed)
    return ("new", index)


def _integrate_one(session: Session, config: LogConfig, head: HeadState, item: _Prepared,
                   now: int, tree: _GroupTree, state: _GroupState, *,
                   savepoint: bool) -> tuple[str, int] | LedgerError:
    """Apply one entry whose kind has a handler as the next index, in a SAVEPOINT: ("new",
    index) or the error that refused it (the log, ``head`` and ``state`` included, is then as
    it was). Without ``savepoint`` the error is raised, for the caller to roll the transaction
    back."""
    entry = item.entry
    before = replace(head)
    if not savepoint:
        completed, verdict = _apply_new(session, config, head, item, now, state)
    else:
        try:
            with session.begin_nested():
                completed, verdict = _apply_new(session, config, head, item, now, state)
        except LedgerError as exc:
            _restore(head, before)
            return exc
        except IntegrityError:
            # Under the head lock only a projection's unique key can clash (a kind's rule that
            # let a duplicate through): refuse this entry, not the group.
            _restore(head, before)
            return Conflict("another entry took this position; re-read, re-sign and retry",
                            code="append_race")
    state.apply(entry, verdict, before.size)
    tree.add(before.size, entry.leaf_hash, completed)
    return ("new", before.size)


def _apply_new(session: Session, config: LogConfig, head: HeadState, item: _Prepared,
               now: int, state: _GroupState) -> tuple[list[tuple[int, int, bytes]], Verdict]:
    state.at(head)
    completed, verdict = _apply(session, head, item.entry, config, now, store=True,
                                signature_check=item.signature_check, state=state)
    # After the entry: an operator.rotated entry is appended by the new key's holder, whose
    # checkpoints from this size on are signed by the new key (docs/ledger-format.md); any
    # other configured key signs nothing.
    require_operator(config, head.operator_vkey)
    return completed, verdict


def _restore(head: HeadState, before: HeadState) -> None:
    head.__dict__.update(before.__dict__)


class _GroupTree:
    """The subtrees a group's receipts need: the border before the group, the group's leaves
    and the subtrees they complete. Every sibling on the inclusion path of a leaf at or after
    ``start`` is one of these (a perfect subtree left of it is a border subtree at ``start`` or
    contains leaves of the group), so the proofs need no reads."""

    def __init__(self, frontier: list[bytes], start: int) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.placed: dict[bytes, int] = {}
        pos = 0
        for h in frontier:  # largest first: one per set bit of start
            level = (start - pos).bit_length() - 1
            self.nodes[(level, pos >> level)] = h
            pos += 1 << level

    def add(self, index: int, leaf: bytes, completed: list[tuple[int, int, bytes]]) -> None:
        self.placed[leaf] = index
        self.nodes[(0, index)] = leaf
        for level, i, h in completed:
            self.nodes[(level, i)] = h

    def get(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]


def apply_entry(session: Session, head: HeadState, entry: Entry, config: LogConfig, now: int,
                *, store: bool,
                signature_check: SignatureCheck = verify_signature,
                ) -> list[tuple[int, int, bytes]]:
    """Check ``entry`` as the next index and apply it: store it (``store``; a rebuild replays
    stored entries instead), the key registry, the kind's projections and the tree. Returns the
    subtrees it completed."""
    return _apply(session, head, entry, config, now, store=store,
                  signature_check=signature_check)[0]


def _apply(session: Session, head: HeadState, entry: Entry, config: LogConfig, now: int,
           *, store: bool, signature_check: SignatureCheck = verify_signature,
           state: LedgerState | None = None,
           ) -> tuple[list[tuple[int, int, bytes]], Verdict]:
    index = head.size
    if state is None:
        state = DbState(session, head, operator_key_of(head.operator_vkey), before=index)
    verdict = check_entry(entry, state, index, now_ms=now, max_skew_ms=config.max_skew_ms,
                          signature_check=signature_check)
    handler = config.kinds.get(entry.kind)
    if handler is None and entry.kind not in REGISTRY_KINDS:
        raise PayloadInvalid(f"unknown kind {entry.kind!r}", code="kind_unknown", field="kind")
    conn = session.connection()
    if store:
        conn.execute(_INSERT_ENTRY, {
            "idx": index, "leaf_hash": entry.leaf_hash, "stream": entry.stream,
            "seq": entry.seq, "kind": entry.kind, "org": entry.org, "key_fp": entry.key,
            "t_ms": entry.t_ms, "received_ms": now, "note": entry.note.raw,
        })
    _apply_registry(session, verdict, index, entry)
    if handler is not None:
        handler(AppendContext(session, entry, verdict, index, now, config, replay=not store))
    completed = _advance(head, index, entry, verdict)
    if completed:
        conn.execute(_INSERT_NODES, [{"level": lv, "idx": i, "hash": h}
                                     for lv, i, h in completed])
    return completed, verdict


def _advance(head: HeadState, index: int, entry: Entry,
             verdict: Verdict) -> list[tuple[int, int, bytes]]:
    """Move ``head`` past the entry at ``index``; return the subtrees it completed."""
    frontier, completed = append_to_frontier(unpack_frontier(head.frontier), index,
                                             entry.leaf_hash)
    head.size = index + 1
    head.frontier = b"".join(frontier)
    head.root = root_of_frontier(frontier)
    if verdict.operator_org is not None:
        head.operator_org = verdict.operator_org
    if verdict.new_operator is not None:
        head.operator_vkey = verdict.new_operator.vkey
    return completed


def _apply_registry(session: Session, verdict: Verdict, index: int, entry: Entry) -> None:
    # Written through the connection, as DbState reads it: a pending ORM object would be
    # invisible to the next entry's key lookup until something flushed the session (a rebuild
    # replays many entries in one transaction, so a key registered at i must be seen at i + 1).
    conn = session.connection()
    if verdict.new_key is not None:
        conn.execute(_INSERT_KEY, _key_row(verdict.new_key, entry, index))
    if verdict.revoked_key is not None:
        conn.execute(_REVOKE_KEY, {"fp": verdict.revoked_key, "at": index})


def _key_row(rec: KeyRecord, entry: Entry, index: int) -> dict[str, Any]:
    label = entry.data.get("label")
    return {"fingerprint": rec.fingerprint, "org": rec.org, "name": rec.name,
            "key_id": rec.verifier.key_id, "public_key": rec.public_key,
            "label": label if isinstance(label, str) else None, "registered_at": index,
            "revoked_at": None}


def _receipt_for_existing(session: Session, config: LogConfig, head: HeadState, index: int,
                          leaf: bytes) -> Receipt:
    # Proved to the whole tree, under the key in force now: a checkpoint at an older size
    # would have to be signed by the key in force at that size (a rotation may lie between).
    require_operator(config, head.operator_vkey)
    path = stored_inclusion_path(session, index, head.size)
    root = root_from_inclusion(index, head.size, leaf, path)
    assert root == head.root  # the stored tree is consistent with itself
    checkpoint = sign_checkpoint(config.operator, head.size, root)
    return Receipt(index, leaf, format_tlog_proof(index, path, checkpoint), created=False)


# --- checkpoints and proofs --------------------------------------------------------------------


def _latest_checkpoint(session: Session) -> Checkpoint | None:
    return session.scalars(select(Checkpoint).order_by(Checkpoint.size.desc()).limit(1)).first()


def _maybe_store_checkpoint(session: Session, config: LogConfig, head: HeadState,
                            now: int) -> None:
    size, issued = head.checkpoint_size, head.checkpoint_ms
    due = (
        size is None or issued is None
        or head.size - size >= config.checkpoint_every_entries
        or now - issued >= config.checkpoint_every_ms
    )
    if due and (size is None or head.size > size):
        last = None if size is None else session.get(Checkpoint, size)
        _store_checkpoint(session, config, head, last, now)


def _store_checkpoint(session: Session, config: LogConfig, head: HeadState,
                      last: Checkpoint | None, now: int) -> bytes:
    # Never sign a checkpoint inconsistent with the last one published: prove it first.
    if last is not None:
        proof = stored_consistency_path(session, last.size, head.size)
        if not verify_consistency(last.size, head.size, last.root, head.root, proof):
            raise LedgerError("the tree is not consistent with the last checkpoint",
                              code="log_inconsistent")
    note = sign_checkpoint(config.operator, head.size, head.root)
    session.connection().execute(_INSERT_CHECKPOINT, {
        "size": head.size, "root": head.root, "note": note, "issued_ms": now})
    head.checkpoint_size, head.checkpoint_ms = head.size, now
    return note


def issue_checkpoint(session: Session, config: LogConfig) -> bytes:
    """A signed checkpoint of the whole log as it is now (stored if the log has grown)."""
    with write_transaction(session):
        head = read_head(session, lock=True)
        if head is None:
            raise ConfigurationError("the log is not initialised", code="log_not_initialised")
        require_operator(config, head.operator_vkey)
        last = _latest_checkpoint(session)
        if last is not None and last.size == head.size:
            return last.note
        note = _store_checkpoint(session, config, head, last, config.clock())
        write_head(session, head)
        return note


def latest_checkpoint(session: Session, config: LogConfig) -> bytes:
    """The newest stored checkpoint, issuing a fresh one when it is stale."""
    head = log_head(session)
    last = _latest_checkpoint(session)
    fresh = last is not None and (
        last.size == head.size or config.clock() - last.issued_ms < config.checkpoint_every_ms
    )
    return last.note if fresh and last is not None else issue_checkpoint(session, config)


# A note carries at most MAX_SIGNATURES lines: the operator's and up to 15 cosignatures.
MAX_COSIGNATURES = MAX_SIGNATURES - 1


def with_cosignatures(session: Session, note: bytes, size: int) -> bytes:
    """The checkpoint note of ``size`` with the witnesses' cosignature lines appended."""
    lines = session.scalars(select(CheckpointCosignature.line)
                            .where(CheckpointCosignature.size == size)
                            .order_by(CheckpointCosignature.witness)
                            .limit(MAX_COSIGNATURES)).all()
    return note + b"".join(lines)


def checkpoint_at(session: Session, size: int) -> bytes:
    row = session.get(Checkpoint, size)
    if row is None:
        raise NotFound(f"no checkpoint was published at size {size}", code="checkpoint_unknown",
                       field="size")
    return row.note


def _check_size(session: Session, size: int, field: str) -> None:
    if size > log_head(session).size:
        raise NotFound(f"the log has fewer than {size} entries", code="size_beyond_log",
                       field=field)


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    """The inclusion path of entry ``index`` in the tree of ``size`` entries."""
    _check_size(session, size, "size")
    if not 0 <= index < size:
        raise PayloadInvalid("index must be in [0, size)", code="index_out_of_range",
                             field="index")
    return stored_inclusion_path(session, index, size)


def consistency_proof(session: Session, old: int, new: int) -> list[bytes]:
    """The consistency proof from size ``old`` to size ``new``."""
    _check_size(session, new, "new")
    if not 0 <= old <= new:
        raise PayloadInvalid("need 0 <= old <= new", code="size_out_of_range", field="old")
    return stored_consistency_path(session, old, new)


def root_at(session: Session, size: int) -> bytes:
    _check_size(session, size, "size")
    return stored_root(session, size)


# --- reading entries -----------------------------------------------------------------------------


def stream_heads(session: Session, streams: list[str]) -> dict[str, LogEntry]:
    """The last entry of each stream (what a device needs to sign the next one), in one query."""
    if not streams:
        return {}
    last = (select(LogEntry.stream, func.max(LogEntry.seq).label("seq"))
            .where(LogEntry.stream.in_(streams)).group_by(LogEntry.stream).subquery())
    rows = session.scalars(select(LogEntry).join(
        last, (LogEntry.stream == last.c.stream) & (LogEntry.seq == last.c.seq)))
    return {row.stream: row for row in rows}


def stream_head_json(head: LogEntry) -> dict[str, Any]:
    """A stream head as every API answer shows it: ``{"seq", "leaf" (base64), "t"}``."""
    return {"seq": head.seq, "leaf": b64(head.leaf_hash), "t": format_time(head.t_ms)}


def entries_between(session: Session, start: int, stop: int,
                    batch: int = 2000) -> Iterator[LogEntry]:
    """Entries with start <= index < stop in index order, fetched in batches."""
    pos = start
    while pos < stop:
        rows = session.scalars(
            select(LogEntry).where(LogEntry.idx >= pos, LogEntry.idx < min(stop, pos + batch))
            .order_by(LogEntry.idx)
        ).all()
        if not rows:
            return
        yield from rows
        pos = rows[-1].idx + 1


# --- export ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    entries: int
    root: bytes
    directory: str


def export_log(session: Session, config: LogConfig, directory: str,
               progress: Callable[[int, int], None] | None = None) -> ExportResult:
    """Write the whole log, a fresh checkpoint at its size, the older checkpoints and the
    operator key into ``directory`` (see ``ledger.tlog.export``)."""


    cp_note = issue_checkpoint(session, config)
    cp = parse_checkpoint(cp_note, config.operator.verifier)
    out = Path(directory)
    (out / bundle.OLD_CHECKPOINTS).mkdir(parents=True, exist_ok=True)
    with (out / bundle.ENTRIES).open("wb") as fh:
        for n, row in enumerate(entries_between(session, 0, cp.size), start=1):
            bundle.write_record(fh, row.note)
            if progress is not None and (n % 10_000 == 0 or n == cp.size):
                progress(n, cp.size)
    (out / bundle.CHECKPOINT).write_bytes(with_cosignatures(session, cp_note, cp.size))
    # The trust anchor: entry 0's key; a verifier follows any rotation from there.
    (out / bundle.OPERATOR_VKEY).write_text(genesis_operator_vkey(session) + "\n")
    for old in session.scalars(select(Checkpoint).where(Checkpoint.size < cp.size)):
        (out / bundle.OLD_CHECKPOINTS / str(old.size)).write_bytes(old.note)
    session.rollback()  # end the read transaction
    return ExportResult(cp.size, cp.root, str(out))


# --- drafts for thin clients ------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """What a client signs: the canonical payload with the right seq, prev and a fresh time."""

    payload: dict[str, Any]
    text: bytes


def draft_entry(session: Session, config: LogConfig, *, stream: str, org: str, key: str,
                kind: str, data: Mapping[str, Any], t: str | None = None) -> Draft:
    """Build the payload a client should sign next in ``stream``.

    ``t`` is the client's own time (a device that worked offline); default: now. Every rule of
    the append that does not need the signature or the kind's domain state is checked here, with
    the same error: kind, envelope and JSON profile, the key acting for ``org``, the size of the
    signed note, and the time (not before the stream's last entry, not ahead of the clock)."""
    if kind not in config.kinds and kind not in REGISTRY_KINDS:
        raise PayloadInvalid(f"unknown kind {kind!r}", code="kind_unknown", field="kind")
    log = log_head(session)
    state = DbState(session, log, config.operator.verifier)
    head = state.stream_head(stream)
    now = config.clock()
    payload: dict[str, Any] = {
        "stream": stream,
        "seq": 0 if head is None else head.seq + 1,
        "org": org,
        "key": key,
        "t": t if t is not None else format_time(max(now, head.t_ms if head else 0)),
        "kind": kind,
        "data": dict(data),
    }
    if head is not None:
        payload["prev"] = prev_field(head.leaf_hash)
    check_fields(payload)
    text = entry_text(payload)
    try:
        key_name = check_signing_key(state, key, org, log.size)
    finally:
        session.rollback()
    check_note_size(signed_size(text, key_name), config.max_note_bytes)
    check_time(parse_time(payload["t"]), head, now, config.max_skew_ms)
    return Draft(payload, text)

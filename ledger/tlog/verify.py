"""The offline verifier: checks an export without a database, a server or Flask.

``python -m ledger.verify DIR [--checkpoint FILE ...] [--key VKEY] [--jobs N]``

It replays the log from index 0 with the same rules the server enforces on append
(``rules.check_entry``): canonical payloads, every signature against the key registry as it
stood at that index, each stream's seq/prev chain and time order; it recomputes the Merkle root
and compares it with the signed checkpoint, and checks every older checkpoint it is given
against the root of that prefix (so a truncated tail is caught). Exit status 0 with a one-line
summary when everything holds; 1 naming the first failing index, stream and rule; 2 when the
input cannot be read at all.

Ed25519 verification, the costliest step, runs in worker processes while the main process
replays the rules; a signature failure is reported at its index even if it is found late.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from ledger.errors import LedgerError
from ledger.tlog import export as bundle
from ledger.tlog.checkpoints import (
    SignedCheckpoint,
    check_checkpoint_signature,
    read_checkpoint,
)
from ledger.tlog.cosignatures import CosignerKey, cosigners, parse_cosigner_vkey
from ledger.tlog.entries import parse_entry
from ledger.tlog.merkle import EMPTY_ROOT, push_leaf, root_of_frontier
from ledger.tlog.notes import (
    Note,
    NoteSignature,
    VerifierKey,
    b64,
    parse_note,
    parse_vkey,
    verify_ed25519,
)
from ledger.tlog.rules import MemoryState, check_entry

SIG_BATCH = 4096
MAX_RECORD = 1 << 20


@dataclass(frozen=True)
class Failure:
    """The first thing that does not hold."""

    index: int | None
    stream: str | None
    rule: str
    message: str

    def __str__(self) -> str:
        where = "" if self.index is None else f"index {self.index}"
        if self.stream:
            where += f" (stream {self.stream})"
        return f"FAIL {where}: {self.rule}: {self.message}".replace("FAIL : ", "FAIL: ")


@dataclass(frozen=True)
class Summary:
    entries: int
    streams: int
    root: bytes
    checkpoints: int

    def __str__(self) -> str:
        return (f"OK: {self.entries} entries, {self.streams} streams, root {b64(self.root)}, "
                f"{self.checkpoints} checkpoint(s) consistent")


class VerificationFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure


# --- signatures, in worker processes ---------------------------------------------------------

SigJob = tuple[int, bytes, bytes, bytes]  # index, public key, message, signature


def _verify_batch(jobs: list[SigJob]) -> int | None:
    """The first index whose signature does not verify (the strict rule of the append path,
    ``notes.verify_ed25519``), or None."""
    for index, pub, msg, sig in jobs:
        if not verify_ed25519(pub, msg, sig):
            return index
    return None


class SignatureQueue:
    """Collects signature checks and runs them in batches, in a pool or inline."""

    def __init__(self, jobs: int) -> None:
        self.pool = ProcessPoolExecutor(jobs) if jobs > 1 else None
        self.pending: list[SigJob] = []
        self.futures: list[Future[int | None]] = []
        self.inline_failure: int | None = None

    def add(self, index: int) -> Callable[[Note, NoteSignature, VerifierKey], None]:
        def check(note: Note, sig: NoteSignature, key: VerifierKey) -> None:
            self.pending.append((index, key.public_key, note.text, sig.signature))
            if len(self.pending) >= SIG_BATCH:
                self.flush()
        return check

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        if self.pool is None:
            bad = _verify_batch(batch)
            if bad is not None and self.inline_failure is None:
                self.inline_failure = bad
        else:
            self.futures.append(self.pool.submit(_verify_batch, batch))

    def first_failure(self) -> int | None:
        self.flush()
        bad = [i for i in (f.result() for f in self.futures) if i is not None]
        if self.inline_failure is not None:
            bad.append(self.inline_failure)
        return min(bad) if bad else None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


# --- the replay ----------------------------------------------------------------------------


class Progress:
    """Progress on stderr for long runs: a line every few seconds, off when quiet."""

    def __init__(self, total_bytes: int, quiet: bool) -> None:
        self.total = max(total_bytes, 1)
        self.quiet = quiet
        self.last = time.monotonic()

    def update(self, done_bytes: int, entries: int) -> None:
        now = time.monotonic()
        if self.quiet or now - self.last < 2.0:
            return
        self.last = now
        print(f"verify: {entries} entries, {100 * done_bytes // self.total}% read",
              file=sys.stderr, flush=True)


Held = tuple[Path, SignedCheckpoint]  # a checkpoint not yet signature-checked, and its file


def _load_checkpoints(directory: Path, extra: Sequence[Path],
                      operator: VerifierKey) -> tuple[Held, list[Held]]:
    def load(path: Path) -> Held:
        try:
            return path, read_checkpoint(path.read_bytes(), operator.name)
        except OSError as exc:
            raise VerificationFailed(Failure(None, None, "export_unreadable", str(exc))) from None
        except LedgerError as exc:
            failure = Failure(None, None, exc.code, f"{path}: {exc.message}")
            raise VerificationFailed(failure) from None

    latest = load(directory / bundle.CHECKPOINT)
    older_dir = directory / bundle.OLD_CHECKPOINTS
    paths = list(extra) + (sorted(p for p in older_dir.iterdir() if p.is_file())
                           if older_dir.is_dir() else [])
    return latest, [load(p) for p in paths]


class CheckpointSignatures:
    """Checks each checkpoint's signature with the operator key in force at its size, once the
    replay has reached that size (a rotation may change the key; docs/ledger-format.md)."""

    def __init__(self, held: Sequence[Held]) -> None:
        self.due: dict[int, list[Held]] = {}
        for path, cp in held:
            self.due.setdefault(cp.size, []).append((path, cp))

    def reached(self, size: int, key: VerifierKey) -> None:
        for path, cp in self.due.pop(size, ()):
            try:
                check_checkpoint_signature(cp, key)
            except LedgerError as exc:
                raise VerificationFailed(Failure(None, None, exc.code,
                                                 f"{path}: {exc.message}")) from None

    def beyond(self, key: VerifierKey) -> None:
        """Those past the end of the replay: the last key in force is the only one known."""
        for size in sorted(self.due):
            self.reached(size, key)


def verify_export(directory: Path, *, checkpoints: Sequence[Path] = (),
                  operator: VerifierKey | None = None, jobs: int = 1,
                  quiet: bool = True, witnesses: Sequence[CosignerKey] = (),
                  witness_quorum: int = 0) -> Summary:
    """Verify an export directory; raise VerificationFailed with the first failure.

    ``operator`` (default: the export's operator.vkey) is the key of entry 0, the trust anchor;
    operator.rotated entries hand trust on to the keys they name. With ``witnesses``, at least
    ``witness_quorum`` of them must have cosigned the latest checkpoint (docs/ledger-format.md,
    section 11)."""
    if operator is None:
        operator = _read_vkey(directory / bundle.OPERATOR_VKEY)
    (_, latest), older_held = _load_checkpoints(directory, checkpoints, operator)
    older = [cp for _, cp in older_held]
    _check_quorum(latest, witnesses, witness_quorum)
    # Every checkpoint is checked: the export's own must never mask one the user holds.
    wanted: dict[int, list[SignedCheckpoint]] = {}
    for cp in older:
        wanted.setdefault(cp.size, []).append(cp)
    for cp in wanted.get(0, []):
        if cp.root != EMPTY_ROOT:
            raise VerificationFailed(Failure(None, None, "checkpoint_inconsistent",
                                             "a size-0 checkpoint must have the empty root"))
    state = MemoryState(operator)
    signed = CheckpointSignatures([(directory / bundle.CHECKPOINT, latest), *older_held])
    signed.reached(0, state.operator_key)
    sigs = SignatureQueue(jobs)
    try:
        count, root = _replay(directory / bundle.ENTRIES, state, sigs, wanted, signed, quiet)
        bad = sigs.first_failure()
    finally:
        sigs.close()
    if bad is not None:
        raise VerificationFailed(Failure(bad, None, "signature_invalid",
                                         "a signature does not verify"))
    signed.beyond(state.operator_key)
    for cp in older:
        if cp.size > latest.size:
            raise VerificationFailed(Failure(
                latest.size, None, "log_truncated",
                f"an older checkpoint has size {cp.size}, the export only {latest.size}: "
                "entries were removed from the tail"))
    if count != latest.size:
        rule = "log_truncated" if count < latest.size else "entries_beyond_checkpoint"
        raise VerificationFailed(Failure(min(count, latest.size), None, rule,
                                         f"export has {count} entries, checkpoint says "
                                         f"{latest.size}"))
    if root != latest.root:
        raise VerificationFailed(Failure(None, None, "root_mismatch",
                                         "the entries' Merkle root is not the checkpoint's"))
    return Summary(count, len(state.heads), root, 1 + len(older))


def _check_quorum(latest: SignedCheckpoint, witnesses: Sequence[CosignerKey],
                  quorum: int) -> None:
    if quorum <= 0:
        return
    signed = cosigners(parse_note(latest.note), witnesses)
    if len(signed) < quorum:
        missing = [w.name for w in dict.fromkeys(witnesses) if w not in signed]
        raise VerificationFailed(Failure(
            None, None, "witness_quorum",
            f"{len(signed)} of the given witnesses cosigned the checkpoint, {quorum} needed "
            f"(no valid cosignature by: {', '.join(missing)})"))


def _replay(path: Path, state: MemoryState, sigs: SignatureQueue,
            wanted: dict[int, list[SignedCheckpoint]], signed: CheckpointSignatures,
            quiet: bool) -> tuple[int, bytes]:
    frontier: list[bytes] = []
    index = 0
    progress = Progress(path.stat().st_size if path.exists() else 0, quiet)
    done = 0
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise VerificationFailed(Failure(None, None, "export_unreadable", str(exc))) from None
    with fh:
        records = bundle.read_records(fh, MAX_RECORD)
        while True:
            try:
                raw = next(records)
            except StopIteration:
                break
            except LedgerError as exc:
                _fail_after_signatures(sigs, Failure(index, None, exc.code, exc.message))
            stream = None
            try:
                entry = parse_entry(raw, max_size=MAX_RECORD)
                stream = entry.stream
                verdict = check_entry(entry, state, index, signature_check=sigs.add(index))
            except LedgerError as exc:
                _fail_after_signatures(sigs, Failure(index, stream, exc.code, exc.message))
            state.apply(entry, verdict, index)
            push_leaf(frontier, index, entry.leaf_hash)
            index += 1
            done += 4 + len(raw)
            try:
                signed.reached(index, state.operator_key)
            except VerificationFailed as exc:
                _fail_after_signatures(sigs, exc.failure)
            if any(cp.root != root_of_frontier(frontier) for cp in wanted.get(index, ())):
                _fail_after_signatures(sigs, Failure(
                    index - 1, None, "checkpoint_inconsistent",
                    f"the first {index} entries do not have the root of the checkpoint "
                    f"at size {index}"))
            progress.update(done, index)
    return index, root_of_frontier(frontier)


def _fail_after_signatures(sigs: SignatureQueue, failure: Failure) -> NoReturn:
    """Report ``failure`` unless an earlier entry's signature already failed."""
    bad = sigs.first_failure()
    if bad is not None and (failure.index is None or bad < failure.index):
        failure = Failure(bad, None, "signature_invalid", "a signature does not verify")
    raise VerificationFailed(failure)


def _read_vkey(path: Path) -> VerifierKey:
    # Read as bytes and decoded as UTF-8 here, not with the locale's encoding: bytes that are
    # not UTF-8 are a malformed key file (exit 1), a file that cannot be read is unreadable.
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise VerificationFailed(Failure(None, None, "operator_key_unreadable", str(exc))) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationFailed(Failure(None, None, "operator_key_malformed",
                                         f"{path} is not UTF-8 text")) from None
    if not text.endswith("\n") or text.count("\n") != 1 or text != text.lstrip():
        raise VerificationFailed(Failure(None, None, "operator_key_malformed",
                                         f"{path} must hold exactly one vkey line"))
    try:
        return parse_vkey(text[:-1])
    except LedgerError as exc:
        raise VerificationFailed(Failure(None, None, exc.code, exc.message)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ledger.verify",
        description="Verify a waste-ledger export offline.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--checkpoint", action="append", type=Path, default=[],
                        help="an older checkpoint you hold; the export must be consistent "
                             "with it (repeatable)")
    parser.add_argument("--key", help="the operator vkey to trust (default: DIR/operator.vkey)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="processes for signature checks (default: all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--witness", action="append", default=[], metavar="VKEY",
                        help="a witness's cosigning vkey (type 0x04) you trust (repeatable)")
    parser.add_argument("--witness-quorum", type=int, metavar="K",
                        help="how many of the --witness keys must have cosigned the "
                             "checkpoint (default: all of them)")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        print(f"error: {args.directory} is not a directory", file=sys.stderr)
        return 2
    missing = [n for n in (bundle.ENTRIES, bundle.CHECKPOINT)
               + (() if args.key else (bundle.OPERATOR_VKEY,))
               if not (args.directory / n).is_file()]
    missing += [str(p) for p in args.checkpoint if not p.is_file()]
    if missing:
        print(f"error: missing in {args.directory}: {', '.join(missing)}", file=sys.stderr)
        return 2
    quorum = len(args.witness) if args.witness_quorum is None else args.witness_quorum
    if not 0 <= quorum <= len(args.witness) or (args.witness_quorum is not None
                                                 and not args.witness):
        print(f"error: --witness-quorum {quorum} needs at least that many --witness keys",
              file=sys.stderr)
        return 2
    try:
        operator = parse_vkey(args.key) if args.key else None
        witnesses = [parse_cosigner_vkey(v) for v in args.witness]
        summary = verify_export(args.directory, checkpoints=args.checkpoint, operator=operator,
                                jobs=max(1, args.jobs), quiet=args.quiet,
                                witnesses=witnesses, witness_quorum=quorum)
    except VerificationFailed as exc:
        print(exc.failure)
        return 1
    except LedgerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

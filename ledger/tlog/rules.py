"""The integrity rules every entry must satisfy at its log index, and the key registry.

The same function, ``check_entry``, runs where entries are appended (against the database) and
in the offline verifier (against state rebuilt from index 0), so the two can never disagree
about what a valid log is. Custody rules (who may release what) live in the domain modules and
run only at append time; they are checked again by ``rebuild``.

Trust starts from the operator's key, given out of band (``operator.vkey``). Index 0 must be
the operator registering its own organisation (``org.registered`` in ``org:<its USCC>``, signed
by the operator key). From then on the registry kinds below say which key may sign for which
organisation at every index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ledger.errors import Conflict, KeyNotAuthorised, PayloadInvalid, RuleViolation
from ledger.tlog.entries import ORG_RE, Entry
from ledger.tlog.notes import (
    Note,
    NoteSignature,
    VerifierKey,
    check_key_name,
    parse_vkey,
    verify_signature,
)

ORG_STREAM_PREFIX = "org:"
KIND_ORG_REGISTERED = "org.registered"
KIND_KEY_REGISTERED = "key.registered"
KIND_KEY_REVOKED = "key.revoked"
KIND_OPERATOR_ROTATED = "operator.rotated"
REGISTRY_KINDS = frozenset({KIND_ORG_REGISTERED, KIND_KEY_REGISTERED, KIND_KEY_REVOKED,
                            KIND_OPERATOR_ROTATED})


def org_stream(org: str) -> str:
    """The registry stream of an organisation."""
    return ORG_STREAM_PREFIX + org


@dataclass
class KeyRecord:
    """A key registered to an organisation, valid from the entry after ``registered_at``
    until (and including) the entry that revokes it."""

    fingerprint: str
    org: str
    name: str
    public_key: bytes
    registered_at: int
    revoked_at: int | None = None

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.public_key)

    def valid_at(self, index: int) -> bool:
        # A revocation entry may itself be signed by the key it revokes; entries after it may not.
        return self.registered_at < index and (self.revoked_at is None or index <= self.revoked_at)


@dataclass(frozen=True)
class StreamHead:
    """The last entry of a stream: what the next one must chain to."""

    seq: int
    leaf_hash: bytes
    t_ms: int


class LedgerState(Protocol):
    """What the rules need to know about the log before the entry being checked."""

    operator_key: VerifierKey
    operator_org: str | None

    def stream_head(self, stream: str) -> StreamHead | None: ...

    def key_by_fingerprint(self, fingerprint: str) -> KeyRecord | None: ...

    def keys_by_id(self, name: str, key_id: bytes) -> list[KeyRecord]: ...


SignatureCheck = Callable[[Note, NoteSignature, VerifierKey], None]


@dataclass
class Verdict:
    """What checking an entry established; ``effects`` are applied to the key registry."""

    signer_orgs: set[str] = field(default_factory=set)
    new_key: KeyRecord | None = None
    revoked_key: str | None = None
    operator_org: str | None = None
    new_operator: VerifierKey | None = None  # in force from the next index on


def check_entry(
    entry: Entry,
    state: LedgerState,
    index: int,
    *,
    now_ms: int | None = None,
    max_skew_ms: int = 300_000,
    signature_check: SignatureCheck = verify_signature,
) -> Verdict:
    """Check ``entry`` as the entry at log ``index``; raise the specific error of the first
    rule it breaks. The state is not changed: apply the verdict once the entry is stored."""
    verdict = Verdict()
    _check_chain(entry, state.stream_head(entry.stream), now_ms, max_skew_ms)
    _check_signatures(entry, state, index, verdict, signature_check)
    _check_registry(entry, state, index, verdict, signature_check)
    return verdict


def _check_chain(
    entry: Entry, head: StreamHead | None, now_ms: int | None, max_skew_ms: int
) -> None:
    expected = 0 if head is None else head.seq + 1
    if entry.seq != expected:
        raise Conflict(
            f"stream {entry.stream} expects seq {expected}, entry has {entry.seq}",
            code="seq_mismatch",
            field="seq",
            expected=expected,
        )
    if head is not None and entry.prev != head.leaf_hash:
        raise Conflict(
            f"prev does not match the leaf hash of {entry.stream} seq {head.seq}",
            code="prev_mismatch",
            field="prev",
        )
    check_time(entry.t_ms, head, now_ms, max_skew_ms)


def check_time(t_ms: int, head: StreamHead | None, now_ms: int | None,
               max_skew_ms: int) -> None:
    """``t`` is not before the stream's previous entry nor (when ``now_ms`` is given, on append
    and for drafts) more than the allowed skew ahead of the server clock."""
    if head is not None and t_ms < head.t_ms:
        raise RuleViolation("time is before the stream's previous entry",
                            code="time_before_previous", field="t")
    if now_ms is not None and t_ms > now_ms + max_skew_ms:
        raise RuleViolation(f"time is more than {max_skew_ms // 1000} s ahead of the server clock",
                            code="time_in_future", field="t")


def _signer_candidates(
    state: LedgerState, sig: NoteSignature, index: int
) -> Iterable[tuple[VerifierKey, str | None, KeyRecord | None]]:
    op = state.operator_key
    if sig.name == op.name and sig.key_id == op.key_id:
        yield op, state.operator_org, None
    for rec in state.keys_by_id(sig.name, sig.key_id):
        if rec.registered_at < index:
            yield rec.verifier, rec.org, rec


def _check_signatures(
    entry: Entry, state: LedgerState, index: int, verdict: Verdict, check: SignatureCheck
) -> None:
    seen: set[tuple[str, bytes]] = set()
    primary_ok = False
    for sig in entry.note.signatures:
        if (sig.name, sig.key_id) in seen:
            raise RuleViolation(f"two signatures by {sig.name}", code="signature_duplicate",
                                field="note")
        seen.add((sig.name, sig.key_id))
        for key, org, rec in _signer_candidates(state, sig, index):
            check(entry.note, sig, key)
            if rec is not None and not rec.valid_at(index):
                raise KeyNotAuthorised(f"key {rec.fingerprint[:16]}… was revoked",
                                       code="key_revoked", field="note")
            if org is not None:
                verdict.signer_orgs.add(org)
            if key.fingerprint == entry.key:
                primary_ok = org == entry.org or (org is None and index == 0)
            break
    if not primary_ok:
        _explain_primary_failure(entry, state, index)


def _explain_primary_failure(entry: Entry, state: LedgerState, index: int) -> None:
    if _key_org(state, entry.key, index) != entry.org:
        raise KeyNotAuthorised(f"the key is not registered to {entry.org}", code="key_wrong_org",
                               field="key")
    raise KeyNotAuthorised("the note carries no signature by the key named in 'key'",
                           code="signature_missing", field="note")


def _key_org(state: LedgerState, key: str, index: int) -> str | None:
    """The organisation the key with fingerprint ``key`` acts for at ``index``."""
    if key == state.operator_key.fingerprint:
        return state.operator_org
    rec = state.key_by_fingerprint(key)
    if rec is None or rec.registered_at >= index:
        raise KeyNotAuthorised("the key named in 'key' is not registered", code="key_unknown",
                               field="key")
    return rec.org


def check_signing_key(state: LedgerState, key: str, org: str, index: int) -> str:
    """What the primary-signature rule of ``check_entry`` can tell before anything is signed:
    the key named ``key`` is registered, acts for ``org`` and is valid at ``index``. Returns
    the key's name (its signature line carries it)."""
    if _key_org(state, key, index) != org:
        raise KeyNotAuthorised(f"the key is not registered to {org}", code="key_wrong_org",
                               field="key")
    if key == state.operator_key.fingerprint:
        return state.operator_key.name
    rec = state.key_by_fingerprint(key)
    assert rec is not None  # _key_org found it
    if not rec.valid_at(index):
        raise KeyNotAuthorised(f"key {rec.fingerprint[:16]}… was revoked", code="key_revoked",
                               field="key")
    return rec.name


def _check_registry(entry: Entry, state: LedgerState, index: int, verdict: Verdict,
                    signature_check: SignatureCheck) -> None:
    stream = entry.stream
    is_org_stream = stream.startswith(ORG_STREAM_PREFIX)
    if index == 0:
        _check_genesis(entry, state, verdict)
        return
    if entry.kind in REGISTRY_KINDS and not is_org_stream:
        raise RuleViolation(f"{entry.kind} belongs in an org: stream", code="registry_stream",
                            field="stream")
    if not is_org_stream:
        return
    subject = stream[len(ORG_STREAM_PREFIX):]
    if not ORG_RE.fullmatch(subject):
        raise PayloadInvalid("an org: stream names an 18-character organisation code",
                             code="field_invalid", field="stream")
    if entry.seq == 0 and entry.kind != KIND_ORG_REGISTERED:
        raise RuleViolation("an organisation's stream starts with org.registered",
                            code="org_not_registered", field="kind")
    if entry.kind == KIND_ORG_REGISTERED:
        _check_org_registered(entry, state, subject)
    elif entry.kind == KIND_KEY_REGISTERED:
        verdict.new_key = _check_key_registered(entry, state, subject, index)
    elif entry.kind == KIND_KEY_REVOKED:
        verdict.revoked_key = _check_key_revoked(entry, state, subject)
    elif entry.kind == KIND_OPERATOR_ROTATED:
        verdict.new_operator = _check_operator_rotated(entry, state, subject, signature_check)


def _check_genesis(entry: Entry, state: LedgerState, verdict: Verdict) -> None:
    if (
        entry.kind != KIND_ORG_REGISTERED
        or entry.stream != org_stream(entry.org)
        or entry.key != state.operator_key.fingerprint
    ):
        raise RuleViolation(
            "index 0 must be the operator registering its own organisation",
            code="genesis_invalid",
            field="kind",
        )
    _check_org_data(entry)
    verdict.operator_org = entry.org


def _require_registrar(entry: Entry, state: LedgerState, subject: str) -> None:
    if entry.org not in (state.operator_org, subject):
        raise KeyNotAuthorised(
            "only the operator or the organisation itself may change its registry",
            code="registry_forbidden",
            field="org",
        )


def _check_org_data(entry: Entry) -> None:
    name = entry.data.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise PayloadInvalid("org.registered needs a name of 1-200 characters",
                             code="field_invalid", field="data.name")


def _check_org_registered(entry: Entry, state: LedgerState, subject: str) -> None:
    if entry.seq != 0:
        raise Conflict(f"{subject} is already registered", code="org_already_registered",
                       field="stream")
    if entry.org != state.operator_org:
        raise KeyNotAuthorised("only the operator registers organisations",
                               code="registry_forbidden", field="org")
    _check_org_data(entry)


def _check_key_registered(
    entry: Entry, state: LedgerState, subject: str, index: int
) -> KeyRecord:
    _require_registrar(entry, state, subject)
    vkey_text = entry.data.get("vkey")
    if not isinstance(vkey_text, str):
        raise PayloadInvalid("key.registered needs data.vkey", code="field_missing",
                             field="data.vkey")
    vk = parse_vkey(vkey_text)
    check_key_name(vk.name)
    label = entry.data.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > 200):
        raise PayloadInvalid("data.label is text of at most 200 characters",
                             code="field_invalid", field="data.label")
    if vk.fingerprint == state.operator_key.fingerprint or state.key_by_fingerprint(
        vk.fingerprint
    ):
        raise Conflict("this public key is already registered", code="key_already_registered",
                       field="data.vkey")
    return KeyRecord(vk.fingerprint, subject, vk.name, vk.public_key, registered_at=index)


def _check_key_revoked(entry: Entry, state: LedgerState, subject: str) -> str:
    _require_registrar(entry, state, subject)
    fp = entry.data.get("key")
    rec = state.key_by_fingerprint(fp) if isinstance(fp, str) else None
    if rec is None or rec.org != subject:
        raise RuleViolation(f"no key {fp!r} is registered to {subject}", code="key_unknown",
                            field="data.key")
    if rec.revoked_at is not None:
        raise Conflict("the key is already revoked", code="key_already_revoked",
                       field="data.key")
    return rec.fingerprint


def _check_operator_rotated(entry: Entry, state: LedgerState, subject: str,
                            signature_check: SignatureCheck) -> VerifierKey:
    """A planned change of the operator key: signed by the key in force (the entry's ``key``),
    naming it in full (``data.old``) and the new key (``data.vkey``, same name: the log's
    origin), and signed by the new key too, which proves its holder has it."""
    old = state.operator_key
    if subject != state.operator_org or entry.org != state.operator_org or (
            entry.key != old.fingerprint):
        raise KeyNotAuthorised("only the operator key in force rotates itself, in the "
                               "operator's own stream", code="registry_forbidden", field="key")
    if entry.data.get("old") != old.vkey:
        raise RuleViolation("data.old must be the operator key in force", code="field_invalid",
                            field="data.old")
    vkey_text = entry.data.get("vkey")
    if not isinstance(vkey_text, str):
        raise PayloadInvalid("operator.rotated needs data.vkey", code="field_missing",
                             field="data.vkey")
    new = parse_vkey(vkey_text)
    if new.name != old.name:
        raise PayloadInvalid(f"the new operator key must be named {old.name!r} (the log's "
                             "origin)", code="field_invalid", field="data.vkey")
    if new.fingerprint == old.fingerprint or state.key_by_fingerprint(new.fingerprint):
        raise Conflict("this public key is already in use", code="key_already_registered",
                       field="data.vkey")
    by_new = [s for s in entry.note.signatures if s.name == new.name and s.key_id == new.key_id]
    if not by_new:
        raise KeyNotAuthorised("the note carries no signature by the new operator key",
                               code="signature_missing", field="note")
    signature_check(entry.note, by_new[0], new)
    return new


class MemoryState:
    """LedgerState held in memory: the offline verifier's, and the tests'."""

    def __init__(self, operator_key: VerifierKey) -> None:
        self.operator_key = operator_key
        self.operator_org: str | None = None
        self.heads: dict[str, StreamHead] = {}
        self.keys: dict[str, KeyRecord] = {}
        self._by_id: dict[tuple[str, bytes], list[KeyRecord]] = {}

    def stream_head(self, stream: str) -> StreamHead | None:
        return self.heads.get(stream)

    def key_by_fingerprint(self, fingerprint: str) -> KeyRecord | None:
        return self.keys.get(fingerprint)

    def keys_by_id(self, name: str, key_id: bytes) -> list[KeyRecord]:
        return self._by_id.get((name, key_id), [])

    def apply(self, entry: Entry, verdict: Verdict, index: int) -> None:
        """Record an accepted entry: advance its stream and update the key registry."""
        self.heads[entry.stream] = StreamHead(entry.seq, entry.leaf_hash, entry.t_ms)
        if verdict.operator_org is not None:
            self.operator_org = verdict.operator_org
        if verdict.new_operator is not None:
            self.operator_key = verdict.new_operator
        if verdict.new_key is not None:
            rec = verdict.new_key
            self.keys[rec.fingerprint] = rec
            self._by_id.setdefault((rec.name, rec.verifier.key_id), []).append(rec)
        if verdict.revoked_key is not None:
            self.keys[verdict.revoked_key].revoked_at = index

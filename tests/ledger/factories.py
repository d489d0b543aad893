"""Small builders for core tests: a log on a real database, parties with keys, entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ledger import migrations
from ledger.tlog.db import configure_engine
from ledger.tlog.entries import entry_text, format_time, parse_entry, prev_field
from ledger.tlog.log import (
    AppendContext,
    DbState,
    LogConfig,
    Receipt,
    append_entry,
    init_log,
    log_head,
)
from ledger.tlog.notes import Signer, sign_note
from ledger.tlog.rules import org_stream

OPERATOR_SEED = bytes(range(32))
OPERATOR_ORG = "913300000000000191"
GENESIS = {"name": "平台运营方", "region": "330000", "roles": ["operator"]}
T0 = 1_790_000_000_000  # 2026-09-21T...Z, a fixed clock for tests


def operator() -> Signer:
    return Signer.from_seed("waste-ledger.test/log", OPERATOR_SEED)


def _accept(ctx: AppendContext) -> None:
    """The test kind has no domain rules."""


@dataclass
class Clock:
    ms: int = T0

    def __call__(self) -> int:
        return self.ms


@dataclass
class World:
    """A log under test and helpers to act in it."""

    session: Session
    config: LogConfig
    clock: Clock
    heads: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    @property
    def operator(self) -> Signer:
        return self.config.operator

    def draft(self, signer: Signer, org: str, stream: str, kind: str = "test.note",
              data: dict[str, Any] | None = None, *, seq: int | None = None,
              prev: bytes | None = None, t: int | None = None) -> dict[str, Any]:
        last = self.heads.get(stream)
        payload: dict[str, Any] = {
            "stream": stream,
            "seq": seq if seq is not None else (0 if last is None else last[0] + 1),
            "org": org,
            "key": signer.verifier.fingerprint,
            "t": format_time(t if t is not None else self.clock.ms),
            "kind": kind,
            "data": data if data is not None else {},
        }
        p = prev if prev is not None else (None if last is None else last[1])
        if payload["seq"] > 0 and p is not None:
            payload["prev"] = prev_field(p)
        return payload

    def sign(self, payload: dict[str, Any], *signers: Signer) -> bytes:
        return sign_note(entry_text(payload), *signers)

    def append(self, raw: bytes) -> Receipt:
        receipt = append_entry(self.session, raw, self.config)
        e = parse_entry(raw)
        self.heads[e.stream] = (e.seq, e.leaf_hash)
        return receipt

    def act(self, signer: Signer, org: str, stream: str, kind: str = "test.note",
            data: dict[str, Any] | None = None) -> Receipt:
        return self.append(self.sign(self.draft(signer, org, stream, kind, data), signer))

    def register_org(self, org: str, name: str = "测试单位", region: str = "331002",
                     roles: tuple[str, ...] = ("generator",)) -> Receipt:
        return self.act(self.operator, OPERATOR_ORG, org_stream(org), "org.registered",
                        {"name": name, "region": region, "roles": list(roles)})

    def register_key(self, org: str, name: str, by: Signer | None = None,
                     by_org: str | None = None) -> Signer:
        key = Signer.generate(name)
        self.act(by or self.operator, by_org or OPERATOR_ORG, org_stream(org), "key.registered",
                 {"vkey": key.verifier.vkey, "label": name})
        return key

    def revoke_key(self, org: str, key: Signer, by: Signer | None = None,
                   by_org: str | None = None) -> Receipt:
        return self.act(by or self.operator, by_org or OPERATOR_ORG, org_stream(org),
                        "key.revoked", {"key": key.verifier.fingerprint, "reason": "lost"})


def log_config_for_tests(**overrides: Any) -> LogConfig:
    """The log configuration every test process can rebuild for itself."""
    overrides.setdefault("kinds", {"test.note": _accept})
    return LogConfig(operator=operator(), clock=Clock(), **overrides)


def make_world(engine, *, migrate: bool = True, **overrides: Any) -> World:
    """A log on ``engine`` (its schema migrated to head unless ``migrate`` is False: the
    caller built it, e.g. from a frozen older schema)."""
    configure_engine(engine)
    if migrate:
        migrations.upgrade(engine)
    session = sessionmaker(engine)()
    config = log_config_for_tests(**overrides)
    clock = config.clock
    assert isinstance(clock, Clock)
    init_log(session, config, OPERATOR_ORG, GENESIS)
    world = World(session, config, clock)
    world.heads[org_stream(OPERATOR_ORG)] = _head_of(session, org_stream(OPERATOR_ORG))
    return world


def _head_of(session: Session, stream: str) -> tuple[int, bytes]:
    h = DbState(session, log_head(session), operator().verifier).stream_head(stream)
    assert h is not None
    session.rollback()
    return (h.seq, h.leaf_hash)

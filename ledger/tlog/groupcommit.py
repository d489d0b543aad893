"""Group commit: many threads hand their work to whichever of them is integrating.

A thread that submits work queues it and, if no other thread of the process is integrating,
becomes the *leader*: it calls ``integrate(take)``, which takes the database's write lock first
and only then calls ``take()`` to drain the queue, so everything that arrived while it waited
for the lock goes into the same transaction. Other submitters sleep on a condition variable
and wake when their items have an outcome. The queue is per process: processes meet at the
database lock (the log-head row on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), and while one
process holds it the others' queues fill up, so they too integrate in batches.

Nothing here knows about the log; ``ledger.tlog.log`` supplies ``integrate``.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# An item's outcome is its result or the exception to raise in its submitter's thread.
Take = Callable[[], list[Any]]
Integrate = Callable[[Take], list[Any]]


@dataclass(eq=False)
class _Ticket(Generic[T]):
    item: T
    done: bool = False
    outcome: Any = None


@dataclass(eq=False)
class GroupCommit:
    """The pending set of one process for one log; ``max_batch`` bounds one transaction."""

    max_batch: int = 1000
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _queue: deque[_Ticket[Any]] = field(default_factory=deque)
    _leading: bool = False

    def submit(self, items: Sequence[T], integrate: Integrate) -> list[Any]:
        """Queue ``items`` and return their outcomes, in order, once a batch holding each has
        been integrated (by this thread or another)."""
        tickets = [_Ticket(item) for item in items]
        with self._cond:
            self._queue.extend(tickets)
        while True:
            with self._cond:
                while self._leading and not all(t.done for t in tickets):
                    self._cond.wait()
                if all(t.done for t in tickets):
                    return [t.outcome for t in tickets]
                self._leading = True
            self._lead(integrate, tickets)

    def _lead(self, integrate: Integrate, mine: list[_Ticket[Any]]) -> None:
        taken: list[_Ticket[Any]] = []

        def take() -> list[Any]:
            with self._cond:
                while self._queue and len(taken) < self.max_batch:
                    taken.append(self._queue.popleft())
            return [t.item for t in taken]

        try:
            outcomes: list[Any] = integrate(take)
            if len(outcomes) != len(taken):
                raise RuntimeError("integrate returned an outcome count unlike the batch")
        except BaseException as exc:  # every submitter in the batch sees the failure
            outcomes = [exc] * len(taken)
            failed: BaseException | None = exc
        else:
            failed = None
        with self._cond:
            for ticket, outcome in zip(taken, outcomes, strict=True):
                ticket.outcome, ticket.done = outcome, True
            if failed is not None:
                # Failed before it took our own items (the lock could not be had): fail them
                # too, rather than spin retrying on someone else's behalf.
                for ticket in mine:
                    if not ticket.done:
                        self._queue.remove(ticket)
                        ticket.outcome, ticket.done = failed, True
            self._leading = False
            self._cond.notify_all()


_registry: weakref.WeakKeyDictionary[Any, dict[int, GroupCommit]] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def group_for(owner: Any, config: Any) -> GroupCommit:
    """The process's pending set for ``owner`` (a database engine) and ``config`` (items of one
    group are integrated with the leader's configuration, so they must share it)."""
    with _registry_lock:
        groups = _registry.setdefault(owner, {})
        group = groups.get(id(config))
        if group is None:
            group = groups[id(config)] = GroupCommit()
        return group

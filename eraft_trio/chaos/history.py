"""Operation records of a chaos run, and the recorder clients call as they invoke and complete them.

A history is a list of `Op`s, one per client request, in the Jepsen/porcupine style:
each op carries the time it was invoked and the time its answer came back, and an
outcome that says what the client learned about its effect:

- ``ok``: the op definitely took effect (for a get, `value` is what it observed);
- ``fail``: the op definitely did not take effect (the checker drops it);
- ``timeout``: indeterminate. A timed-out write may take effect at any time after
  its invoke, or never; a timed-out read tells nothing and is dropped.

Every put should write a value never written before, so a value identifies its write
and lost or duplicated writes show up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NewType, get_args

OpKind = Literal["get", "put", "delete"]
Outcome = Literal["ok", "fail", "timeout"]
OpHandle = NewType("OpHandle", int)

_KINDS: frozenset[str] = frozenset(get_args(OpKind))
_OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))


@dataclass(frozen=True, slots=True)
class Op:
    """One client request: its key, its value, when it ran and what the client learned.

    `value` is the written value for a put, the observed value for a get (None means
    the key was missing) and None for a delete. `complete` is None when the client
    never heard back (only possible for a timeout).
    """

    process: int
    kind: OpKind
    key: bytes
    value: bytes | None
    invoke: float
    complete: float | None
    outcome: Outcome

    def __post_init__(self) -> None:
        # A malformed record would make the checker's verdict meaningless, so refuse it here.
        if self.kind not in _KINDS:
            raise ValueError(f"unknown op kind {self.kind!r}")
        if self.outcome not in _OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")
        if self.kind == "put" and self.value is None:
            raise ValueError("a put must carry the value it writes")
        if self.kind == "delete" and self.value is not None:
            raise ValueError("a delete carries no value")
        if self.complete is None and self.outcome != "timeout":
            raise ValueError(f"an op with outcome {self.outcome!r} must have a completion time")
        if self.complete is not None and self.complete < self.invoke:
            raise ValueError(f"op completes ({self.complete}) before it is invoked ({self.invoke})")

    @property
    def is_write(self) -> bool:
        return self.kind != "get"

    def describe(self) -> str:
        """One readable line, e.g. ``p3 put b'k' := b'v7' ok [1.200000, 1.250000]``."""
        if self.kind == "put":
            action = f"put {self.key!r} := {self.value!r}"
        elif self.kind == "delete":
            action = f"delete {self.key!r}"
        else:
            shown = "<missing>" if self.value is None else repr(self.value)
            action = f"get {self.key!r} -> {shown}"
        end = "inf)" if self.outcome == "timeout" else f"{self.complete:.6f}]"
        return f"p{self.process} {action} {self.outcome} [{self.invoke:.6f}, {end}"


@dataclass(frozen=True, slots=True)
class _PendingOp:
    process: int
    kind: OpKind
    key: bytes
    value: bytes | None
    invoke: float


class HistoryRecorder:
    """Collects ops as clients invoke and complete them, timed by one shared clock.

    All clients of a run must share one recorder, so that every time stamp comes from
    the same clock and real-time order between ops is meaningful. Not thread-safe: it
    is meant for trio tasks, which run in one thread.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next_handle = 0
        self._pending: dict[OpHandle, _PendingOp] = {}
        self._completed: list[Op] = []

    def invoke(
        self, process: int, kind: OpKind, key: bytes, value: bytes | None = None
    ) -> OpHandle:
        """Record that `process` is about to send a request; call just before sending it."""
        if kind not in _KINDS:
            raise ValueError(f"unknown op kind {kind!r}")
        handle = OpHandle(self._next_handle)
        self._next_handle += 1
        self._pending[handle] = _PendingOp(process, kind, key, value, self._clock())
        return handle

    def complete(self, handle: OpHandle, outcome: Outcome, observed: bytes | None = None) -> Op:
        """Record the answer to an invoked request; `observed` is what an ok get read."""
        pending = self._pending.pop(handle)
        if pending.kind != "get" and observed is not None:
            raise ValueError(f"a {pending.kind} observes nothing")
        value = observed if pending.kind == "get" and outcome == "ok" else pending.value
        op = Op(
            process=pending.process,
            kind=pending.kind,
            key=pending.key,
            value=value,
            invoke=pending.invoke,
            complete=self._clock(),
            outcome=outcome,
        )
        self._completed.append(op)
        return op

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def ops(self) -> list[Op]:
        """The history so far; ops still awaiting an answer count as timed out."""
        unanswered = [
            Op(p.process, p.kind, p.key, p.value, p.invoke, None, "timeout")
            for p in self._pending.values()
        ]
        return sorted(self._completed + unanswered, key=lambda op: op.invoke)

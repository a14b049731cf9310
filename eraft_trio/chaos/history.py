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

Compare-and-set ops are register ops too: ``cas_put`` (write `value` if the key holds
`expected`; None: if it is absent), ``cas_delete`` (delete it if it holds `expected`)
and ``txn``, a one-key transaction that compares the same way, puts `value` on
success and reads the key on failure. An ok one says whether it `succeeded`; one that
did not `observed` the key's value (what the failed CAS answered, or the txn's get).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NewType, get_args

OpKind = Literal["get", "put", "delete", "cas_put", "cas_delete", "txn"]
CAS_KINDS = frozenset({"cas_put", "cas_delete", "txn"})
Outcome = Literal["ok", "fail", "timeout"]
OpHandle = NewType("OpHandle", int)

_KINDS: frozenset[str] = frozenset(get_args(OpKind))
_OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))


@dataclass(frozen=True, slots=True)
class Op:
    """One client request: its key, its value, when it ran and what the client learned.

    `value` is the written value for a put, the observed value for a get (None means
    the key was missing) and None for a delete. `complete` is None when the client
    never heard back (only possible for a timeout). `expected`, `succeeded` and
    `observed` belong to the CAS kinds (see above).
    """

    process: int
    kind: OpKind
    key: bytes
    value: bytes | None
    invoke: float
    complete: float | None
    outcome: Outcome
    expected: bytes | None = None
    succeeded: bool | None = None
    observed: bytes | None = None

    def __post_init__(self) -> None:
        # A malformed record would make the checker's verdict meaningless, so refuse it here.
        if self.kind not in _KINDS:
            raise ValueError(f"unknown op kind {self.kind!r}")
        if self.outcome not in _OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")
        if self.kind in ("put", "cas_put", "txn") and self.value is None:
            raise ValueError(f"a {self.kind} must carry the value it writes")
        if self.kind in ("delete", "cas_delete") and self.value is not None:
            raise ValueError(f"a {self.kind} carries no value")
        if self.kind in CAS_KINDS:
            if self.outcome == "ok" and self.succeeded is None:
                raise ValueError(f"an ok {self.kind} must say whether it succeeded")
            if self.observed is not None and self.succeeded is not False:
                raise ValueError(f"only a {self.kind} that did not succeed observes a value")
        elif self.expected is not None or self.succeeded is not None or self.observed is not None:
            raise ValueError(f"a {self.kind} compares nothing")
        if self.complete is None and self.outcome != "timeout":
            raise ValueError(f"an op with outcome {self.outcome!r} must have a completion time")
        if self.complete is not None and self.complete < self.invoke:
            raise ValueError(f"op completes ({self.complete}) before it is invoked ({self.invoke})")

    @property
    def is_write(self) -> bool:
        """Whether it writes, or may have (a CAS not known to have failed its compare)."""
        return self.kind != "get" and self.succeeded is not False

    def describe(self) -> str:
        """One readable line, e.g. ``p3 put b'k' := b'v7' ok [1.200000, 1.250000]``."""
        if self.kind == "put":
            action = f"put {self.key!r} := {self.value!r}"
        elif self.kind == "delete":
            action = f"delete {self.key!r}"
        elif self.kind == "get":
            shown = "<missing>" if self.value is None else repr(self.value)
            action = f"get {self.key!r} -> {shown}"
        else:
            action = self._describe_cas()
        end = "inf)" if self.outcome == "timeout" else f"{self.complete:.6f}]"
        return f"p{self.process} {action} {self.outcome} [{self.invoke:.6f}, {end}"

    def _describe_cas(self) -> str:
        """E.g. ``cas_put b'k' := b'v7' if b'v3' -> failed, saw b'v5'``."""
        shown_expected = "<missing>" if self.expected is None else repr(self.expected)
        write = "delete" if self.value is None else f":= {self.value!r}"
        action = f"{self.kind} {self.key!r} {write} if {shown_expected}"
        if self.succeeded is True:
            return action + " -> succeeded"
        if self.succeeded is False:
            seen = "<missing>" if self.observed is None else repr(self.observed)
            return action + f" -> failed, saw {seen}"
        return action


@dataclass(frozen=True, slots=True)
class _PendingOp:
    process: int
    kind: OpKind
    key: bytes
    value: bytes | None
    invoke: float
    expected: bytes | None = None


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
        self,
        process: int,
        kind: OpKind,
        key: bytes,
        value: bytes | None = None,
        expected: bytes | None = None,
    ) -> OpHandle:
        """Record that `process` is about to send a request; call just before sending it.
        `expected` is what a CAS kind compares the key with (None: absent)."""
        if kind not in _KINDS:
            raise ValueError(f"unknown op kind {kind!r}")
        handle = OpHandle(self._next_handle)
        self._next_handle += 1
        self._pending[handle] = _PendingOp(process, kind, key, value, self._clock(), expected)
        return handle

    def complete(
        self,
        handle: OpHandle,
        outcome: Outcome,
        observed: bytes | None = None,
        succeeded: bool | None = None,
    ) -> Op:
        """Record the answer to an invoked request; `observed` is what an ok get read, or
        what an ok CAS kind that did not succeed saw; `succeeded` a CAS kind's answer."""
        pending = self._pending.pop(handle)
        is_cas = pending.kind in CAS_KINDS
        if pending.kind != "get" and not is_cas and observed is not None:
            raise ValueError(f"a {pending.kind} observes nothing")
        value = observed if pending.kind == "get" and outcome == "ok" else pending.value
        answered = is_cas and outcome == "ok"
        op = Op(
            process=pending.process,
            kind=pending.kind,
            key=pending.key,
            value=value,
            invoke=pending.invoke,
            complete=self._clock(),
            outcome=outcome,
            expected=pending.expected,
            succeeded=succeeded if answered else None,
            observed=observed if answered and succeeded is False else None,
        )
        self._completed.append(op)
        return op

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def ops(self) -> list[Op]:
        """The history so far; ops still awaiting an answer count as timed out."""
        unanswered = [
            Op(p.process, p.kind, p.key, p.value, p.invoke, None, "timeout", p.expected)
            for p in self._pending.values()
        ]
        return sorted(self._completed + unanswered, key=lambda op: op.invoke)

"""Per-key linearizability checking of a get/put/delete history, with a readable verdict.

Linearizability is compositional (Herlihy & Wing's locality; porcupine's
P-compositionality), so a history of a key-value store is linearizable iff each
key's sub-history is linearizable as a register that starts out missing. Each key
is searched separately by `search_register`.

Before searching, indeterminate ops are narrowed to what could matter: failed ops
and timed-out gets are dropped, and a timed-out write that no read could have seen
is dropped too (taking effect last, where no read sees it, is the same as never
taking effect). A timed-out write that some read saw only needs to land before the
last such read returns (before the first, when its value was written only once),
which keeps the search from carrying it through the rest of the history.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from eraft_trio.chaos.history import Op
from eraft_trio.chaos.lost_writes import LostWrite, lost_writes
from eraft_trio.chaos.register_search import (
    DELETE,
    GET,
    PUT,
    RegisterOp,
    SearchResult,
    search_register,
)

__all__ = ["DEFAULT_STEP_BUDGET", "LostWrite", "Verdict", "ViolationWindow", "check", "lost_writes"]

VerdictResult = Literal["ok", "violation", "unknown"]

# About a second of search for one key; ordinary keys need a few steps per op.
DEFAULT_STEP_BUDGET = 1_000_000
# How many ops of the linearized prefix a violation report shows at most.
MAX_CONTEXT_OPS = 12

_KIND_CODES = {"get": GET, "put": PUT, "delete": DELETE}


@dataclass(frozen=True, slots=True)
class ViolationWindow:
    """The part of one key's history around the point where every linearization fails."""

    key: bytes
    linearized_count: int  # length of the longest linearizable prefix found
    context: tuple[Op, ...]  # its last ops near the stuck point, in linearization order
    state: bytes | None  # the register after that prefix
    unplaced: tuple[Op, ...]  # pending ops, none of which can take effect next
    blocking: Op  # the pending op whose return came with no way to place it
    writers: tuple[Op, ...]  # every write of a value some unplaced get observed

    def explain(self) -> list[str]:
        shown_state = "<missing>" if self.state is None else repr(self.state)
        omitted = self.linearized_count - len(self.context)
        lines = [f"linearizability violation on key {self.key!r}"]
        header = f"longest linearizable prefix: {self.linearized_count} ops"
        if omitted:
            header += f" ({omitted} earlier not shown)"
        lines.append(f"{header}; the register then holds {shown_state}")
        lines.extend(f"  {op.describe()}" for op in self.context)
        lines.append("none of these pending ops can take effect next:")
        for op in self.unplaced:
            mark = "  <- had to take effect by its completion" if op is self.blocking else ""
            lines.append(f"  {op.describe()}{mark}")
            if op.kind == "get" and op.value is not None:
                sources = [w for w in self.writers if w.value == op.value]
                if not sources:
                    lines.append(f"    {op.value!r} was never written to this key")
                lines.extend(f"    {op.value!r} written by: {w.describe()}" for w in sources)
        return lines


@dataclass(frozen=True, slots=True)
class Verdict:
    """The checker's answer for a whole history; `violation` explains the first bad key."""

    result: VerdictResult
    keys_checked: int
    steps: int
    step_budget: int
    violation: ViolationWindow | None = None
    violating_keys: tuple[bytes, ...] = ()
    unknown_keys: tuple[bytes, ...] = ()

    @property
    def key(self) -> bytes | None:
        return None if self.violation is None else self.violation.key

    def explain(self) -> list[str]:
        lines: list[str] = []
        if self.violation is not None:
            lines.extend(self.violation.explain())
            others = self.violating_keys[1:]
            if others:
                lines.append(f"also not linearizable: {', '.join(map(repr, others))}")
        else:
            lines.append(f"{self.result}: {self.keys_checked} keys checked in {self.steps} steps")
        if self.unknown_keys:
            lines.append(
                f"undecided (step budget of {self.step_budget} per key ran out): "
                + ", ".join(map(repr, self.unknown_keys))
            )
        return lines


def check(history: Iterable[Op], step_budget: int = DEFAULT_STEP_BUDGET) -> Verdict:
    """Check every key's sub-history; `step_budget` bounds the search of each key."""
    by_key: dict[bytes, list[Op]] = defaultdict(list)
    for op in history:
        by_key[op.key].append(op)
    steps = 0
    first_violation: ViolationWindow | None = None
    violating: list[bytes] = []
    unknown: list[bytes] = []
    for key in sorted(by_key):
        ops = by_key[key]
        searched = searchable_ops(ops)
        result = search_register([register_op for _, register_op in searched], step_budget)
        steps += result.steps
        if result.outcome == "unknown":
            unknown.append(key)
        elif result.outcome == "violation":
            violating.append(key)
            if first_violation is None:
                first_violation = _window(key, ops, searched, result)
    outcome: VerdictResult = "violation" if violating else "unknown" if unknown else "ok"
    return Verdict(
        outcome, len(by_key), steps, step_budget, first_violation, tuple(violating), tuple(unknown)
    )


def searchable_ops(ops: Sequence[Op]) -> list[tuple[Op, RegisterOp]]:
    """One key's ops that constrain the search, each with the window it may take effect in."""
    read_completions: dict[bytes | None, list[float]] = defaultdict(list)
    writer_counts: dict[bytes, int] = defaultdict(int)
    for op in ops:
        if op.kind == "get" and op.outcome == "ok":
            assert op.complete is not None
            read_completions[op.value].append(op.complete)
        elif op.kind == "put" and op.outcome != "fail":
            assert op.value is not None
            writer_counts[op.value] += 1
    for completions in read_completions.values():
        completions.sort()

    searched: list[tuple[Op, RegisterOp]] = []
    for op in ops:
        code = _KIND_CODES[op.kind]
        if op.outcome == "ok":
            assert op.complete is not None
            searched.append((op, RegisterOp(code, op.value, op.invoke, op.complete)))
        elif op.outcome == "timeout" and op.is_write:
            completions = read_completions.get(op.value, [])
            # Reads that returned before this write was sent cannot have seen it.
            first = bisect.bisect_left(completions, op.invoke)
            if first == len(completions):
                continue  # no read could see it: as good as never applied
            unique = op.value is not None and writer_counts[op.value] == 1
            deadline = completions[first] if unique else completions[-1]
            searched.append((op, RegisterOp(code, op.value, op.invoke, deadline)))
    return searched


def _window(
    key: bytes, ops: Sequence[Op], searched: Sequence[tuple[Op, RegisterOp]], result: SearchResult
) -> ViolationWindow:
    assert result.blocking is not None
    unplaced = sorted((searched[index] for index in result.unplaced), key=lambda s: s[1].call)
    window_start = min(register_op.call for _, register_op in unplaced)
    # Show the write that set the register's state and every op linearized after it
    # (they pin that state down), plus the prefix ops still running when the pending
    # ones began; the write is kept even when the window has to be trimmed.
    prefix = [searched[index] for index in result.linearized]
    last_write = max((i for i, (op, _) in enumerate(prefix) if op.is_write), default=None)
    since_write = range(last_write + 1 if last_write is not None else 0, len(prefix))
    overlapping = (
        i for i, (_, register_op) in enumerate(prefix) if register_op.ret >= window_start
    )
    nearby = sorted({*since_write, *overlapping} - {last_write})
    if last_write is None:
        shown = nearby[-MAX_CONTEXT_OPS:]
    else:
        kept = nearby[max(0, len(nearby) - (MAX_CONTEXT_OPS - 1)) :]
        shown = sorted([last_write, *kept])
    observed = {op.value for op, _ in unplaced if op.kind == "get"}
    writers = tuple(
        op for op in ops if op.kind == "put" and op.outcome != "fail" and op.value in observed
    )
    return ViolationWindow(
        key=key,
        linearized_count=len(prefix),
        context=tuple(prefix[i][0] for i in shown),
        state=result.state,
        unplaced=tuple(op for op, _ in unplaced),
        blocking=searched[result.blocking][0],
        writers=writers,
    )

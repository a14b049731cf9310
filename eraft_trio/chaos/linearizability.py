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

Compare-and-set ops (history.py: CAS puts and deletes, one-key txns) are register ops
too: one that succeeded read `expected` and wrote its value at one instant, one whose
compare failed read what it answered, and a timed-out one may land at any time with
its compare deciding whether it writes (register_search.py's CAS_MAYBE). A "read" here
is any op that saw the key's value: a get, and every answered CAS; a timed-out CAS
keeps the writes of the value it compares with in the search (searchable_ops). Multi-key
transactions are not modelled: the chaos workload's txns compare and write one key.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from eraft_trio.chaos.history import CAS_KINDS, Op
from eraft_trio.chaos.lost_writes import LostWrite, lost_writes
from eraft_trio.chaos.register_search import (
    CAS,
    CAS_FAILED,
    CAS_MAYBE,
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
            seen = observed_value(op)
            if seen and seen[0] is not None:
                sources = [w for w in self.writers if w.value == seen[0]]
                if not sources:
                    lines.append(f"    {seen[0]!r} was never written to this key")
                lines.extend(f"    {seen[0]!r} written by: {w.describe()}" for w in sources)
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


_MISSING: tuple[()] = ()


def observed_value(op: Op) -> tuple[bytes | None] | tuple[()]:
    """The value an ok `op` saw the key hold, as a 1-tuple (a get's; a CAS's expected when
    it succeeded, what it answered when it did not); () when it saw nothing."""
    if op.outcome != "ok":
        return _MISSING
    if op.kind == "get":
        return (op.value,)
    if op.kind in CAS_KINDS:
        return (op.expected,) if op.succeeded else (op.observed,)
    return _MISSING


def searchable_ops(ops: Sequence[Op]) -> list[tuple[Op, RegisterOp]]:
    """One key's ops that constrain the search, each with the window it may take effect in.

    A timed-out write of value x (None for a delete) becomes, in this order:
    1. definite, by the first read of x after it was sent, when x is unique and was
       read: a plain put then, or a CAS whose compare held (its `expected` then counts
       as read too, which may make another timed-out CAS definite: repeated to a fixpoint);
    2. dropped, when nothing after it was sent read x, and no timed-out CAS compares
       with x (taking effect last, where nothing sees it, is never taking effect);
    3. otherwise free to land any time or never (ret inf; a CAS then as CAS_MAYBE).
    Rule 2 relies on every CAS that is neither answered nor definite being free (3), so
    it can always be moved to the end, where it changes nothing anyone saw.

    There is no rule making such a write due by the last read of x: "landed by then"
    and "never landed" are both possible, and a deadline forgets the second (a timed-out
    delete forced before a long get of "missing" made a history with a later put look
    non-linearizable: tests/chaos/test_cas_checker.py).
    """
    reads: dict[bytes | None, list[float]] = defaultdict(list)  # value -> completions
    writer_counts: dict[bytes, int] = defaultdict(int)
    for op in ops:
        seen = observed_value(op)
        if seen:
            assert op.complete is not None
            reads[seen[0]].append(op.complete)
        if op.is_write and op.outcome != "fail" and op.value is not None:
            writer_counts[op.value] += 1
    for completions in reads.values():
        completions.sort()
    timed_out = [op for op in ops if op.outcome == "timeout" and op.is_write]
    timed_out_ids = {id(op) for op in timed_out}
    definite = _definite_writes(timed_out, reads, writer_counts)
    compared = {op.expected for op in timed_out if op.kind in CAS_KINDS and id(op) not in definite}

    searched: list[tuple[Op, RegisterOp]] = []
    for op in ops:
        if op.outcome == "ok":
            assert op.complete is not None
            searched.append((op, _answered(op, op.complete)))
        elif id(op) in definite:
            searched.append((op, definite[id(op)]))
        elif id(op) in timed_out_ids:
            completions = reads.get(op.value, [])
            read_after = bisect.bisect_left(completions, op.invoke) < len(completions)
            if not read_after and op.value not in compared:
                continue  # 2: nothing could see it: as good as never applied
            if op.kind in CAS_KINDS:
                searched.append(
                    (op, RegisterOp(CAS_MAYBE, op.value, op.invoke, math.inf, op.expected))
                )
                continue
            searched.append((op, RegisterOp(_KIND_CODES[op.kind], op.value, op.invoke, math.inf)))
    return searched


def _definite_writes(
    timed_out: Sequence[Op],
    reads: dict[bytes | None, list[float]],
    writer_counts: dict[bytes, int],
) -> dict[int, RegisterOp]:
    """Rule 1 of searchable_ops, to a fixpoint: id(op) -> the op as it must have applied.
    Adds the expected value of each definite CAS to `reads`."""
    definite: dict[int, RegisterOp] = {}
    changed = True
    while changed:
        changed = False
        for op in timed_out:
            value = op.value
            if id(op) in definite or value is None or writer_counts[value] != 1:
                continue
            completions = reads.get(value, [])
            first = bisect.bisect_left(completions, op.invoke)
            if first == len(completions):
                continue
            due = completions[first]
            if op.kind in CAS_KINDS:
                definite[id(op)] = RegisterOp(CAS, value, op.invoke, due, op.expected)
                bisect.insort(reads[op.expected], due)
                changed = True
            else:
                definite[id(op)] = RegisterOp(PUT, value, op.invoke, due)
    return definite


def _answered(op: Op, complete: float) -> RegisterOp:
    if op.kind in CAS_KINDS:
        if op.succeeded:
            return RegisterOp(CAS, op.value, op.invoke, complete, op.expected)
        return RegisterOp(CAS_FAILED, op.observed, op.invoke, complete, op.expected)
    return RegisterOp(_KIND_CODES[op.kind], op.value, op.invoke, complete)


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
    observed = {seen[0] for op, _ in unplaced for seen in [observed_value(op)] if seen}
    writers = tuple(
        op
        for op in ops
        if op.is_write and op.value is not None and op.outcome != "fail" and op.value in observed
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

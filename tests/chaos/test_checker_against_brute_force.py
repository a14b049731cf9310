"""The checker agrees with a brute-force search over every order of small random histories."""

from __future__ import annotations

import math
from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from eraft_trio.chaos.history import Op, OpKind, Outcome
from eraft_trio.chaos.linearizability import check


def _apply(state: bytes | None, op: Op) -> tuple[bool, bytes | None]:
    if op.kind == "get":
        return op.value == state, state
    return True, op.value if op.kind == "put" else None


def _orderable(ops: list[Op], ends: list[float], state: bytes | None) -> bool:
    """Some order of `ops` respects real time and register semantics."""
    if not ops:
        return True
    for index, op in enumerate(ops):
        # `op` may go next unless another remaining op returned strictly before it began.
        if any(end < op.invoke for other, end in enumerate(ends) if other != index):
            continue
        legal, after = _apply(state, op)
        if legal and _orderable(
            ops[:index] + ops[index + 1 :], ends[:index] + ends[index + 1 :], after
        ):
            return True
    return False


def brute_force_linearizable(history: list[Op]) -> bool:
    required = [op for op in history if op.outcome == "ok"]
    optional = [op for op in history if op.outcome == "timeout" and op.is_write]
    for size in range(len(optional) + 1):
        for chosen in combinations(optional, size):
            ops = required + list(chosen)
            ends = [math.inf if op.outcome == "timeout" else op.complete or 0.0 for op in ops]
            if _orderable(ops, ends, None):
                return True
    return False


@st.composite
def small_histories(draw: st.DrawFn) -> list[Op]:
    history: list[Op] = []
    for process in range(draw(st.integers(1, 7))):
        kind: OpKind = draw(st.sampled_from(("get", "put", "put", "delete")))
        outcome: Outcome = draw(st.sampled_from(("ok", "ok", "ok", "fail", "timeout")))
        # Small integer times make ties (touching windows) common.
        invoke = float(draw(st.integers(0, 8)))
        complete = invoke + draw(st.integers(0, 4))
        if kind == "put":
            value: bytes | None = draw(st.sampled_from((b"a", b"b", b"c")))
        elif kind == "get" and outcome == "ok":
            value = draw(st.sampled_from((None, b"a", b"b", b"c")))
        else:
            value = None
        history.append(Op(process, kind, b"k", value, invoke, complete, outcome))
    return history


@settings(max_examples=400, deadline=None)
@given(history=small_histories())
def test_checker_matches_brute_force(history: list[Op]) -> None:
    expected = "ok" if brute_force_linearizable(history) else "violation"
    assert check(history).result == expected

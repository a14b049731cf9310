"""Histories of a real register under random concurrency, for property and load tests of the checker.

Each planned op takes effect at its own instant (one time unit apart, so the register
behaves sequentially) and is then given a random invoke/complete window around that
instant; overlapping windows are what make the history concurrent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from hypothesis import strategies as st

from eraft_trio.chaos.history import Op, OpKind, Outcome

# `timeout-applied`: the client gave up but the write landed; `timeout-lost`: it never did.
PlannedOutcome = Literal["ok", "fail", "timeout-applied", "timeout-lost"]
KINDS: tuple[OpKind, ...] = ("get", "put", "delete")
OUTCOMES: tuple[PlannedOutcome, ...] = ("ok", "fail", "timeout-applied", "timeout-lost")


@dataclass(frozen=True, slots=True)
class PlannedOp:
    kind: OpKind
    outcome: PlannedOutcome
    lead: float  # how long before its effect the op was invoked
    lag: float  # how long after its effect it completed


def simulate_key(key: bytes, plan: list[PlannedOp], process_count: int = 10) -> list[Op]:
    """Run `plan` against a register for `key`; every put writes a fresh value."""
    state: bytes | None = None
    ops: list[Op] = []
    for index, planned in enumerate(plan):
        instant = float(index)
        applies = planned.outcome in ("ok", "timeout-applied")
        written = key + b"=" + str(index).encode() if planned.kind == "put" else None
        if planned.kind == "get":
            value = state if applies else None
        else:
            value = written
            if applies:
                state = written
        outcome: Outcome = "ok" if planned.outcome == "ok" else "fail"
        complete: float | None = instant + planned.lag
        if planned.outcome in ("timeout-applied", "timeout-lost"):
            outcome, complete = "timeout", None
        process = index % process_count
        ops.append(Op(process, planned.kind, key, value, instant - planned.lead, complete, outcome))
    return ops


def random_plan(rng: random.Random, length: int, max_window: float) -> list[PlannedOp]:
    return [
        PlannedOp(
            kind=rng.choices(KINDS, weights=(5, 4, 1))[0],
            outcome=rng.choices(OUTCOMES, weights=(20, 1, 1, 1))[0],
            lead=rng.uniform(0, max_window),
            lag=rng.uniform(0, max_window),
        )
        for _ in range(length)
    ]


def planned_ops(max_window: float = 5.0) -> st.SearchStrategy[PlannedOp]:
    return st.builds(
        PlannedOp,
        kind=st.sampled_from(KINDS),
        outcome=st.sampled_from(OUTCOMES),
        lead=st.floats(0, max_window),
        lag=st.floats(0, max_window),
    )

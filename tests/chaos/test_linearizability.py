"""The linearizability checker: known-good and known-bad histories, explanations, budgets, properties."""

from __future__ import annotations

import random
import time

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eraft_trio.chaos.history import Op, Outcome
from eraft_trio.chaos.linearizability import MAX_CONTEXT_OPS, check

from .register_histories import PlannedOp, planned_ops, random_plan, simulate_key

KEY = b"k"


def put(value: bytes, invoke: float, complete: float | None, outcome: Outcome = "ok") -> Op:
    return Op(1, "put", KEY, value, invoke, complete, outcome)


def get(observed: bytes | None, invoke: float, complete: float, outcome: Outcome = "ok") -> Op:
    return Op(2, "get", KEY, observed, invoke, complete, outcome)


def delete(invoke: float, complete: float | None, outcome: Outcome = "ok") -> Op:
    return Op(3, "delete", KEY, None, invoke, complete, outcome)


# --- known-good histories -------------------------------------------------------------------


def test_sequential_history_is_linearizable() -> None:
    history = [
        get(None, 0, 1),
        put(b"a", 2, 3),
        get(b"a", 4, 5),
        put(b"b", 6, 7),
        get(b"b", 8, 9),
        delete(10, 11),
        get(None, 12, 13),
    ]
    verdict = check(history)
    assert verdict.result == "ok"
    assert verdict.key is None
    assert verdict.keys_checked == 1


def test_overlapping_writes_may_be_read_in_either_order() -> None:
    a_then_b = [put(b"a", 0, 10), put(b"b", 1, 9), get(b"a", 2, 3), get(b"b", 11, 12)]
    b_then_a = [put(b"a", 0, 10), put(b"b", 1, 9), get(b"b", 2, 3), get(b"a", 4, 5)]
    assert check(a_then_b).result == "ok"
    assert check(b_then_a).result == "ok"


def test_timed_out_write_may_take_effect_long_after_it_was_sent() -> None:
    history = [put(b"a", 0, 1), put(b"b", 2, None, "timeout"), get(b"a", 3, 4), get(b"b", 50, 51)]
    assert check(history).result == "ok"


def test_timed_out_write_may_never_take_effect() -> None:
    history = [put(b"a", 0, 1), put(b"b", 2, 3, "timeout"), get(b"a", 4, 5), get(b"a", 90, 91)]
    assert check(history).result == "ok"


def test_failed_ops_and_timed_out_reads_are_ignored() -> None:
    history = [
        put(b"a", 0, 1),
        put(b"b", 2, 3, "fail"),
        get(b"never-written", 4, 5, "timeout"),
        get(b"a", 6, 7),
    ]
    assert check(history).result == "ok"


def test_keys_are_checked_independently() -> None:
    history = [
        Op(1, "put", b"x", b"x1", 0, 1, "ok"),
        Op(1, "put", b"y", b"y1", 2, 3, "ok"),
        Op(2, "get", b"x", b"x1", 4, 5, "ok"),
        Op(2, "get", b"y", b"y1", 4, 5, "ok"),
    ]
    verdict = check(history)
    assert verdict.result == "ok"
    assert verdict.keys_checked == 2


# --- known-bad histories --------------------------------------------------------------------


def test_stale_read_is_a_violation_and_explained() -> None:
    stale = get(b"a", 4, 5)
    newer = put(b"b", 2, 3)
    verdict = check([put(b"a", 0, 1), newer, stale])
    assert verdict.result == "violation"
    assert verdict.key == KEY
    text = "\n".join(verdict.explain())
    assert repr(KEY) in text
    assert stale.describe() in text
    assert newer.describe() in text  # the write that set the state the read disagrees with
    assert "holds b'b'" in text


def test_lost_acknowledged_write_is_a_violation() -> None:
    lost = put(b"a", 0, 1)
    verdict = check([lost, get(None, 5, 6)])
    assert verdict.result == "violation"
    assert lost.describe() in "\n".join(verdict.explain())


def test_duplicated_write_is_a_violation() -> None:
    # The retry of put a landed a second time, after put b: a reappears.
    history = [put(b"a", 0, 1), put(b"b", 2, 3), get(b"b", 4, 5), get(b"a", 6, 7)]
    verdict = check(history)
    assert verdict.result == "violation"
    assert get(b"a", 6, 7).describe() in "\n".join(verdict.explain())


def test_flip_flopping_reads_are_a_violation() -> None:
    history = [
        put(b"a", 0, 1),
        put(b"b", 2, 20),
        get(b"a", 3, 4),
        get(b"b", 5, 6),
        get(b"a", 7, 8),
    ]
    verdict = check(history)
    assert verdict.result == "violation"
    text = "\n".join(verdict.explain())
    assert get(b"a", 7, 8).describe() in text
    assert put(b"a", 0, 1).describe() in text  # the one write of a is named as its source


def test_read_of_a_value_never_written_is_explained_as_such() -> None:
    verdict = check([put(b"a", 0, 1), get(b"zzz", 2, 3)])
    assert verdict.result == "violation"
    assert "b'zzz' was never written to this key" in "\n".join(verdict.explain())


def test_violation_names_only_the_bad_key() -> None:
    good = [Op(1, "put", b"good", b"g1", 0, 1, "ok"), Op(1, "get", b"good", b"g1", 2, 3, "ok")]
    verdict = check([*good, put(b"a", 0, 1), put(b"b", 2, 3), get(b"a", 4, 5)])
    assert verdict.violating_keys == (KEY,)
    assert "b'good'" not in "\n".join(verdict.explain())


def test_explanation_of_a_long_history_shows_a_small_window() -> None:
    history: list[Op] = []
    for i in range(500):
        history += [put(b"v%d" % i, 4 * i, 4 * i + 1), get(b"v%d" % i, 4 * i + 2, 4 * i + 3)]
    stale = get(b"v3", 2000, 2001)
    verdict = check([*history, stale])
    assert verdict.violation is not None
    assert verdict.violation.linearized_count == 1000
    assert len(verdict.violation.context) <= MAX_CONTEXT_OPS
    lines = verdict.explain()
    assert len(lines) < 2 * MAX_CONTEXT_OPS
    assert any("earlier not shown" in line for line in lines)
    assert put(b"v499", 1996, 1997).describe() in "\n".join(lines)


# --- the step budget ------------------------------------------------------------------------


def _many_concurrent_writes_then_impossible_read(writes: int) -> list[Op]:
    history = [put(b"w%d" % i, 0, 10) for i in range(writes)]
    return [*history, get(b"nobody-wrote-this", 11, 12)]


def test_exhausted_budget_gives_unknown() -> None:
    history = _many_concurrent_writes_then_impossible_read(8)
    verdict = check(history, step_budget=100)
    assert verdict.result == "unknown"
    assert verdict.unknown_keys == (KEY,)
    assert verdict.steps == 100
    assert check(history).result == "violation"


def test_a_violation_elsewhere_outranks_unknown() -> None:
    hard = _many_concurrent_writes_then_impossible_read(8)
    bad = [Op(1, "put", b"bad", b"x", 0, 1, "ok"), Op(1, "get", b"bad", b"y", 2, 3, "ok")]
    verdict = check([*hard, *bad], step_budget=100)
    assert verdict.result == "violation"
    assert verdict.key == b"bad"
    assert verdict.unknown_keys == (KEY,)


# --- properties and load --------------------------------------------------------------------

_plans = st.lists(planned_ops(max_window=5.0), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans=st.lists(_plans, min_size=1, max_size=3))
def test_histories_of_a_real_register_are_linearizable(plans: list[list[PlannedOp]]) -> None:
    history = [op for index, plan in enumerate(plans) for op in simulate_key(b"k%d" % index, plan)]
    verdict = check(history)
    assert verdict.result == "ok", verdict.explain()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=_plans, choice=st.integers(min_value=0))
def test_a_read_of_a_never_written_value_is_always_a_violation(
    plan: list[PlannedOp], choice: int
) -> None:
    history = simulate_key(KEY, plan)
    ok_reads = [i for i, op in enumerate(history) if op.kind == "get" and op.outcome == "ok"]
    assume(ok_reads)
    index = ok_reads[choice % len(ok_reads)]
    original = history[index]
    corrupted = Op(
        original.process, "get", KEY, b"never-written", original.invoke, original.complete, "ok"
    )
    history[index] = corrupted
    verdict = check(history)
    assert verdict.result == "violation"
    assert verdict.key == KEY


def test_twenty_thousand_ops_over_three_hundred_keys_check_in_seconds() -> None:
    rng = random.Random(20_000)
    history = [
        op for key in range(300) for op in simulate_key(b"k%d" % key, random_plan(rng, 67, 5.0))
    ]
    started = time.perf_counter()
    verdict = check(history)
    elapsed = time.perf_counter() - started
    assert verdict.result == "ok"
    assert verdict.keys_checked == 300
    assert elapsed < 5.0


def test_one_hot_key_of_twenty_thousand_ops_checks_in_seconds() -> None:
    history = simulate_key(KEY, random_plan(random.Random(7), 20_000, 5.0))
    started = time.perf_counter()
    verdict = check(history)
    assert verdict.result == "ok"
    assert time.perf_counter() - started < 10.0

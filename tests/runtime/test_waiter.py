"""Waiter: one result, to a waiting task or to callbacks (the transport's fast path)."""

from __future__ import annotations

import pytest
import trio

from eraft_trio.runtime.waiter import Waiter


async def test_callbacks_run_once_when_set_and_at_once_when_already_done() -> None:
    waiter = Waiter()
    seen: list[object] = []
    waiter.add_done_callback(lambda w: seen.append(("first", w.value)))
    waiter.add_done_callback(lambda w: seen.append(("second", w.value)))
    assert seen == []
    waiter.set(7)
    waiter.set(8)  # a second outcome is ignored, and runs nothing again
    assert seen == [("first", 7), ("second", 7)]
    waiter.add_done_callback(lambda w: seen.append(("late", w.value)))
    assert seen[-1] == ("late", 7)
    assert await waiter.wait() == 7


async def test_a_failure_reaches_callbacks_and_the_waiting_task() -> None:
    waiter = Waiter()
    errors: list[BaseException | None] = []
    waiter.add_done_callback(lambda w: errors.append(w.error))
    problem = ValueError("dropped")
    waiter.fail(problem)
    waiter.set(1)
    assert errors == [problem]
    with pytest.raises(ValueError, match="dropped"):
        await waiter.wait()


async def test_a_failing_callback_fails_alone_even_inside_run_sync_soon() -> None:
    """The runtime answers proposers from a run_sync_soon callback, where an exception
    would end the trio run (the node): a callback that raises is logged, the others
    still run, and the waiter's task gets the value (issue 16, finding 3)."""
    waiter = Waiter()
    seen: list[object] = []

    def broken(_: Waiter) -> None:
        raise KeyError("lease")

    waiter.add_done_callback(broken)
    waiter.add_done_callback(lambda w: seen.append(w.value))
    trio.lowlevel.current_trio_token().run_sync_soon(waiter.set, 5)
    assert await waiter.wait() == 5
    assert seen == [5]

"""Waiter: one result, to a waiting task or to callbacks (the transport's fast path)."""

from __future__ import annotations

import pytest

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

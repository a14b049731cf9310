"""StoreThread: results and errors come back to the caller, jobs run in order, one at a time."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

from eraft_trio.runtime.store_thread import StoreThread


async def test_returns_the_result_from_another_thread_and_reraises_errors() -> None:
    thread = StoreThread()
    thread.start()
    try:
        assert await thread.run(threading.get_ident) != threading.get_ident()
        assert await thread.run(lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(ZeroDivisionError):
            await thread.run(lambda: 1 // 0)
        assert await thread.run(lambda: "still running") == "still running"
        assert thread.calls == 4
    finally:
        thread.stop()


async def test_jobs_from_many_tasks_run_one_at_a_time_in_submission_order() -> None:
    thread = StoreThread()
    thread.start()
    order: list[int] = []
    running = 0
    overlaps = 0

    def job(n: int) -> int:
        nonlocal running, overlaps
        running += 1
        overlaps += running > 1
        order.append(n)
        running -= 1
        return n

    try:
        async with trio.open_nursery() as nursery:
            for n in range(50):
                nursery.start_soon(thread.run, job, n)
                await trio.lowlevel.checkpoint()  # submit in this order
    finally:
        thread.stop()
    assert order == list(range(50))
    assert overlaps == 0


async def test_a_cancelled_caller_still_waits_for_its_job_to_finish() -> None:
    thread = StoreThread()
    thread.start()
    release = threading.Event()
    finished = threading.Event()

    def slow() -> None:
        release.wait(10)
        finished.set()

    try:
        with trio.CancelScope() as scope:
            scope.cancel()  # already cancelled: run() refuses before submitting
            await thread.run(slow)
        assert scope.cancelled_caught and not finished.is_set()

        async with trio.open_nursery() as nursery:
            scope = trio.CancelScope()

            async def caller() -> None:
                with scope:
                    await thread.run(slow)

            nursery.start_soon(caller)
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()  # the job is running: the caller cannot leave before it ends
            await trio.testing.wait_all_tasks_blocked()
            assert not finished.is_set()
            release.set()
        assert finished.is_set()
    finally:
        thread.stop()


async def test_run_before_start_or_after_stop_is_refused() -> None:
    thread = StoreThread()
    with pytest.raises(RuntimeError, match="not running"):
        await thread.run(lambda: None)
    thread.start()
    thread.stop()
    with pytest.raises(RuntimeError, match="not running"):
        await thread.run(lambda: None)

"""A long-lived thread for a node's storage writes, with a cheap hand-off to and from trio.

Every Ready of a busy node is one durable write, so the hand-off to the writing thread
is on the critical path of every put, twice (leader and follower). Measured on the
2-core machine of BENCHMARKS.md, `trio.to_thread.run_sync` costs about 140 us per call
(thread cache, cancel scope, outcome capture and delivery), while a dedicated thread
fed by a SimpleQueue that reschedules the waiting task directly costs about 40 us.

Writes are not cancellable once submitted, as with `to_thread.run_sync`'s default: the
caller waits for the write to finish even when cancelled, so a store is never closed
under a running transaction.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import outcome
import trio

T = TypeVar("T")


class StoreThread:
    """Runs submitted functions one at a time, in submission order, on one thread."""

    def __init__(self, name: str = "eraft-store") -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self.calls = 0

    def start(self) -> None:
        """Start the thread; call from inside the trio run whose tasks will use it."""
        if self._thread is not None:
            raise RuntimeError("StoreThread already started")
        self._token = trio.lowlevel.current_trio_token()
        self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Let the thread exit once the jobs already submitted are done (does not wait)."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the thread; its result, or its exception re-raised here."""
        token = self._token
        if token is None or self._thread is None:
            raise RuntimeError("StoreThread is not running")
        await trio.lowlevel.checkpoint_if_cancelled()
        task = trio.lowlevel.current_task()

        def job() -> None:
            result = outcome.capture(fn, *args)
            token.run_sync_soon(trio.lowlevel.reschedule, task, result)

        self.calls += 1
        self._jobs.put(job)
        value: T = await trio.lowlevel.wait_task_rescheduled(
            lambda _: trio.lowlevel.Abort.FAILED  # a write in progress runs to its end
        )
        return value

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()

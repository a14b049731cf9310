"""Where a RaftNode runs its blocking storage work: threads in production, inline in a simulation.

A node has three places for it: the log thread (one durable write per Ready), the
state thread (applies and snapshot installs, in log order) and a pool for snapshot
streaming (reading a snapshot out, staging one in), which must not hold up either.
The simulator (eraft_trio/sim/cluster/disk.py) runs each call inline instead, on the
trio thread, so a whole cluster under trio's MockClock is one deterministic schedule
(a thread would let the mock clock jump while it works).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import trio

from eraft_trio.runtime.store_thread import StoreThread

T = TypeVar("T")


class Executor(Protocol):
    def start(self) -> None:
        """Called once from inside the trio run, before the first `run`."""
        ...

    def stop(self) -> None: ...

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)`; its result, or its exception re-raised. A call that has begun
        runs to its end even when the caller is cancelled."""
        ...


class ThreadPool:
    """trio's worker threads: one per call, as many calls at once as there are callers."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(fn, *args)


@dataclass(frozen=True)
class Executors:
    log: Executor
    state: Executor
    snapshots: Executor

    @classmethod
    def threads(cls, node_id: int) -> Executors:
        return cls(
            StoreThread(f"eraft-log-{node_id}"), StoreThread(f"eraft-state-{node_id}"), ThreadPool()
        )

    def start(self) -> None:
        for executor in (self.log, self.state, self.snapshots):
            executor.start()

    def stop(self) -> None:
        for executor in (self.log, self.state, self.snapshots):
            executor.stop()

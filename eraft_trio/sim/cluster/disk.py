"""A simulated node's storage executor: the real NodeStore's calls, inline, after a seeded latency.

The store is real (LMDB and the write-ahead log in a temporary folder); what the
simulation controls is when each call happens. A write waits a latency drawn from the
seed and then runs at once, whole: a node that crashes during the wait never made the
write, one that crashes after it kept all of it (it reached the disk before any effect
of it could leave the node). Latency lets later messages, proposals and ticks arrive
while a write is in flight, which is what the driver's group commit is for.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from eraft_trio.runtime.executors import Executors

T = TypeVar("T")


class SimDisk:
    def __init__(self, rng: random.Random, latency: tuple[float, float]) -> None:
        self._rng = rng
        self._latency = latency

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        low, high = self._latency
        if high > 0:
            await trio.sleep(self._rng.uniform(low, high))
        else:
            await trio.lowlevel.checkpoint_if_cancelled()
        try:
            return fn(*args)
        finally:
            await trio.lowlevel.cancel_shielded_checkpoint()


def sim_executors(rng: random.Random, latency: tuple[float, float]) -> Executors:
    return Executors(SimDisk(rng, latency), SimDisk(rng, latency), SimDisk(rng, (0.0, 0.0)))

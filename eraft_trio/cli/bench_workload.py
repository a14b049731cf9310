"""The bench's load: preload the key space, then N closed-loop client tasks for a duration."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterator
from typing import Protocol

import trio

from eraft_trio.cli.bench_latency import LatencyLog
from eraft_trio.cli.bench_options import BenchOptions
from eraft_trio.errors import EraftError

# Preloading is not measured, so it runs as wide as the client multiplexes well.
PRELOAD_TASKS = 64


class KeyValue(Protocol):
    """What the bench needs of a client (eraft_trio.client.Client, or a fake in tests)."""

    async def put(self, key: str | bytes, value: str | bytes) -> object: ...

    async def get(self, key: str | bytes) -> bytes | None: ...


def key_name(index: int) -> bytes:
    return b"bench-%08d" % index


class PreloadProgress:
    """How many keys the preload has written so far (read by the progress bar)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.written = 0


async def preload(kv: KeyValue, options: BenchOptions, progress: PreloadProgress) -> None:
    """Write every key of the key space once, so reads measure hits, not misses.

    The first failure stops the preload and is raised as is (not in an exception group),
    so the caller can tell an unreachable cluster from other errors.
    """
    value = bench_value(options.value_size, random.Random(0))
    indices: Iterator[int] = iter(range(options.keys))
    failure: list[BaseException] = []

    async def writer(cancel_scope: trio.CancelScope) -> None:
        for index in indices:  # shared iterator: each key is written by one task
            try:
                await kv.put(key_name(index), value)
            except EraftError as exc:
                failure.append(exc)
                cancel_scope.cancel()
                return
            progress.written += 1

    async with trio.open_nursery() as nursery:
        for _ in range(min(PRELOAD_TASKS, options.keys)):
            nursery.start_soon(writer, nursery.cancel_scope)
    if failure:
        raise failure[0]


def bench_value(size: int, rng: random.Random) -> bytes:
    return rng.randbytes(size)


class LoadClock:
    """Start and stop times of the measured phase (read by the progress bar)."""

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.started_at = trio.current_time()
        self.stop_at = self.started_at + duration
        self.finished_at: float | None = None

    @property
    def elapsed(self) -> float:
        end = self.finished_at if self.finished_at is not None else trio.current_time()
        return end - self.started_at


async def run_load(
    kv: KeyValue, options: BenchOptions, log: LatencyLog, clock: LoadClock, *, seed: int = 0
) -> float:
    """Run `options.clients` closed-loop tasks until the clock's stop time; the elapsed seconds.

    Each task issues its next operation as soon as the previous one answered. Operations
    in flight at the stop time are allowed to finish and are counted, and the elapsed
    time includes them, so ops/s is completed operations over the time they took.
    """
    async with trio.open_nursery() as nursery:
        for task in range(options.clients):
            rng = random.Random(seed * 1_000_003 + task)
            nursery.start_soon(_client_loop, kv, options, log, clock.stop_at, rng)
    clock.finished_at = trio.current_time()
    return clock.elapsed


async def _client_loop(
    kv: KeyValue, options: BenchOptions, log: LatencyLog, stop_at: float, rng: random.Random
) -> None:
    kinds = options.kinds
    cumulative = list(itertools.accumulate(options.weights[k] for k in kinds))
    value = bench_value(options.value_size, rng)
    while trio.current_time() < stop_at:
        # With one kind, skip the draw: its cost would be measured as client time.
        kind = (
            kinds[0]
            if len(kinds) == 1
            else kinds[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
        )
        key = key_name(rng.randrange(options.keys))
        started = trio.current_time()
        try:
            if kind == "put":
                await kv.put(key, value)
            else:
                await kv.get(key)
        except EraftError as exc:
            log.fail(kind, exc)
            continue
        log.record(kind, trio.current_time() - started)

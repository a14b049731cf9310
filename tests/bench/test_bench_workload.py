"""The bench's load against a fake store on a virtual clock: closed loop, mix, errors, preload."""

from __future__ import annotations

import argparse

import pytest
import trio

from eraft_trio.cli.bench_latency import LatencyLog
from eraft_trio.cli.bench_options import BenchOptions, options_from
from eraft_trio.cli.bench_workload import (
    LoadClock,
    PreloadProgress,
    key_name,
    preload,
    run_load,
)
from eraft_trio.errors import OperationTimeout

OP_SECONDS = 0.001


class FakeStore:
    """A dict behind a fixed service time, counting what the bench does to it."""

    def __init__(self, *, fail_every: int = 0) -> None:
        self.data: dict[bytes, bytes] = {}
        self.puts: list[bytes] = []
        self.starts: list[float] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail_every = fail_every
        self.calls = 0

    async def _serve(self) -> None:
        self.calls += 1
        call = self.calls
        self.starts.append(trio.current_time())
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await trio.sleep(OP_SECONDS)
        finally:
            self.in_flight -= 1
        if self.fail_every and call % self.fail_every == 0:
            raise OperationTimeout("no answer within 1s")

    async def put(self, key: str | bytes, value: str | bytes) -> None:
        await self._serve()
        k, v = bytes(key, "utf-8") if isinstance(key, str) else key, value
        self.puts.append(k)
        self.data[k] = v if isinstance(v, bytes) else v.encode()

    async def get(self, key: str | bytes) -> bytes | None:
        await self._serve()
        return self.data.get(key if isinstance(key, bytes) else key.encode())


def options(**kw: object) -> BenchOptions:
    args = argparse.Namespace(
        config_servers="127.0.0.1:1", timeout=1.0, clients=4, duration=1.0, value_size=10,
        mix="1:0", keys=100, json=True,
    )  # fmt: skip
    vars(args).update(kw)
    return options_from(args)


async def test_closed_loop_keeps_exactly_n_operations_in_flight(autojump_clock: object) -> None:
    store, opts = FakeStore(), options(clients=4, duration=1.0)
    log = LatencyLog(opts.kinds)
    clock = LoadClock(opts.duration)
    elapsed = await run_load(store, opts, log, clock)
    assert store.most_in_flight == 4
    # Each client waits for its answer before the next operation, so at a fixed service
    # time each one completes duration / service time operations (give or take the one
    # that starts at the stop time, depending on float rounding of the virtual clock).
    assert abs(log.completed - 4 * round(opts.duration / OP_SECONDS)) <= 4
    assert log.kinds["put"].latencies == [pytest.approx(OP_SECONDS)] * log.completed
    assert max(store.starts) < clock.stop_at  # nothing started after the stop time
    assert elapsed == pytest.approx(opts.duration, abs=2 * OP_SECONDS)
    assert {len(value) for value in store.data.values()} == {10}
    assert set(store.data) <= {key_name(i) for i in range(100)}


async def test_the_mix_sets_the_share_of_each_kind(autojump_clock: object) -> None:
    store, opts = FakeStore(), options(mix="1:3", clients=8)
    log = LatencyLog(opts.kinds)
    await run_load(store, opts, log, LoadClock(opts.duration))
    puts, gets = log.kinds["put"].count, log.kinds["get"].count
    # 8000 draws at p = 1/4: the share lands within 2 points (over 4 standard deviations).
    assert abs(puts + gets - 8000) <= 8
    assert 0.23 < puts / (puts + gets) < 0.27


async def test_failures_are_counted_as_errors_not_latencies(autojump_clock: object) -> None:
    store, opts = FakeStore(fail_every=10), options(clients=2)
    log = LatencyLog(opts.kinds)
    await run_load(store, opts, log, LoadClock(opts.duration))
    assert log.errors == store.calls // 10
    assert log.completed == store.calls - log.errors
    assert log.last_error == "OperationTimeout: no answer within 1s"


async def test_preload_writes_every_key_once(autojump_clock: object) -> None:
    store, opts = FakeStore(), options(mix="0:1", keys=1000)
    progress = PreloadProgress(opts.keys)
    await preload(store, opts, progress)
    assert sorted(store.puts) == [key_name(i) for i in range(1000)]
    assert progress.written == 1000
    assert store.most_in_flight == 64  # wide, though the measured run will use 4 clients


async def test_preload_stops_at_the_first_failure_and_raises_it(autojump_clock: object) -> None:
    store, opts = FakeStore(fail_every=50), options(mix="0:1", keys=1000)
    progress = PreloadProgress(opts.keys)
    with pytest.raises(OperationTimeout, match="no answer within 1s"):
        await preload(store, opts, progress)
    assert progress.written < 1000

"""`eraft bench`: closed-loop load against a cluster; ops/s and latency percentiles per kind."""

from __future__ import annotations

import argparse
import json
import random
import sys

import trio
from rich.console import Console

from eraft_trio.cli.bench_latency import LatencyLog
from eraft_trio.cli.bench_options import BenchOptions, options_from
from eraft_trio.cli.bench_progress import BenchProgress
from eraft_trio.cli.bench_report import render_table, result_document
from eraft_trio.cli.bench_workload import (
    KeyValue,
    LoadClock,
    PreloadProgress,
    bench_value,
    key_name,
    preload,
    run_load,
)
from eraft_trio.cli.ctl_command import (
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    UsageError,
    report_failure,
)
from eraft_trio.client.kv_client import Client
from eraft_trio.errors import BadRequest, EraftError, OperationTimeout
from eraft_trio.runtime.role_file import DEFAULT_MAX_VALUE_BYTES

NAME = "eraft bench"


def run_bench(args: argparse.Namespace) -> int:
    try:
        options = options_from(args)
    except UsageError as exc:
        print(f"{NAME}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result: int = trio.run(bench, options)
        return result
    except BadRequest as exc:
        return report_failure(NAME, exc)
    except EraftError as exc:
        # Any other failure means the probe or the preload got no answer in time.
        return report_failure(NAME, OperationTimeout(str(exc)))
    except KeyboardInterrupt:
        print(f"{NAME}: interrupted", file=sys.stderr)
        return 130


async def bench(options: BenchOptions) -> int:
    # The cluster's own [limits] decide which value sizes it takes, so the client lets
    # any --value-size through to it.
    client_limit = max(DEFAULT_MAX_VALUE_BYTES, options.value_size)
    async with Client.connect(
        options.servers, timeout=options.timeout, max_value_bytes=client_limit
    ) as kv:
        # One read first: it fetches the config and finds the leader, so an unreachable
        # cluster fails here (exit 3) instead of as a run of errors.
        await kv.get(key_name(0))
        if "put" in options.weights:
            # A value the cluster refuses fails here, once (exit 2), not as every put.
            await kv.put(key_name(0), bench_value(options.value_size, random.Random(0)))
        with BenchProgress(enabled=not options.json) as progress:
            if options.reads:
                await _preload(kv, options, progress)
            log = LatencyLog(options.kinds)
            elapsed = await _measure(kv, options, progress, log)
    if options.json:
        print(json.dumps(result_document(options, log, elapsed)))
    else:
        render_table(Console(), options, log, elapsed)
    if log.completed == 0 and log.errors:
        print(f"{NAME}: every operation failed: {log.last_error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return EXIT_OK


async def _preload(kv: KeyValue, options: BenchOptions, progress: BenchProgress) -> None:
    written = PreloadProgress(options.keys)

    def read() -> tuple[float, str]:
        return written.written, f"{written.written:,}/{options.keys:,} keys"

    async with trio.open_nursery() as nursery:
        await nursery.start(progress.follow, "preload", float(options.keys), read)
        await preload(kv, options, written)
        nursery.cancel_scope.cancel()


async def _measure(
    kv: KeyValue, options: BenchOptions, progress: BenchProgress, log: LatencyLog
) -> float:
    clock = LoadClock(options.duration)

    def read() -> tuple[float, str]:
        elapsed = clock.elapsed
        rate = log.completed / elapsed if elapsed > 0 else 0.0
        errors = f", {log.errors:,} errors" if log.errors else ""
        return min(elapsed, options.duration), f"{log.completed:,} ops, {rate:,.0f}/s{errors}"

    async with trio.open_nursery() as nursery:
        await nursery.start(progress.follow, f"{options.clients} clients", options.duration, read)
        elapsed = await run_load(kv, options, log, clock)
        nursery.cancel_scope.cancel()
    return elapsed

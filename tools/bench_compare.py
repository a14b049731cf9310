#!/usr/bin/env python3
"""eraft against etcd on this machine, side by side, with every write fsynced (issue 8).

In one run: installs Debian's etcd-server and wrk if they are missing, starts a 3-member
etcd cluster on loopback (etcd's defaults, so fsync on), measures each point with wrk
against the leader's JSON gateway, stops it; then starts an eraft cluster (config group
of 3, shard group 1 of 3 holding every bucket), measures the same points with
`eraft bench --json`, stops it; then prints both side by side with the ratio eraft/etcd
and whether each of issue 15's targets is met. For each point and system it also reports
CPU microseconds per operation: every process of the cluster and the load client, read
from /proc over the client's measured window (tools/bench_cpu.py), since per-operation
CPU is what a 2-core machine rewards. Everything it started is stopped and its
temporary folder removed, also on failure or Ctrl-C.

Exit status: 0 measured (whether or not the targets are met), 2 usage, 3 a cluster or a
tool could not be installed or started, 130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

from bench_compare_core import (
    DEFAULT_POINTS,
    MAX_VALUE_SIZE,
    VALUE_SIZE,
    Point,
    PointResult,
    key_count,
    parse_points,
    render_report,
    report_document,
)
from bench_compare_procs import (
    EraftCluster,
    EtcdCluster,
    SetupError,
    ensure_commands,
    measure_eraft,
    measure_etcd,
    say,
    version_of,
)
from rich.console import Console

EXIT_OK, EXIT_USAGE, EXIT_SETUP, EXIT_INTERRUPTED = 0, 2, 3, 130
ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tools/bench_compare.py",
        description="Measure etcd and eraft on this machine with the same closed-loop "
        "workload and print them side by side (issue 8).",
    )
    parser.add_argument(
        "--duration", type=int, default=10, metavar="S", help="seconds per point (default 10)"
    )
    parser.add_argument(
        "--points",
        default=DEFAULT_POINTS,
        help=f"KIND:CLIENTS,... with KIND put or get (default {DEFAULT_POINTS})",
    )
    parser.add_argument(
        "--value-size",
        type=int,
        default=VALUE_SIZE,
        metavar="B",
        help=f"bytes per value, the same raw size for both (default {VALUE_SIZE}, "
        f"at most {MAX_VALUE_SIZE}); large values shrink the key space",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--skip-etcd", action="store_true", help="measure eraft only (no ratios)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (logs, data)"
    )
    args = parser.parse_args(argv)
    if args.duration < 1:
        parser.error("--duration must be >= 1")
    if not 0 <= args.value_size <= MAX_VALUE_SIZE:
        parser.error(f"--value-size must be 0..{MAX_VALUE_SIZE} (eraft's default max_value_bytes)")
    try:
        args.point_list = parse_points(args.points)
    except ValueError as exc:
        parser.error(f"--points: {exc}")
    return args


def machine_facts() -> dict[str, Any]:
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def git_head() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except OSError:
        return None
    return done.stdout.strip() or None


def load_1m() -> float:
    return round(os.getloadavg()[0], 2)


def run_etcd(
    points: list[Point],
    results: dict[Point, PointResult],
    duration: int,
    value_size: int,
    folder: Path,
) -> None:
    cluster = EtcdCluster(folder)
    value = random.Random(0).randbytes(value_size)
    keys = key_count(value_size)
    try:
        say("starting a 3-member etcd cluster")
        cluster.start()
        url = cluster.leader_url()
        say(f"etcd is up; measuring against the leader at {url}")
        preloaded = False
        for point in points:
            if point.kind == "get" and not preloaded:
                say(f"etcd: writing all keys once before {point.label}")
                cluster.preload(value, keys)
                preloaded = True
                url = cluster.leader_url()
            load = load_1m()
            say(f"etcd {point.label}, {duration} s (load {load})")
            figures = measure_etcd(url, point, duration, value, keys, folder, cluster.procs.pids)
            results[point].etcd = figures
            results[point].load_1m = {**(results[point].load_1m or {}), "etcd": load}
            say(
                f"  {figures.ops_per_s:,.1f} ops/s, p50 {figures.p50_ms} ms, "
                f"p99 {figures.p99_ms} ms, CPU {figures.cpu_us_per_op} us/op"
            )
    finally:
        say("stopping etcd")
        cluster.stop()


def run_eraft(
    points: list[Point],
    results: dict[Point, PointResult],
    duration: int,
    value_size: int,
    folder: Path,
) -> None:
    cluster = EraftCluster(folder)
    try:
        say("starting eraft (config group of 3, shard group 1 of 3) and joining group 1")
        cluster.start()
        for point in points:
            load = load_1m()
            say(f"eraft {point.label}, {duration} s (load {load})")
            figures = measure_eraft(
                cluster.servers_arg,
                point,
                duration,
                value_size,
                key_count(value_size),
                cluster.procs.pids,
            )
            results[point].eraft = figures
            results[point].load_1m = {**(results[point].load_1m or {}), "eraft": load}
            say(
                f"  {figures.ops_per_s:,.1f} ops/s, p50 {figures.p50_ms} ms, "
                f"p99 {figures.p99_ms} ms, CPU {figures.cpu_us_per_op} us/op"
            )
    finally:
        say("stopping eraft")
        cluster.stop()


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same clean-up as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    points: list[Point] = args.point_list
    signal.signal(signal.SIGTERM, _terminate)
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    machine = {**machine_facts(), "load_before": [round(x, 2) for x in os.getloadavg()]}
    results = {p: PointResult(p) for p in points}
    folder = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    try:
        if not args.skip_etcd:
            ensure_commands(["etcd", "wrk"])
            (folder / "etcd").mkdir()
            run_etcd(points, results, args.duration, args.value_size, folder / "etcd")
        (folder / "eraft").mkdir()
        run_eraft(points, results, args.duration, args.value_size, folder / "eraft")
    except SetupError as exc:
        print(f"tools/bench_compare.py: {exc}", file=sys.stderr)
        if not args.keep:
            print("tools/bench_compare.py: (rerun with --keep to keep the logs)", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print(
            "tools/bench_compare.py: interrupted; everything it started is stopped", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    finally:
        if args.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    machine["load_after"] = [round(x, 2) for x in os.getloadavg()]
    versions = {
        "etcd": None if args.skip_etcd else version_of(["etcd", "--version"]),
        "wrk": None if args.skip_etcd else version_of(["wrk", "-v"]),
        "eraft": git_head(),
    }
    document = report_document(
        list(results.values()),
        duration_s=args.duration,
        machine=machine,
        versions=versions,
        started_at=started_at,
        value_size=args.value_size,
        keys=key_count(args.value_size),
    )
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        render_report(Console(), document)
        print(
            f"load average before {machine['load_before']}, after {machine['load_after']}; "
            f"{machine['nproc']} CPUs, {machine['cpu']}"
        )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

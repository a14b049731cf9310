#!/usr/bin/env python3
"""The no-decay check of issue 8: a long put run, minute by minute, with each node's memory.

Starts the same cluster as tools/bench_compare.py (config group of 3, shard group 1 of 3
holding every bucket, every write fsynced), then runs `eraft bench` with 64 closed-loop
put clients for one interval at a time, back to back, and after each interval records
every node's resident memory (VmRSS) and the shard nodes' log length and snapshot index
(so compaction can be seen working). It passes when the last interval's ops/s is at
least 90% of the first's and no node's memory grew by more than the allowance between
the end of the first interval and the end of the run.

Exit status: 0 passed, 1 decayed (throughput or memory), 3 setup failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bench_compare_core import Point
from bench_compare_procs import ERAFT, EraftCluster, SetupError, measure_eraft, run_captured, say

EXIT_OK, EXIT_DECAYED, EXIT_SETUP, EXIT_INTERRUPTED = 0, 1, 3, 130
MIN_RATIO = 0.9


@dataclass
class Interval:
    minute: int
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    rss_mib: dict[str, float]  # role file stem -> resident memory at the interval's end
    log_length: dict[str, int]  # shard node address -> entries in its log
    snapshot_index: dict[str, int]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=10, help="intervals to run (default 10)")
    parser.add_argument("--interval", type=int, default=60, help="seconds each (default 60)")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument(
        "--memory-allowance-mib",
        type=float,
        default=32.0,
        help="growth allowed per node from the first interval's end (default 32)",
    )
    parser.add_argument("--json", action="store_true", help="print the intervals as JSON")
    args = parser.parse_args(argv)
    if args.minutes < 2 or args.interval < 5 or args.clients < 1:
        parser.error("needs --minutes >= 2, --interval >= 5 and --clients >= 1")
    return args


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def shard_logs(cluster: EraftCluster) -> tuple[dict[str, int], dict[str, int]]:
    done = run_captured(
        [*ERAFT, "ctl", "-s", cluster.servers_arg, "status", "--once", "--json"], timeout=60
    )
    lengths: dict[str, int] = {}
    snapshots: dict[str, int] = {}
    if done.returncode != 0:
        return lengths, snapshots
    for group in json.loads(done.stdout).get("groups", []):
        if group.get("gid") != 1:
            continue
        for node in group.get("nodes", []):
            raft = (node.get("status") or {}).get("raft") or {}
            if "log_length" in raft:
                lengths[node["address"]] = raft["log_length"]
                snapshots[node["address"]] = raft["snapshot_index"]
    return lengths, snapshots


def verdict(intervals: list[Interval], allowance: float) -> list[str]:
    """What decayed; empty when nothing did."""
    problems = []
    first, last = intervals[0], intervals[-1]
    if last.ops_per_s < MIN_RATIO * first.ops_per_s:
        problems.append(
            f"throughput: last interval {last.ops_per_s:,.0f} ops/s < "
            f"{MIN_RATIO:.0%} of the first's {first.ops_per_s:,.0f}"
        )
    for node, start in first.rss_mib.items():
        end = last.rss_mib.get(node, float("nan"))
        if not end <= start + allowance:
            problems.append(f"memory: {node} grew from {start:.1f} to {end:.1f} MiB")
    return problems


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    folder = Path(tempfile.mkdtemp(prefix="eraft-soak-"))
    cluster = EraftCluster(folder)
    intervals: list[Interval] = []
    try:
        say("starting eraft (config group of 3, shard group 1 of 3) and joining group 1")
        cluster.start()
        names = {proc.pid: Path(str(proc.args[-1])).stem for proc in cluster.procs.procs}
        for minute in range(1, args.minutes + 1):
            figures = measure_eraft(cluster.servers_arg, Point("put", args.clients), args.interval)
            lengths, snapshots = shard_logs(cluster)
            memory = {name: round(rss_mib(pid), 1) for pid, name in names.items()}
            intervals.append(
                Interval(
                    minute,
                    figures.ops_per_s,
                    figures.p50_ms,
                    figures.p99_ms,
                    memory,
                    lengths,
                    snapshots,
                )
            )
            say(
                f"interval {minute}/{args.minutes}: {figures.ops_per_s:,.0f} ops/s, "
                f"p50 {figures.p50_ms} ms, p99 {figures.p99_ms} ms; "
                f"RSS MiB {sorted(memory.values())}; log lengths {sorted(lengths.values())}"
            )
    except SetupError as exc:
        print(f"tools/soak.py: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("tools/soak.py: interrupted; everything it started is stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    problems = verdict(intervals, args.memory_allowance_mib)
    document: dict[str, Any] = {
        "intervals": [asdict(i) for i in intervals],
        "interval_s": args.interval,
        "clients": args.clients,
        "problems": problems,
    }
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print("minute  ops/s   p50 ms  p99 ms  max RSS MiB  max log length  snapshot index")
        for i in intervals:
            print(
                f"{i.minute:>6}  {i.ops_per_s:>6,.0f}  {i.p50_ms:>6}  {i.p99_ms:>6}  "
                f"{max(i.rss_mib.values()):>11.1f}  {max(i.log_length.values(), default=0):>14}"
                f"  {max(i.snapshot_index.values(), default=0):>14}"
            )
        print("no decay" if not problems else "DECAYED: " + "; ".join(problems))
    return EXIT_OK if not problems else EXIT_DECAYED


if __name__ == "__main__":
    sys.exit(main())

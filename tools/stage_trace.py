#!/usr/bin/env python3
"""Where one operation's time goes: a per-stage trace of single puts and gets (issue 15).

Starts a cluster like tools/bench_compare.py's (config group of 3, shard group 1 of 3)
with ERAFT_STAGE_TRACE set, so every node and this client write timestamped stages
(eraft_trio/transport/stage_trace.py); sends `--ops` puts, then `--ops` gets, one at a
time with a pause between them; stops the cluster and prints, for each stage, its median
time after the client sent the operation and the median step from the stage before.
Stages of the leader and of the first follower to reach them are told apart by process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

from bench_compare_procs import EraftCluster, say  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=100, help="puts, and then gets (default 100)")
    parser.add_argument("--pause-ms", type=float, default=20.0, help="between operations")
    parser.add_argument("--keep", action="store_true", help="keep the folder (traces, logs)")
    return parser.parse_args()


Event = tuple[int, int, str]  # (ns, pid, stage)


def read_traces(folder: Path) -> list[Event]:
    events: list[Event] = []
    for path in folder.glob("*.trace"):
        pid = int(path.stem)
        for line in path.read_text().splitlines():
            ns, name, *_ = line.split(" ")
            events.append((int(ns), pid, name))
    events.sort()
    return events


def op_windows(events: list[Event], client: int) -> list[tuple[int, int]]:
    """(sent, received) of each call this client made, in order."""
    windows: list[tuple[int, int]] = []
    sent: int | None = None
    for ns, pid, name in events:
        if pid != client:
            continue
        if name == "client_send":
            sent = ns
        elif name == "client_receive" and sent is not None:
            windows.append((sent, ns))
            sent = None
    return windows


def stage_offsets(
    events: list[Event], window: tuple[int, int], roles: dict[int, str]
) -> dict[str, float]:
    """The first time (µs after sending) each role's stage was reached within the window."""
    start, end = window
    seen: dict[str, float] = {}
    for ns, pid, name in events:
        if ns < start or ns > end:
            continue
        label = f"{roles.get(pid, 'other')} {name}"
        seen.setdefault(label, (ns - start) / 1000)
    return seen


def report(kind: str, offsets: list[dict[str, float]]) -> None:
    by_stage: dict[str, list[float]] = defaultdict(list)
    for op in offsets:
        for label, value in op.items():
            by_stage[label].append(value)
    rows = sorted(
        ((statistics.median(v), label, len(v)) for label, v in by_stage.items()),
        key=lambda row: row[0],
    )
    print(f"\n{kind}: {len(offsets)} operations, median µs after the client sent it")
    print(f"{'stage':40} {'at µs':>9} {'step µs':>9} {'seen in':>8}")
    previous = 0.0
    for median, label, count in rows:
        print(f"{label:40} {median:9.0f} {median - previous:9.0f} {count:8d}")
        previous = median


async def run_ops(servers: list[str], ops: int, pause: float) -> None:
    import trio

    from eraft_trio.client.kv_client import Client

    async with Client.connect(servers, timeout=30) as kv:
        await kv.get(b"warm-up")
        await kv.put(b"warm-up", b"x")
        for i in range(ops):
            await trio.sleep(pause)
            await kv.put(b"trace-%d" % i, b"v" * 100)
        for i in range(ops):
            await trio.sleep(pause)
            await kv.get(b"trace-%d" % i)


def main() -> int:
    args = parse_args()
    folder = Path(tempfile.mkdtemp(prefix="stage-trace-"))
    traces = folder / "traces"
    traces.mkdir()
    os.environ["ERAFT_STAGE_TRACE"] = str(traces)  # before eraft_trio is imported here
    import trio

    from eraft_trio.transport import stage_trace

    cluster = EraftCluster(folder)
    try:
        say("starting eraft (config group of 3, shard group 1 of 3)")
        cluster.start()
        say(f"{args.ops} puts, then {args.ops} gets, one at a time")
        trio.run(run_ops, cluster.config_servers, args.ops, args.pause_ms / 1000)
        stage_trace.flush()
    finally:
        say("stopping eraft")
        cluster.stop()
    events = read_traces(traces)
    client = os.getpid()
    leader = {pid for _, pid, name in events if name == "propose"}
    followers = {pid for _, pid, name in events if name == "follower_receive"}
    roles = {pid: "leader" for pid in leader} | {pid: "follower" for pid in followers}
    roles[client] = "client"
    windows = op_windows(events, client)
    # The warm-up's calls (config, first get and put) come first; then puts, then gets.
    ops = windows[-2 * args.ops :]
    report("put", [stage_offsets(events, w, roles) for w in ops[: args.ops]])
    report("get", [stage_offsets(events, w, roles) for w in ops[args.ops :]])
    print(f"\nload average {os.getloadavg()}; traces in {traces}" if args.keep else "")
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

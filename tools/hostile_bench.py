#!/usr/bin/env python3
"""A legitimate client's latency with and without 1,000 hostile connections (issue 17).

Starts two config nodes with a cluster secret, each a cluster of its own, then runs,
`--rounds` times, three phases in which CLIENTS authenticated callers query the first
node for `--seconds`: quiet; under tests/security/hostile_load.py (the slow test's
attackers, at the lowest priority) aimed at that node ("hostile"); and the same attack
aimed at the second node ("control"), which costs the machine what the attack costs
it but the measured node nothing. What "hostile" adds over "control" is what the node
itself pays for the attack; what "control" adds over "quiet" is the machine's share.

Prints per phase the p50 and p99 latency, the measured node's CPU seconds, the hostile
connects and the load average; then per round the ratios to the quiet phase. The
node's stacks under attack can be sampled with `py-spy record -p PID` (PID printed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tools"))

from bench_cpu import cpu_seconds  # noqa: E402
from integration.ports import free_addresses  # noqa: E402
from integration.role_files import GroupLayout, render_toml  # noqa: E402

from eraft_trio.chaos.node_processes import NodeProcess  # noqa: E402
from eraft_trio.client import Client  # noqa: E402
from eraft_trio.transport.security import Security  # noqa: E402

HOSTILE_SCRIPT = ROOT / "tests" / "security" / "hostile_load.py"
CLIENTS = 4
HANDSHAKE_TIMEOUT = 5.0  # the node's default: what a flood leaves open is gone after it


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0, help="per phase")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="one JSON line per phase")
    parser.add_argument(
        "--source",
        type=Path,
        help="run the node from this copy of eraft_trio's parent folder (the code before a "
        "change, say: git archive COMMIT eraft_trio | tar -x -C DIR); run the tool from a "
        "folder without an eraft_trio in it, which Python would find first",
    )
    return parser.parse_args()


def load_average() -> float:
    return os.getloadavg()[0]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(kv: Client, seconds: float) -> list[float]:
    durations: list[float] = []

    async def loop() -> None:
        while True:
            started = trio.current_time()
            await kv.config_client.query()
            durations.append(trio.current_time() - started)

    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for _ in range(CLIENTS):
                nursery.start_soon(loop)
    return durations


def flood_connects(report: Path) -> int:
    if not report.exists():
        return 0
    lines = report.read_text().splitlines()
    return int(json.loads(lines[-1])["connects"]) if lines else 0


async def phase(
    kv: Client, node: NodeProcess, seconds: float, name: str, report: Path | None
) -> dict[str, Any]:
    pid = node.pid or 0
    load, cpu = load_average(), cpu_seconds(pid) or 0.0
    connects = flood_connects(report) if report else 0
    durations = await measure(kv, seconds)
    return {
        "phase": name,
        "calls": len(durations),
        "p50_ms": round(statistics.median(durations) * 1e3, 2),
        "p99_ms": round(percentile(durations, 0.99) * 1e3, 2),
        "node_cpu_s": round((cpu_seconds(pid) or 0.0) - cpu, 2),
        "hostile_connects": (flood_connects(report) - connects) if report else 0,
        "load": round(load, 1),
    }


async def hostile_phase(
    kv: Client,
    node: NodeProcess,
    address: str,
    cluster: str,
    folder: Path,
    args: Any,
    name: str,
) -> dict[str, Any]:
    host, port = address.rsplit(":", 1)
    report = folder / "hostile.jsonl"
    report.unlink(missing_ok=True)
    command = [sys.executable, str(HOSTILE_SCRIPT), host, port, cluster]
    command += [str(args.connections), str(report)]
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=lambda: os.nice(19)
    )
    try:
        with trio.fail_after(30):
            while flood_connects(report) < args.connections:
                await trio.sleep(0.2)
        return await phase(kv, node, args.seconds, name, report)
    finally:
        proc.kill()  # by PID: our child only
        proc.wait()


def start_node(folder: Path, name: str, secret: Path, args: Any) -> tuple[NodeProcess, str, str]:
    """A single-node config group: the process, its address and its cluster id."""
    (address,) = free_addresses(1)
    layout = GroupLayout.config_group((address,), name=name)
    role = folder / f"{name}.toml"
    sections = {**layout.sections(0), "security": {"secret_file": str(secret)}}
    role.write_text(render_toml(sections))
    node = NodeProcess(role, role.with_suffix(".log"))
    if args.source is not None:
        os.environ["PYTHONPATH"] = str(args.source.resolve())  # ahead of the installed copy
    node.start()
    os.environ.pop("PYTHONPATH", None)
    print(f"{name} pid {node.pid} on {address}", file=sys.stderr, flush=True)
    return node, address, layout.cluster


async def run(args: argparse.Namespace, folder: Path) -> None:
    secret = folder / "cluster.key"
    secret.write_text("hostile-bench-secret-0123456789abcdef\n")
    secret.chmod(0o600)
    node, address, cluster = start_node(folder, "measured", secret, args)
    other, other_address, other_cluster = start_node(folder, "other", secret, args)
    rows: list[dict[str, Any]] = []
    try:
        async with Client.connect(
            (address,), security=Security.from_files(secret_file=secret), timeout=60
        ) as kv:
            await measure(kv, 1.0)  # warm up
            for n in range(args.rounds):
                quiet = await phase(kv, node, args.seconds, "quiet", None)
                hostile = await hostile_phase(kv, node, address, cluster, folder, args, "hostile")
                await trio.sleep(HANDSHAKE_TIMEOUT)  # the flood's leftovers time out
                control = await hostile_phase(
                    kv, node, other_address, other_cluster, folder, args, "control"
                )
                for row in (quiet, hostile, control):
                    row["round"] = n + 1
                    rows.append(row)
                    print(json.dumps(row) if args.json else _line(row), flush=True)
    finally:
        node.cleanup()
        other.cleanup()
    for quiet, hostile, control in zip(rows[::3], rows[1::3], rows[2::3], strict=True):
        print(
            f"round {quiet['round']}: p50 hostile/quiet "
            f"{hostile['p50_ms'] / quiet['p50_ms']:.2f}x, control/quiet "
            f"{control['p50_ms'] / quiet['p50_ms']:.2f}x; p99 hostile/quiet "
            f"{hostile['p99_ms'] / quiet['p99_ms']:.2f}x, control/quiet "
            f"{control['p99_ms'] / quiet['p99_ms']:.2f}x"
        )


def _line(row: dict[str, Any]) -> str:
    return (
        f"round {row['round']} {row['phase']:>7}: p50 {row['p50_ms']:6.2f} ms, "
        f"p99 {row['p99_ms']:6.2f} ms, {row['calls']} calls, node CPU {row['node_cpu_s']} s, "
        f"{row['hostile_connects']} hostile connects, load {row['load']}"
    )


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as folder:
        trio.run(run, args, Path(folder))


if __name__ == "__main__":
    main()

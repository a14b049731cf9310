"""Real nodes under 1,000 hostile connections: memory stays bounded and clients are served.

A config node and a shard node, both with a cluster secret, each in turn under the
connections of hostile_load.py (oversized headers, slow bodies, unfinished handshakes,
garbage, silence; none knows the secret): the node's peak RSS stays under 200 MiB, and
clients that know the secret keep being served (config queries against the config node;
puts, under a steady put load, against the shard node). Their latency before, during and
after the flood is printed (-s) for docs/security.md, not asserted. Slow (about a minute and a half):
`.venv/bin/pytest -m slow tests/security/test_hostile_load.py` (also in .ci/run).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from integration.cluster import wait_for
from integration.ports import free_addresses
from integration.role_files import GroupLayout

from eraft_trio.chaos.node_processes import NodeProcess
from eraft_trio.client import Client
from eraft_trio.protocol.node import StatusRequest
from eraft_trio.transport.rpc import RpcClient
from eraft_trio.transport.security import Security, load_secret

from .secure_cluster import running_nodes, write_secured_role_files

pytestmark = pytest.mark.slow

HOSTILE_CONNECTIONS = 1000
RSS_LIMIT = 200 << 20
PHASE_SECONDS = 6.0
CLIENTS = 4  # concurrent callers whose latency is measured
PUT_LOAD = 4  # concurrent put loops kept running against the shard node
HANDSHAKE_TIMEOUT = 5.0  # the node's default: what the flood leaves open is gone after it
HOSTILE_SCRIPT = Path(__file__).with_name("hostile_load.py")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (the peak since the process started) of `pid`, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@contextmanager
def hostile_load(address: str, cluster: str, folder: Path) -> Iterator[Path]:
    """hostile_load.py against `address` while the block runs; its report file."""
    host, port = address.rsplit(":", 1)
    report = folder / f"hostile-{port}.jsonl"
    command = [sys.executable, str(HOSTILE_SCRIPT), host, port, cluster]
    command += [str(HOSTILE_CONNECTIONS), str(report)]
    # At the lowest priority: an attacker's CPU is its own, on its own machine; on a
    # two-core test machine it would otherwise compete with the node and its clients.
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=lambda: os.nice(19)
    )
    try:
        yield report
        print(f"hostile load used {cpu_seconds(proc.pid):.1f}s of CPU")
    finally:
        proc.kill()  # by PID: this child only
        proc.wait()


def last_report(report: Path) -> dict[str, int] | None:
    if not report.exists():
        return None
    lines = report.read_text().splitlines()
    return json.loads(lines[-1]) if lines else None


async def latencies(call: Callable[[], Awaitable[Any]], seconds: float) -> list[float]:
    """Durations of `call` run by CLIENTS loops for `seconds`."""
    durations: list[float] = []

    async def loop() -> None:
        while True:
            started = trio.current_time()
            await call()
            durations.append(trio.current_time() - started)

    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for _ in range(CLIENTS):
                nursery.start_soon(loop)
    assert len(durations) > 10 * CLIENTS, f"only {len(durations)} calls in {seconds}s"
    return durations


async def wait_for_flood(report: Path) -> None:
    async def flood_on() -> dict[str, int] | None:
        seen = last_report(report)
        return seen if seen is not None and seen["connects"] >= HOSTILE_CONNECTIONS else None

    await wait_for(flood_on, timeout=30, what="the hostile connections to be opened")


async def node_status(client: RpcClient) -> dict[str, Any]:
    status: dict[str, Any] = await client.call(StatusRequest(), timeout=10)
    return status


def node_side_latency(phases: list[tuple[dict[str, Any], dict[str, Any]]]) -> float:
    """Mean time the node took to answer the measured requests over `phases` (pairs of
    statuses read at the start and end of each), from its own request_latency counters."""
    count, seconds = 0, 0.0
    for start, end in phases:
        for op, figures in end["request_latency"].items():
            if op == "StatusRequest":
                continue
            before = start["request_latency"].get(op, {"count": 0, "sum_s": 0.0})
            count += figures["count"] - before["count"]
            seconds += figures["sum_s"] - before["sum_s"]
    assert count > 0
    return seconds / count


async def under_attack(
    node: NodeProcess,
    address: str,
    cluster: str,
    secret: Path,
    folder: Path,
    call: Callable[[], Awaitable[Any]],
) -> dict[str, Any]:
    """Latency before, during and after the hostile connections; memory during them."""
    pid = node.pid or 0
    # Connected (and authenticated) before the flood, as an operator's monitoring is.
    security = Security(secret=load_secret(secret))
    async with RpcClient(address, cluster, security=security) as status_client:
        s0 = await node_status(status_client)
        before_flood = await latencies(call, PHASE_SECONDS)
        s1 = await node_status(status_client)
        with hostile_load(address, cluster, folder) as report:
            await wait_for_flood(report)
            s2 = await node_status(status_client)
            during = await latencies(call, PHASE_SECONDS)
            s3 = await node_status(status_client)
            rss_during = rss_bytes(pid, "VmRSS")
            flood = last_report(report)
        # The machine's own load drifts (other tests, other work): "normal" is measured
        # on both sides of the flood, once the node has closed what the flood left open.
        await trio.sleep(HANDSHAKE_TIMEOUT)
        s4 = await node_status(status_client)
        after_flood = await latencies(call, PHASE_SECONDS)
        s5 = await node_status(status_client)
    return {
        "node_baseline_s": node_side_latency([(s0, s1), (s4, s5)]),
        "node_during_s": node_side_latency([(s2, s3)]),
        "client_baseline_s": statistics.median(before_flood + after_flood),
        "client_during_s": statistics.median(during),
        "client_before_after_s": [statistics.median(before_flood), statistics.median(after_flood)],
        "rss_during": rss_during,
        "peak_rss": rss_bytes(pid, "VmHWM"),
        "before": s1["transport"],
        "transport": s3["transport"],
        "flood": flood,
    }


def check(result: dict[str, Any], what: str) -> None:
    figures = {k: v for k, v in result.items() if k not in ("before", "transport")}
    print(f"{what}: {json.dumps(figures)}")  # the figures docs/security.md records
    transport = result["transport"]
    # The flood was real: more connections than the caps allow, refused at accept...
    assert result["flood"]["connects"] >= HOSTILE_CONNECTIONS
    assert transport["connections_refused"] > result["before"]["connections_refused"]
    assert transport["connections_unauthenticated"] <= transport["max_unauthenticated"]
    # ... and it cost the node its memory neither; every client call above succeeded.
    assert result["peak_rss"] < RSS_LIMIT, f"{what}: peak RSS {result['peak_rss']} bytes"
    # Latency is printed, not asserted: a wall-clock bound fails on a busy machine for
    # reasons that are not the node's (issue 17's 2x goal is tracked in docs/security.md).


async def test_nodes_keep_memory_and_latency_under_hostile_connections(
    tmp_path: Path, secret_file: Path
) -> None:
    addresses = free_addresses(2)
    config = GroupLayout.config_group(addresses[:1])
    shard = GroupLayout.shard_group(1, addresses[1:], config.addresses)
    security = {"secret_file": str(secret_file)}
    paths = write_secured_role_files(config, tmp_path, security)
    paths += write_secured_role_files(shard, tmp_path, security)
    secured = Security.from_files(secret_file=secret_file)
    with running_nodes(paths) as nodes:
        async with Client.connect(config.addresses, security=secured, timeout=60) as kv:
            await kv.config_client.join({1: shard.addresses})
            await kv.put("warm-up", "x")

            config_result = await under_attack(
                nodes[0],
                config.addresses[0],
                config.cluster,
                secret_file,
                tmp_path,
                kv.config_client.query,
            )
            check(config_result, "config node")

            # A client that connects during a flood gets in too (refused with `busy`
            # while the handshake slots are full, it retries).
            with hostile_load(config.addresses[0], config.cluster, tmp_path) as report:
                await wait_for_flood(report)
                async with Client.connect(config.addresses, security=secured) as late:
                    assert (await late.config_client.query())["num"] >= 1

            counter = 0

            async def put() -> None:
                nonlocal counter
                counter += 1
                await kv.put(f"key-{counter}", b"v" * 100)

            async def put_load() -> None:
                while True:
                    await put()

            async with trio.open_nursery() as load:
                for _ in range(PUT_LOAD):
                    load.start_soon(put_load)
                shard_result = await under_attack(
                    nodes[1], shard.addresses[0], shard.cluster, secret_file, tmp_path, put
                )
                load.cancel_scope.cancel()
            check(shard_result, "shard node")

"""`eraft ctl status [--once] [--json]`: the live status view, one rendering, or one JSON document."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio
from rich.console import Console
from rich.live import Live

from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.transport.handshake import ANY_CLUSTER
from eraft_trio.transport.security import Security
from eraft_trio.tui.cluster_probe import DEFAULT_NODE_TIMEOUT, ClusterProbe
from eraft_trio.tui.ops_rate import OpsRate
from eraft_trio.tui.status_summary import summarize
from eraft_trio.tui.status_view import render_status

REFRESH_SECONDS = 1.0
EXIT_OK, EXIT_UNAVAILABLE = 0, 3


def run_status(servers: tuple[str, ...], args: argparse.Namespace) -> int:
    try:
        result: int = trio.run(_status, servers, args)
    except KeyboardInterrupt:
        return EXIT_OK  # Ctrl-C is how the live view is meant to end
    return result


async def _status(servers: tuple[str, ...], args: argparse.Namespace) -> int:
    node_timeout = min(args.timeout, DEFAULT_NODE_TIMEOUT)
    async with open_probe(servers, node_timeout=node_timeout) as probe:
        if not (args.once or args.json):
            await show_live(probe, Console(), "refreshing every second · Ctrl-C to quit")
            return EXIT_OK
        snapshot = await sample(probe)
    if args.json:
        print(json.dumps(snapshot, default=_jsonable))
    else:
        console = Console()
        console.print(render_status(snapshot, console.width, console.height))
    if snapshot["config"] is None:
        print("eraft ctl status: no config server answered", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return EXIT_OK


@asynccontextmanager
async def open_probe(
    servers: tuple[str, ...],
    *,
    cluster: str | None = None,
    node_timeout: float = DEFAULT_NODE_TIMEOUT,
    extra_groups: Mapping[int, tuple[str, ...]] | None = None,
    security: Security | None = None,
) -> AsyncIterator[ClusterProbe]:
    """A ClusterProbe whose connections live as long as the block (`security` None: the
    secret and TLS files the environment names, as for every client tool)."""
    async with trio.open_nursery() as nursery:
        pool = ConnectionPool(nursery, cluster or ANY_CLUSTER, security=security)
        try:
            yield ClusterProbe(pool, servers, node_timeout=node_timeout, extra_groups=extra_groups)
        finally:
            await pool.aclose()
            nursery.cancel_scope.cancel()


async def sample(probe: ClusterProbe, interval: float = REFRESH_SECONDS) -> dict[str, Any]:
    """One summarized snapshot, read twice `interval` apart so it carries ops/s."""
    rate = OpsRate()
    rate.annotate(await probe.gather(), trio.current_time())
    await trio.sleep(interval)
    snapshot = await probe.gather()
    rate.annotate(snapshot, trio.current_time())
    return summarize(snapshot)


async def show_live(
    probe: ClusterProbe, console: Console, footer: str, interval: float = REFRESH_SECONDS
) -> None:
    """Refresh the view every `interval` seconds until cancelled."""
    rate = OpsRate()
    with Live(console=console, auto_refresh=False, vertical_overflow="crop") as live:
        while True:
            started = trio.current_time()
            snapshot = await probe.gather()
            rate.annotate(snapshot, trio.current_time())
            view = render_status(summarize(snapshot), console.width, console.height, footer)
            live.update(view, refresh=True)
            await trio.sleep_until(started + interval)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)

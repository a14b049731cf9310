"""`eraft ctl status [--once] [--json]`: the live status view, one rendering, or one JSON document."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import trio
from rich.console import Console
from rich.live import Live

from eraft_trio.group_calls.cluster_probe import DEFAULT_NODE_TIMEOUT, ClusterProbe
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
    async with ClusterProbe.open(servers, node_timeout=node_timeout) as probe:
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

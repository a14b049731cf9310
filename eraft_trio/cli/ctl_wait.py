"""`eraft ctl join|leave|move ... --wait`: return once every bucket the change moved is served
by its new owner and every old copy is gone, reporting progress on stderr."""

from __future__ import annotations

import sys
from typing import Any, TextIO

import trio

from eraft_trio.client.kv_client import Client
from eraft_trio.errors import OperationTimeout
from eraft_trio.group_calls.cluster_probe import ClusterProbe
from eraft_trio.transport.security import Security
from eraft_trio.tui.handoffs import buckets_in_place, bytes_installed, handoffs, moved_buckets
from eraft_trio.tui.status_summary import summarize

POLL_SECONDS = 0.5
REPORT_SECONDS = 1.0


async def wait_for_handoffs(
    client: Client,
    servers: tuple[str, ...],
    num: int,
    *,
    security: Security,
    timeout: float | None,
    out: TextIO = sys.stderr,
) -> dict[str, Any]:
    """Wait until config `num` has settled (handoffs.py); its last summary.

    Raises OperationTimeout naming what is still pending after `timeout` seconds (None:
    wait as long as it takes; Ctrl-C ends the wait, never the change, which is made).
    """
    before = await client.config_client.query(num - 1) if num > 0 else None
    after = await client.config_client.query(num)
    moved = moved_buckets(before, after)
    # A group that left must be seen done, not just absent from what the probe found.
    leavers = frozenset(int(g) for g in (before or {}).get("groups") or {}) - frozenset(
        int(g) for g in after.get("groups") or {}
    )
    started = trio.current_time()
    reported = started - REPORT_SECONDS
    baseline: int | None = None
    summary: dict[str, Any] = {}
    line = ""
    with trio.move_on_after(timeout if timeout is not None else float("inf")) as scope:
        async with ClusterProbe.open(servers, security=security) as probe:
            while True:
                snapshot = summarize(await probe.gather())
                summary = handoffs(snapshot, target=num, leavers=leavers)
                installed = bytes_installed(snapshot)
                baseline = installed if baseline is None else min(baseline, installed)
                line = _progress_line(snapshot, summary, moved, num, installed - baseline)
                if summary["settled"]:
                    break
                now = trio.current_time()
                if now - reported >= REPORT_SECONDS:
                    print(f"waiting: {line}", file=out, flush=True)
                    reported = now
                await trio.sleep(POLL_SECONDS)
    if scope.cancelled_caught:
        raise OperationTimeout(f"config {num} still settling after {timeout:g}s: {line}")
    print(f"settled: {line}", file=out, flush=True)
    for group in summary["leaving"]:
        print(f"group {group['gid']} may be stopped", file=out, flush=True)
    return summary


def _progress_line(
    snapshot: dict[str, Any],
    summary: dict[str, Any],
    moved: list[int],
    num: int,
    copied: int,
) -> str:
    done = buckets_in_place(snapshot, moved, num)
    parts = [f"config {num}: {done}/{len(moved)} buckets in place, {_size(copied)} copied"]
    for group in summary["groups"]:
        if group["num"] is None:
            parts.append(f"group {group['gid']} not answering")
        elif group["num"] < num:
            parts.append(f"group {group['gid']} at config {group['num']}")
    for group in summary["leaving"]:
        if not group["may_stop"]:
            holds = group["holds"]
            held = "down" if holds is None else f"holds {holds} buckets"
            parts.append(f"group {group['gid']} (leaving) {held}")
    return "; ".join(parts)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"

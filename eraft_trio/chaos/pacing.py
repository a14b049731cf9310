"""The nemeses' pacing: hold a while, cut short when the run stops."""

from __future__ import annotations

import trio


async def hold(stop: trio.Event, seconds: float) -> bool:
    """Wait `seconds`, less once `stop` is set; whether the run goes on (`stop` not set)."""
    with trio.move_on_after(seconds):
        await stop.wait()
    return not stop.is_set()

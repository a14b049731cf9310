"""The bucket-to-group map of a config: a grid of gids, or group ranges when it would not fit."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from rich.text import Text

from eraft_trio.roles.config.bucket_ranges import format_buckets

_PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan")


def gid_style(gid: int) -> str:
    """One colour per group, the same in the grid, the table and the migration list."""
    return "dim" if gid == 0 else f"bold {_PALETTE[(gid - 1) % len(_PALETTE)]}"


def bucket_map(
    config: dict[str, Any], width: int, max_rows: int, migrating: Collection[int] = ()
) -> Text:
    """A grid (one cell per bucket, rows labelled by their first bucket) when it fits in
    `max_rows` rows of `width`; otherwise one line per group with its bucket ranges.
    Buckets in `migrating` are shown reversed, so a move in progress stands out."""
    owners: list[int] = list(config.get("buckets") or [])
    if not owners:
        return Text("no buckets", style="dim")
    label = len(str(len(owners) - 1))
    cell = max(2, len(str(max(owners))) + 1)
    per_row = max(1, (width - label - 1) // cell)
    if per_row >= 10:
        per_row -= per_row % 10  # rows start at round numbers, easier to read
    per_row = min(per_row, len(owners))
    rows = -(-len(owners) // per_row)
    if rows > max_rows:
        return _ranges(owners, migrating)
    text = Text()
    text.append(" " * (label + 1))
    for col in range(per_row):
        text.append(f"{col % 100:>{cell}}", style="dim")
    for start in range(0, len(owners), per_row):
        text.append(f"\n{start:>{label}} ", style="dim")
        for bucket in range(start, min(start + per_row, len(owners))):
            gid = owners[bucket]
            style = gid_style(gid) + (" reverse" if bucket in migrating else "")
            text.append(" " * (cell - len(str(gid))))
            text.append("·" if gid == 0 else str(gid), style=style)
    return text


def _ranges(owners: list[int], migrating: Collection[int]) -> Text:
    by_gid: dict[int, list[int]] = {}
    for bucket, gid in enumerate(owners):
        by_gid.setdefault(gid, []).append(bucket)
    text = Text()
    for gid in sorted(by_gid, key=lambda g: (g == 0, g)):
        if text:
            text.append("\n")
        name = "unassigned" if gid == 0 else f"g{gid}"
        text.append(f"{name} ({len(by_gid[gid])}): ", style=gid_style(gid))
        text.append(format_buckets(by_gid[gid]))
    if migrating:
        text.append(f"\nmoving: {format_buckets(sorted(migrating))}", style="reverse")
    return text

"""StartupProgress: rich bars for `eraft local` while nodes start, elect leaders and take buckets."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class StartupProgress:
    """One bar per group (nodes answering; the leader once elected), one for the buckets."""

    def __init__(self, console: Console, group_sizes: Mapping[int, int]) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", style="bold"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._groups: dict[int, TaskID] = {}
        for gid, size in sorted(group_sizes.items()):
            name = "config group" if gid == 0 else f"group {gid}"
            task = self.progress.add_task(name, total=size, note="starting")
            self._groups[gid] = task
        self._buckets: TaskID | None = None

    def __enter__(self) -> StartupProgress:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def show_groups(self, snapshot: dict[str, Any]) -> None:
        """Nodes up and leader of every group we track, from a summarized snapshot."""
        for group in snapshot["groups"]:
            task = self._groups.get(group["gid"])
            if task is None:
                continue
            leader = group.get("leader")
            note = f"leader {leader}, term {group['term']}" if leader else "electing a leader"
            if group["nodes_up"] == 0:
                note = "starting"
            self.progress.update(task, completed=group["nodes_up"], note=note)

    def note(self, gid: int, text: str) -> None:
        self.progress.update(self._groups[gid], note=text)

    def show_buckets(self, served: int, total: int, note: str) -> None:
        if self._buckets is None:
            self._buckets = self.progress.add_task("buckets served", total=total, note=note)
        self.progress.update(self._buckets, completed=served, total=total, note=note)

"""BenchProgress: the bench's rich progress bars on stderr (preload, then the measured run)."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import trio
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

REFRESH_SECONDS = 0.1


class BenchProgress:
    """Bars driven from trio (no refresh thread: it would compete with the client tasks
    for the GIL and show up in the latencies). A disabled instance shows nothing."""

    def __init__(self, enabled: bool, console: Console | None = None) -> None:
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[detail]}"),
                console=console or Console(stderr=True),
                auto_refresh=False,
            )

    def __enter__(self) -> BenchProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.refresh()
            self._progress.stop()

    async def follow(
        self,
        description: str,
        total: float,
        read: Callable[[], tuple[float, str]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Show a bar until cancelled; `read()` gives (completed, detail text) at each refresh."""
        task_status.started()
        if self._progress is None:
            return
        task: TaskID = self._progress.add_task(description, total=total, detail="")
        try:
            while True:
                self._show(task, read)
                await trio.sleep(REFRESH_SECONDS)
        finally:
            # The last figures, even when cancelled between two refreshes.
            self._show(task, read)

    def _show(self, task: TaskID, read: Callable[[], tuple[float, str]]) -> None:
        assert self._progress is not None
        completed, detail = read()
        self._progress.update(task, completed=completed, detail=detail)
        self._progress.refresh()

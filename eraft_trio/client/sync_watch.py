"""SyncWatch: a watch as a blocking iterator, for SyncClient (the watch itself runs in
the SyncClient's trio thread; each `next` waits there for the next event)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import trio

from eraft_trio.client.watch import Watch, WatchEvent
from eraft_trio.errors import EraftError

log = logging.getLogger(__name__)


class SyncWatch:
    """Iterate for WatchEvents (blocking; never ends by itself); `close()` or a `with`
    block ends it. `positions` as Watch.positions."""

    def __init__(
        self,
        token: trio.lowlevel.TrioToken,
        nursery: trio.Nursery,
        open_watch: Callable[[], AbstractAsyncContextManager[Watch]],
    ) -> None:
        self._token = token
        self._closed: trio.Event | None = None

        async def run(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            self._closed = trio.Event()
            started = False
            try:
                async with open_watch() as watch:
                    task_status.started(watch)
                    started = True
                    await self._closed.wait()
            except EraftError as exc:
                if not started:
                    raise  # to the caller of SyncClient.watch
                # After the start failures reach the caller through the iterator; this
                # task must not take the SyncClient's other tasks down with it.
                log.debug("watch ended: %s", exc)

        async def start() -> Watch:
            started: Watch = await nursery.start(run)
            return started

        self._watch: Watch | None = trio.from_thread.run(start, trio_token=token)

    @property
    def positions(self) -> dict[int, int]:
        watch = self._open()
        positions: dict[int, int] = trio.from_thread.run_sync(
            lambda: watch.positions, trio_token=self._token
        )
        return positions

    def __iter__(self) -> SyncWatch:
        return self

    def __next__(self) -> WatchEvent:
        event: WatchEvent = trio.from_thread.run(self._open().__anext__, trio_token=self._token)
        return event

    def _open(self) -> Watch:
        if self._watch is None:
            raise RuntimeError("the watch is closed")
        return self._watch

    def close(self) -> None:
        if self._watch is None:
            return
        self._watch = None
        closed = self._closed
        if closed is not None:
            trio.from_thread.run_sync(closed.set, trio_token=self._token)

    def __enter__(self) -> SyncWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""A one-shot result slot a task can wait on: set once with a value or an exception."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

log = logging.getLogger(__name__)

DoneCallback = Callable[["Waiter"], None]


class Waiter:
    """Waited on by a task (`wait`), or followed by callbacks (`add_done_callback`), which
    let a connection's reader answer a request without a task of its own."""

    __slots__ = ("_event", "_value", "_error", "_callbacks")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[DoneCallback] | None = None

    @property
    def done(self) -> bool:
        return self._event.is_set()

    @property
    def error(self) -> BaseException | None:
        return self._error

    @property
    def value(self) -> Any:
        return self._value

    def set(self, value: Any) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()
            self._run_callbacks()

    def fail(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()
            self._run_callbacks()

    def add_done_callback(self, callback: DoneCallback) -> None:
        """Call `callback(self)` once it is set or failed: now, if it already is."""
        if self._event.is_set():
            callback(self)
        elif self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    def _run_callbacks(self) -> None:
        callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            try:
                callback(self)
            except Exception:
                # Callbacks run inside the runtime's trio callbacks (run_sync_soon), where
                # an exception would end the whole node: one bad callback fails alone.
                log.exception("a waiter's done callback failed")

    async def wait(self) -> Any:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value

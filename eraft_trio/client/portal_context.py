"""A trio async context manager of the Client held open in the portal's thread while a
driver's block runs in its own thread (SyncClient) or event loop (AsyncioClient): what
`with client.lease(...)` and `with client.lock(...)` are made of there.

One portal call enters the context manager, resolves `entered` with its value and then
waits for `release()`; its future (`done`) resolves when the context manager has exited,
with what the exit raised (LeaseLost for a lock whose lease was lost). A context manager
that ends on its own while the block runs (a lock's lease lost) ends that call early:
the blocking driver raises its error when the block ends (a thread cannot be
interrupted), the asyncio driver cancels the block's task at once and raises it then.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any, Generic, TypeVar

import trio

from eraft_trio.client.kv_client import Client
from eraft_trio.client.portal import ClientPortal
from eraft_trio.errors import ClientClosed

T = TypeVar("T")
MakeContext = Callable[[Client], AbstractAsyncContextManager[T]]


class HeldContext(Generic[T]):
    """Starts the portal call at once (see the module docstring)."""

    def __init__(self, portal: ClientPortal, make: MakeContext[T]) -> None:
        self.entered: Future[T] = Future()
        self.released = False
        self._portal = portal
        self._release: trio.Event | None = None
        self.done: Future[None] = portal.submit(self._hold, make)
        self.done.add_done_callback(self._ended)

    async def _hold(self, client: Client, make: MakeContext[T]) -> None:
        self._release = trio.Event()
        async with make(client) as value:
            _resolve(self.entered, value)
            await self._release.wait()

    def _ended(self, done: Future[None]) -> None:
        """The call ended: `entered` fails with its error if it ended before entering."""
        if self.entered.done():
            return
        if done.cancelled():
            self.entered.cancel()
            return
        error = done.exception() or ClientClosed("the client stopped before the block began")
        _resolve(self.entered, error=error)

    def release(self) -> None:
        """The block ended: exit the context manager (`done` says when it has)."""
        self.released = True
        release = self._release
        if release is not None:
            with contextlib.suppress(ClientClosed):  # closed: the call is cancelled anyway
                self._portal.run_sync_soon(release.set)


@contextmanager
def hold_blocking(portal: ClientPortal, make: MakeContext[T]) -> Iterator[T]:
    """`with`: the context manager's value while the block runs; its exit's error (such as
    LeaseLost) raised when the block ends."""
    held = HeldContext(portal, make)
    try:
        value = held.entered.result()
    except BaseException:
        held.done.cancel()  # interrupted while entering: unwind it in the trio thread
        raise
    try:
        yield value
    finally:
        held.release()
        held.done.result()


@asynccontextmanager
async def hold_async(portal: ClientPortal, make: MakeContext[T]) -> AsyncIterator[T]:
    """`async with`: as hold_blocking, and a context manager that ends on its own while
    the block runs cancels the block's task, whose `async with` raises its error."""
    held = HeldContext(portal, make)
    try:
        value = await asyncio.wrap_future(held.entered)
    except BaseException:
        held.done.cancel()
        raise
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    ended_early = False

    def cancel_block(_: Future[None]) -> None:  # in the trio thread
        nonlocal ended_early
        if not held.released:
            ended_early = True
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
                loop.call_soon_threadsafe(task.cancel)

    held.done.add_done_callback(cancel_block)
    try:
        yield value
    except asyncio.CancelledError:
        # Our cancel (and no other pending): the exit's error below replaces it.
        if not (ended_early and task.uncancel() == 0):
            raise
    finally:
        held.release()
        await asyncio.shield(asyncio.wrap_future(held.done))


def _resolve(future: Future[Any], value: Any = None, *, error: BaseException | None = None) -> None:
    """Resolve `future` unless it is cancelled (its waiter is gone) or already resolved."""
    if future.done() or not future.set_running_or_notify_cancel():
        return
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)

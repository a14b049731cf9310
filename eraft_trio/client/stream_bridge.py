"""Streams across the portal: a trio async iterator (what the trio Client's streaming
calls return: an async generator, or an async context manager yielding an iterator)
read from another thread, as an asyncio async iterator or a blocking iterator.

One trio task (the pump) owns the trio iterator for its whole life, as trio requires of
a generator holding a nursery or a cancel scope, and feeds a memory channel of
`buffer` items: when the reader falls behind, the pump waits, and so does the trio side
(bounded memory). The reader takes up to `buffer` items per thread hop.

Closing the reader early (close/aclose, leaving its `with` block, garbage collection)
cancels the pump, which closes the trio iterator; a cancelled asyncio read or an
interrupted blocking read closes the stream too, so the trio side never runs on unread.
An error of the trio iterator reaches the reader after the items before it; closing the
portal under a stream raises ClientClosed in the reader.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Generic, TypeVar

import trio

from eraft_trio.client.kv_client import Client
from eraft_trio.client.portal import ClientPortal, is_cancellation
from eraft_trio.errors import ClientClosed

T = TypeVar("T")
DEFAULT_STREAM_BUFFER = 64
# What a streaming Client call returns: an async iterator, or a context manager giving one.
TrioStreamSource = AsyncIterator[T] | AbstractAsyncContextManager[AsyncIterator[T]]


class PortalStream(Generic[T]):
    """The shared core of both readers: the pump in the trio thread, batches by Future."""

    def __init__(
        self,
        portal: ClientPortal,
        open_stream: Callable[[Client], TrioStreamSource[T]],
        buffer: int = DEFAULT_STREAM_BUFFER,
    ) -> None:
        if buffer < 1:
            raise ValueError(f"a stream's buffer must hold at least one item, not {buffer}")
        self._portal = portal
        self._open_stream = open_stream
        self._buffer = buffer
        self._send, self._receive = trio.open_memory_channel[T](buffer)
        self._scope = trio.CancelScope()
        self._error: BaseException | None = None
        self.pumped: Future[None] = portal.submit(self._pump)

    def next_batch(self) -> Future[list[T]]:
        """The next 1..buffer items; [] at the end; the trio iterator's error after its items."""
        return self._portal.submit(self._next_batch)

    def close(self) -> Future[None]:
        """Cancel the pump; the Future resolves once the trio iterator is closed."""
        with suppress(ClientClosed):  # closing the portal ends the pump
            self._portal.run_sync_soon(self._scope.cancel)
        return self.pumped

    async def _pump(self, client: Client) -> None:
        async with self._send:  # closed last: a reader sees the end after any error
            try:
                with self._scope:
                    async with _opened(self._open_stream(client)) as items:
                        async for item in items:
                            await self._send.send(item)
            except BaseException as exc:
                if not is_cancellation(exc):
                    self._error = exc  # for the reader, after the items before it
                elif not self._scope.cancel_called:
                    self._error = self._portal.closed_error()  # closing under the stream
                if not isinstance(exc, Exception):
                    raise  # the portal gives trio its Cancelled back

    async def _next_batch(self, client: Client) -> list[T]:
        try:
            batch = [await self._receive.receive()]
        except trio.EndOfChannel:
            batch = []
        if not batch:
            if self._error is not None:
                raise self._error  # outside the except: not chained to EndOfChannel
            return []
        while len(batch) < self._buffer:
            try:
                batch.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        return batch


@asynccontextmanager
async def _opened(source: TrioStreamSource[T]) -> AsyncIterator[AsyncIterator[T]]:
    """The iterator of `source`, closed at the end (aclose, or the context manager's exit)."""
    if isinstance(source, AbstractAsyncContextManager):
        async with source as items:
            yield items
        return
    try:
        yield source
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


class _Reader(Generic[T]):
    """What both readers share: the local batch, the end, one read at a time."""

    def __init__(self, core: PortalStream[T], owner: object = None) -> None:
        self._core = core
        self._owner = owner  # the client: not collected (and closed) while a stream is read
        self._items: deque[T] = deque()
        self._done = False
        self._reading = False

    def _begin_read(self) -> None:
        if self._reading:
            raise RuntimeError("a stream is read by one reader at a time")
        self._reading = True

    def _keep(self, batch: list[T]) -> bool:
        """The read is over: keep its batch; False at the stream's end (an empty batch)."""
        self._reading = False
        if not batch:
            self._end()
            return False
        self._items.extend(batch)
        return True

    def _read_failed(self) -> None:
        """The read raised (an error, a cancellation, an interrupt): the stream is over,
        and the trio side is closed rather than left running on unread."""
        self._reading = False
        self._end()
        self._core.close()

    def _end(self) -> None:
        self._done = True
        self._items.clear()

    def __del__(self) -> None:  # dropped unclosed: do not leave the pump feeding nobody
        if not self._done:
            with suppress(Exception):  # nothing to report to at collection
                self._core.close()


class AsyncioStream(_Reader[T]):
    """`async for item in stream`; `async with stream` (or `await stream.aclose()`)
    closes the trio side early."""

    def __aiter__(self) -> AsyncioStream[T]:
        return self

    async def __anext__(self) -> T:
        if not self._items:
            if self._done:
                raise StopAsyncIteration
            self._begin_read()
            try:
                batch = await asyncio.wrap_future(self._core.next_batch())
            except BaseException:  # an error, or this task cancelled: the stream is over
                self._read_failed()
                raise
            if not self._keep(batch):
                raise StopAsyncIteration
        return self._items.popleft()

    async def aclose(self) -> None:
        """Close the trio side and wait until it is closed."""
        self._end()
        done = self._core.close()
        with suppress(ClientClosed):
            await asyncio.wrap_future(done)

    async def __aenter__(self) -> AsyncioStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class BlockingStream(_Reader[T]):
    """`for item in stream`; `with stream` (or `stream.close()`) closes the trio side early."""

    def __iter__(self) -> BlockingStream[T]:
        return self

    def __next__(self) -> T:
        if not self._items:
            if self._done:
                raise StopIteration
            self._begin_read()
            future: Future[list[T]] | None = None
            try:
                future = self._core.next_batch()  # ClientClosed once the client is closed
                batch = future.result()
            except BaseException:  # an error, or KeyboardInterrupt: the stream is over
                if future is not None:
                    future.cancel()
                self._read_failed()
                raise
            if not self._keep(batch):
                raise StopIteration
        return self._items.popleft()

    def close(self) -> None:
        """Close the trio side and wait until it is closed."""
        self._end()
        with suppress(ClientClosed):
            self._core.close().result()

    def __enter__(self) -> BlockingStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def blocking_stream(
    portal: ClientPortal,
    open_stream: Callable[[Client], TrioStreamSource[T]],
    buffer: int = DEFAULT_STREAM_BUFFER,
) -> BlockingStream[T]:
    return BlockingStream(PortalStream(portal, open_stream, buffer))


def asyncio_stream(
    portal: ClientPortal,
    open_stream: Callable[[Client], TrioStreamSource[T]],
    buffer: int = DEFAULT_STREAM_BUFFER,
) -> AsyncioStream[T]:
    return AsyncioStream(PortalStream(portal, open_stream, buffer))

"""The stream bridge (client/stream_bridge.py) with dummy trio async generators, as the
scan and watch calls will plug in: items in order, bounded buffering, errors after the
items before them, early close and dropping close the trio side, a cancelled asyncio
read cancels it, and closing the client ends a stream with ClientClosed."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
import trio

from eraft_trio.client import Client
from eraft_trio.client.portal import ClientPortal
from eraft_trio.client.stream_bridge import asyncio_stream, blocking_stream
from eraft_trio.errors import ClientClosed

from .portal_helpers import open_portal, wait_until

BUFFER = 4


@pytest.fixture
def portal() -> Iterator[ClientPortal]:
    portal = open_portal()
    try:
        yield portal
    finally:
        portal.close()


class Source:
    """A trio async generator of 0, 1, ... (`count` of them, or without end), counting
    what it produced and recording that it was closed."""

    def __init__(self, count: int | None = None, fail_after: int | None = None) -> None:
        self.count = count
        self.fail_after = fail_after
        self.produced = 0
        self.closed = threading.Event()

    async def items(self, client: Client) -> AsyncIterator[int]:
        assert isinstance(client, Client)
        try:
            while self.count is None or self.produced < self.count:
                if self.produced == self.fail_after:
                    raise ValueError(f"failed after {self.fail_after}")
                self.produced += 1
                yield self.produced - 1
                await trio.sleep(0)
        finally:
            self.closed.set()


def test_a_blocking_reader_gets_every_item_in_order(portal: ClientPortal) -> None:
    source = Source(1000)
    with blocking_stream(portal, source.items, BUFFER) as stream:
        assert list(stream) == list(range(1000))
    assert source.closed.is_set()
    wait_until(lambda: portal.calls_in_flight() == 0, "the pump ended")


def test_the_trio_side_runs_at_most_two_buffers_ahead(portal: ClientPortal) -> None:
    """Channel (BUFFER) + the reader's batch (BUFFER) + one being sent + one being made."""
    source = Source()
    stream = blocking_stream(portal, source.items, BUFFER)
    for consumed, item in enumerate(stream, start=1):
        assert item == consumed - 1
        assert source.produced <= consumed + 2 * BUFFER + 2
        if consumed == 500:
            break
    stream.close()
    assert source.closed.is_set()


def test_an_error_reaches_the_reader_after_the_items_before_it(portal: ClientPortal) -> None:
    stream = blocking_stream(portal, Source(fail_after=3).items, BUFFER)
    got = []
    with pytest.raises(ValueError, match="failed after 3"):
        for item in stream:
            got.append(item)
    assert got == [0, 1, 2]
    assert list(stream) == []  # over


def test_closing_early_closes_the_trio_generator(portal: ClientPortal) -> None:
    source = Source()
    with blocking_stream(portal, source.items, BUFFER) as stream:
        assert [next(stream), next(stream), next(stream)] == [0, 1, 2]
    assert source.closed.is_set()  # close() waited for it
    wait_until(lambda: portal.calls_in_flight() == 0, "the pump ended")
    assert list(stream) == []


def test_a_context_manager_source_is_entered_and_exited(portal: ClientPortal) -> None:
    exited = threading.Event()
    source = Source()

    @asynccontextmanager
    async def opened(client: Client) -> AsyncIterator[AsyncIterator[int]]:
        async with trio.open_nursery():  # a scope held across yields: one task must own it
            try:
                yield source.items(client)
            finally:
                exited.set()

    with blocking_stream(portal, opened, BUFFER) as stream:
        assert next(stream) == 0
    assert exited.is_set()


def test_dropping_an_unclosed_reader_closes_the_trio_side(portal: ClientPortal) -> None:
    source = Source()
    stream = blocking_stream(portal, source.items, BUFFER)
    assert next(stream) == 0
    del stream
    gc.collect()
    assert source.closed.wait(30)
    wait_until(lambda: portal.calls_in_flight() == 0, "the pump ended")


def test_closing_the_client_ends_a_stream_with_client_closed() -> None:
    portal = open_portal()
    stream = blocking_stream(portal, Source().items, BUFFER)
    assert next(stream) == 0
    portal.close()
    with pytest.raises(ClientClosed):
        while True:
            next(stream)  # what was buffered, then the error
    # The stream is over, as an asyncio reader's is: not stuck "read by another reader".
    with pytest.raises(StopIteration):
        next(stream)
    stream.close()  # after the close: no error


def test_closing_the_client_under_a_nursery_holding_stream_raises_client_closed() -> None:
    portal = open_portal()

    async def in_a_nursery(client: Client) -> AsyncIterator[int]:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)
            yield 0
            await trio.sleep_forever()
            yield 1

    stream = blocking_stream(portal, in_a_nursery, BUFFER)
    assert next(stream) == 0
    portal.close()
    with pytest.raises(ClientClosed):
        next(stream)


def test_a_buffer_below_one_is_refused(portal: ClientPortal) -> None:
    with pytest.raises(ValueError, match="at least one"):
        blocking_stream(portal, Source().items, 0)


def run_asyncio(main: Callable[[], object]) -> None:
    asyncio.run(main())  # type: ignore[arg-type]


def test_an_asyncio_reader_gets_every_item_and_closes_early(portal: ClientPortal) -> None:
    whole, partial = Source(300), Source()

    async def main() -> None:
        async with asyncio_stream(portal, whole.items, BUFFER) as stream:
            assert [item async for item in stream] == list(range(300))
        async with asyncio_stream(portal, partial.items, BUFFER) as stream:
            async for item in stream:
                assert partial.produced <= item + 1 + 2 * BUFFER + 2
                if item == 50:
                    break
        assert partial.closed.is_set()  # aclose waited for it

    run_asyncio(main)
    assert whole.closed.is_set()


def test_cancelling_an_asyncio_read_cancels_the_trio_side(portal: ClientPortal) -> None:
    closed = threading.Event()

    async def one_then_stall(client: Client) -> AsyncIterator[int]:
        try:
            yield 1
            await trio.sleep_forever()
            yield 2
        finally:
            closed.set()

    async def main() -> None:
        stream = asyncio_stream(portal, one_then_stall, BUFFER)
        first = asyncio.Event()

        async def read() -> list[int]:
            got = []
            async for item in stream:
                got.append(item)
                first.set()
            return got

        task = asyncio.create_task(read())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(closed.wait, 30)
        assert [item async for item in stream] == []  # the stream is over

    run_asyncio(main)
    wait_until(lambda: portal.calls_in_flight() == 0, "the pump ended")


def test_one_reader_at_a_time(portal: ClientPortal) -> None:
    async def main() -> None:
        async with asyncio_stream(portal, Source(fail_after=None).items, 1) as stream:
            await stream.__anext__()
            reading = asyncio.ensure_future(stream.__anext__())
            await asyncio.sleep(0)  # let it start its read
            with pytest.raises(RuntimeError, match="one reader"):
                await stream.__anext__()
            await reading

    run_asyncio(main)

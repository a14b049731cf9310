"""The ClientPortal (client/portal.py), the one trio-in-a-thread both SyncClient and
AsyncioClient drive: results and errors come back as Futures, a cancelled Future cancels
the call in the trio thread, closing cancels running calls and ends the thread."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from concurrent.futures import CancelledError

import pytest
import trio

from eraft_trio.client import Client, SyncClient
from eraft_trio.client.portal import ClientPortal
from eraft_trio.errors import BadRequest, ClientClosed

from .portal_helpers import NOWHERE, open_portal, wait_until


def test_a_call_runs_in_the_trio_thread_with_the_client() -> None:
    portal = open_portal()
    try:

        async def where(client: Client, n: int, *, plus: int) -> tuple[str, int, float]:
            await trio.sleep(0)
            return threading.current_thread().name, n + plus, client.timeout

        assert portal.submit(where, 1, plus=2).result(timeout=30) == ("test-portal", 3, 30.0)
    finally:
        portal.close()


def test_an_error_comes_back_as_raised() -> None:
    portal = open_portal()
    try:
        with pytest.raises(BadRequest, match="key"):
            portal.submit(Client.get, b"k" * 10_000).result(timeout=30)
    finally:
        portal.close()


def test_a_base_exception_goes_to_its_caller_and_the_portal_lives_on() -> None:
    """Re-raised in the trio thread it would end every call of the client."""
    portal = open_portal()

    async def odd(client: Client) -> None:
        raise BaseExceptionGroup("mixed", [ValueError("v"), SystemExit(3)])

    async def fine(client: Client) -> str:
        return "fine"

    try:
        with pytest.raises(BaseExceptionGroup, match="mixed"):
            portal.submit(odd).result(timeout=30)
        assert portal.submit(fine).result(timeout=30) == "fine"
    finally:
        portal.close()


def test_cancelling_the_future_cancels_the_call_in_the_trio_thread() -> None:
    portal = open_portal()
    started, cancelled = threading.Event(), threading.Event()

    async def forever(client: Client) -> None:
        started.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.set()
            raise

    try:
        future = portal.submit(forever)
        assert started.wait(30)
        assert future.cancel()
        assert cancelled.wait(30)
        wait_until(lambda: portal.calls_in_flight() == 0, "the call ended")
        with pytest.raises(CancelledError):
            future.result()
    finally:
        portal.close()


def test_closing_cancels_running_calls_and_ends_the_thread() -> None:
    portal = open_portal()
    started = threading.Event()

    async def forever(client: Client) -> None:
        started.set()
        await trio.sleep_forever()

    future = portal.submit(forever)
    assert started.wait(30)
    portal.close()
    assert not portal.thread.is_alive()
    with pytest.raises(ClientClosed, match="closed"):
        future.result(timeout=30)
    with pytest.raises(ClientClosed, match="closed"):
        portal.submit(forever)
    portal.close()  # idempotent


def test_a_call_inside_a_nursery_closed_under_it_raises_client_closed() -> None:
    """Cancelled out of a nursery, Cancelled comes grouped (strict exception groups)."""
    portal = open_portal()
    started = threading.Event()

    async def forever_in_a_nursery(client: Client) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)
            started.set()
            await trio.sleep_forever()

    future = portal.submit(forever_in_a_nursery)
    assert started.wait(30)
    portal.close()
    with pytest.raises(ClientClosed, match="closed"):
        future.result(timeout=30)


def test_close_before_ready_still_ends_the_thread() -> None:
    portal = ClientPortal(NOWHERE, {}, name="test-portal")
    portal.close()  # may run before the trio thread has its token
    assert not portal.thread.is_alive()


def test_a_connect_error_is_raised_by_the_blocking_client() -> None:
    with pytest.raises(BadRequest, match="config server"):
        SyncClient(["no-port-here"])


def test_a_closed_sync_client_raises_client_closed() -> None:
    kv = SyncClient(NOWHERE)
    kv.close()
    with pytest.raises(ClientClosed):
        kv.get("k")
    with pytest.raises(RuntimeError):  # ClientClosed is one, as the old error was
        kv.get("k")


def test_a_dropped_client_ends_its_thread_but_not_while_a_stream_is_read() -> None:
    async def numbers(client: Client) -> AsyncIterator[int]:
        for n in range(3):
            yield n

    kv = SyncClient(NOWHERE)
    thread = kv._portal.thread
    stream = kv._stream(numbers)
    del kv
    gc.collect()
    assert list(stream) == [0, 1, 2]  # the stream kept its client open
    del stream
    gc.collect()
    thread.join(30)
    assert not thread.is_alive()

    kv = SyncClient(NOWHERE)
    thread = kv._portal.thread
    del kv
    gc.collect()
    thread.join(30)
    assert not thread.is_alive()

"""AsyncioClient without a cluster (plain asyncio.run, as an asyncio program would): the
two ways to open it, errors as Client raises them, a cancelled call is cancelled in the
trio thread too, and closing cancels running calls and ends the thread. Against real
processes: tests/e2e/test_asyncio_client.py."""

from __future__ import annotations

import asyncio
import threading

import pytest
import trio

from eraft_trio.client import AsyncioClient, Client
from eraft_trio.errors import BadRequest, ClientClosed

from .portal_helpers import NOWHERE, wait_until


def test_both_ways_to_open_it_and_errors_as_the_trio_client_raises() -> None:
    async def main() -> None:
        async with AsyncioClient(NOWHERE, timeout=30) as kv:
            with pytest.raises(BadRequest, match="key"):
                await kv.get(b"k" * 10_000)  # refused before anything is sent
            with pytest.raises(BadRequest, match="one of"):
                await kv.put("k", "v", if_version=1, if_absent=True)  # type: ignore[call-overload]
        async with await AsyncioClient.connect(NOWHERE, timeout=30) as kv:
            assert await kv._call(lambda client: _timeout_of(client)) == 30
        with pytest.raises(BadRequest, match="config server"):
            await AsyncioClient.connect(["no-port-here"])

    asyncio.run(main())


async def _timeout_of(client: Client) -> float:
    await trio.sleep(0)
    return client.timeout


def test_calls_before_connecting_and_after_closing_raise_client_closed() -> None:
    async def main() -> None:
        kv = AsyncioClient(NOWHERE)
        with pytest.raises(ClientClosed, match="not connected"):
            await kv.get("k")
        await kv.aclose()
        with pytest.raises(ClientClosed, match="closed"):
            await kv.get("k")
        with pytest.raises(ClientClosed, match="closed"):
            async with kv:
                pass

    asyncio.run(main())


def test_a_cancelled_call_does_not_keep_running_in_the_trio_thread() -> None:
    async def main() -> None:
        async with AsyncioClient(NOWHERE, timeout=60) as kv:
            portal = kv._connected()
            # Nothing answers: the get retries for a minute unless cancelled.
            task = asyncio.create_task(kv.get("k"))
            await asyncio.to_thread(wait_until, lambda: portal.calls_in_flight() == 1, "started")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.to_thread(wait_until, lambda: portal.calls_in_flight() == 0, "cancelled")

            with pytest.raises(TimeoutError):  # asyncio.wait_for cancels the same way
                await asyncio.wait_for(kv.put("k", "v"), 0.05)
            await asyncio.to_thread(wait_until, lambda: portal.calls_in_flight() == 0, "cancelled")

    asyncio.run(main())


def test_closing_cancels_running_calls_and_ends_the_thread() -> None:
    async def main() -> None:
        kv = await AsyncioClient.connect(NOWHERE, timeout=60)
        thread = kv._connected().thread
        started = threading.Event()

        async def forever(client: Client) -> None:
            started.set()
            await trio.sleep_forever()

        call = asyncio.ensure_future(kv._call(forever))
        await asyncio.to_thread(started.wait, 30)
        await kv.aclose()
        assert not thread.is_alive()
        with pytest.raises(ClientClosed):
            await call
        await kv.aclose()  # idempotent

    asyncio.run(main())

"""A trio context manager held open in the portal's thread while a SyncClient or
AsyncioClient block runs (client/portal_context.py; issue 16, finding 9): the value, the
exit when the block ends, an error of the entry, and one that ends on its own while the
block runs (a lock's lease lost)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from eraft_trio.client import AsyncioClient, Client, SyncClient
from eraft_trio.client.portal_context import hold_async, hold_blocking
from eraft_trio.errors import BadRequest, LeaseLost

from .portal_helpers import open_portal, wait_until


class Recorded:
    """A context manager of the Client that records its entry and exit; `lose` (a
    threading.Event) makes it end on its own with LeaseLost, as a lock whose lease is lost."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.lose = threading.Event()

    @asynccontextmanager
    async def manage(self, client: Client) -> AsyncIterator[str]:
        self.events.append("enter")
        try:
            with trio.CancelScope() as block:

                async def lose_when_told() -> None:
                    await trio.to_thread.run_sync(self.lose.wait, abandon_on_cancel=True)
                    block.cancel()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(lose_when_told)
                    try:
                        yield "value"
                    finally:
                        nursery.cancel_scope.cancel()
            if block.cancelled_caught:
                raise LeaseLost("lost")
        finally:
            self.events.append("exit")


@asynccontextmanager
async def refused(client: Client) -> AsyncIterator[str]:
    raise BadRequest("bad_request", "no")
    yield "never"  # pragma: no cover


def test_the_blocking_driver_holds_it_while_the_block_runs() -> None:
    portal = open_portal()
    recorded = Recorded()
    try:
        with hold_blocking(portal, recorded.manage) as value:
            assert value == "value" and recorded.events == ["enter"]
        assert recorded.events == ["enter", "exit"]
        with pytest.raises(BadRequest, match="no"), hold_blocking(portal, refused):
            raise AssertionError("the block must not run")
        with pytest.raises(LeaseLost), hold_blocking(portal, recorded.manage):
            recorded.lose.set()
            wait_until(lambda: recorded.events.count("exit") == 2, "it ended on its own")
            # ... and LeaseLost comes when the block ends: a thread is not interrupted.
    finally:
        portal.close()


def test_the_asyncio_driver_cancels_the_block_when_it_ends_on_its_own() -> None:
    portal = open_portal()
    recorded = Recorded()

    async def main() -> None:
        async with hold_async(portal, recorded.manage) as value:
            assert value == "value"
        assert recorded.events == ["enter", "exit"]
        with pytest.raises(BadRequest, match="no"):
            async with hold_async(portal, refused):
                raise AssertionError("the block must not run")
        finished = False
        with pytest.raises(LeaseLost):
            async with hold_async(portal, recorded.manage):
                recorded.lose.set()
                await asyncio.Event().wait()  # the block's work: cancelled
                finished = True
        assert not finished
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    try:
        asyncio.run(main())
    finally:
        portal.close()


def test_both_drivers_have_lease_and_lock() -> None:
    for driver in (SyncClient, AsyncioClient):
        assert callable(driver.lease) and callable(driver.lock)


def test_a_cancelled_entry_unwinds_in_the_trio_thread() -> None:
    portal = open_portal()
    recorded = Recorded()

    @asynccontextmanager
    async def slow(client: Client) -> AsyncIterator[str]:
        recorded.events.append("waiting")
        try:
            await trio.sleep_forever()
            yield "never"  # pragma: no cover
        finally:
            recorded.events.append("unwound")

    async def main() -> None:
        task = asyncio.create_task(hold_async(portal, slow).__aenter__())
        while recorded.events != ["waiting"]:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
        portal.close()
        assert recorded.events == ["waiting", "unwound"]
    finally:
        portal.close()

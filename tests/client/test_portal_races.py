"""ClientPortal races (issue 16, finding 7): a close that reads no token while the portal
connects still ends the thread; a submission meeting a closed nursery fails its future
and the portal lives on; every future still unresolved when the run ends fails."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest
import trio

from eraft_trio.client import Client
from eraft_trio.client.portal import ClientPortal
from eraft_trio.errors import ClientClosed

from .portal_helpers import NOWHERE, open_portal, wait_until


class CloseMeetsConnect(ClientPortal):
    """The interleaving where close_soon reads no token yet, _main then sets the token
    and checks _closing, and only then does close_soon go on: the closing thread, having
    read no token, stalls until the portal is ready, and the portal connects only once
    the closer has read."""

    def __init__(self) -> None:
        self.closer_read = threading.Event()
        super().__init__(NOWHERE, {"timeout": 30.0}, name="test-portal")

    @property  # type: ignore[override]
    def _token(self) -> Any:
        token = self.__dict__.get("_tok")
        if token is None and threading.current_thread().name == "closer":
            self.closer_read.set()
            # Only waiting for the portal's start, whatever its outcome.
            with contextlib.suppress(BaseException):
                self.ready.result(timeout=30)
        return token

    @_token.setter
    def _token(self, token: Any) -> None:
        self.__dict__["_tok"] = token

    async def _main(self, servers: tuple[str, ...], options: dict[str, Any]) -> None:
        await trio.to_thread.run_sync(self.closer_read.wait, 30)
        await super()._main(servers, options)


def test_a_close_while_connecting_ends_the_thread() -> None:
    portal = CloseMeetsConnect()
    closer = threading.Thread(target=portal.close_soon, name="closer")
    closer.start()
    closer.join(30)
    wait_until(lambda: not portal.thread.is_alive(), "the portal's thread ends")
    with pytest.raises(ClientClosed):
        portal.submit(trio.sleep_forever)


async def closed_nursery(client: Client) -> trio.Nursery:
    async with trio.open_nursery() as nursery:
        pass
    return nursery


async def answer(client: Client) -> int:
    return 7


def test_a_submission_meeting_a_closed_nursery_fails_alone() -> None:
    portal = open_portal()
    try:
        calls = portal._calls
        portal._calls = portal.submit(closed_nursery).result(timeout=30)
        with pytest.raises(ClientClosed):
            portal.submit(answer).result(timeout=30)
        portal._calls = calls
        assert portal.submit(answer).result(timeout=30) == 7  # the run survived
    finally:
        portal.close()


class DroppingPortal(ClientPortal):
    """Drops the start callbacks `drop` says to, as trio would one queued as its run ends."""

    drop = False

    def run_sync_soon(self, fn: Callable[[], object]) -> None:
        if not self.drop:
            super().run_sync_soon(fn)


def test_futures_still_unresolved_when_the_run_ends_fail() -> None:
    portal = DroppingPortal(NOWHERE, {"timeout": 30.0}, name="test-portal")
    portal.ready.result(timeout=30)
    portal.drop = True
    future: Future[int] = portal.submit(answer)
    portal.drop = False
    portal.close()
    with pytest.raises(ClientClosed):
        future.result(timeout=30)

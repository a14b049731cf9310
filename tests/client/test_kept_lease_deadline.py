"""The background keep-alive of `Client.lease` (client/leases.py), against a fake group on
trio's virtual clock: when `lost` is set and what `deadline` promises.

Regression: `lost` used to be set a TTL after the *reply* of the last keep-alive, and only
once the next try failed, so a holder could go on working after the group's deadline
(stamped when it received the keep-alive, earlier than the reply) had passed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

from eraft_trio.client import leases
from eraft_trio.errors import BadRequest, OperationTimeout
from eraft_trio.protocol.errors import ErrorCode

TTL = 9.0
GRANT_TAKES = 0.5
CLIENT: Any = SimpleNamespace(timeout=5.0)  # only its timeout is read: the calls are faked


class FakeGroup:
    """Grants lease 7 after GRANT_TAKES seconds, answers keep-alives as told, records revokes."""

    def __init__(self, keep_alive: Callable[[int], Awaitable[float]]) -> None:
        self.keep_alive = keep_alive
        self.revoked: list[int] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        async def grant(client: Any, ttl: float, key: Any) -> leases.Grant:
            await trio.sleep(GRANT_TAKES)
            return leases.Grant(7, ttl, 1)

        async def keep_alive(client: Any, lease_id: int) -> float:
            return await self.keep_alive(lease_id)

        async def revoke(client: Any, lease_id: int) -> leases.Revoked:
            self.revoked.append(lease_id)
            return leases.Revoked(2, 0)

        monkeypatch.setattr(leases, "grant", grant)
        monkeypatch.setattr(leases, "keep_alive", keep_alive)
        monkeypatch.setattr(leases, "revoke", revoke)


async def lost_at(lease: leases.KeptLease) -> float:
    await lease.lost.wait()
    return trio.current_time()


async def test_lost_a_ttl_after_sending_the_last_keep_alive_that_succeeded(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    calls = 0

    async def first_slow_then_hang(lease_id: int) -> float:
        nonlocal calls
        calls += 1
        if calls == 1:
            await trio.sleep(2.0)  # the group stamped it on arrival, 2 s before the reply
            return TTL
        await trio.sleep_forever()  # never answered again
        raise AssertionError

    FakeGroup(first_slow_then_hang).install(monkeypatch)
    start = trio.current_time()
    async with leases.kept_lease(CLIENT, TTL, b"k") as lease:
        assert lease.deadline == start + TTL  # from the grant's sending
        first_sent = start + TTL / 3  # a third of a TTL after the grant was sent
        assert await lost_at(lease) == first_sent + TTL
        assert lease.remaining() == 0.0


async def test_lost_a_ttl_after_the_grant_when_no_keep_alive_gets_through(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    async def unreachable(lease_id: int) -> float:
        await trio.sleep(1.0)
        raise OperationTimeout("no leader")

    group = FakeGroup(unreachable)
    group.install(monkeypatch)
    start = trio.current_time()
    async with leases.kept_lease(CLIENT, TTL, b"k") as lease:
        assert await lost_at(lease) == start + TTL
    assert group.revoked == [7]


async def test_lost_at_once_when_a_keep_alive_finds_the_lease_gone(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    async def gone(lease_id: int) -> float:
        raise BadRequest(ErrorCode.LEASE_NOT_FOUND, f"lease {lease_id} does not exist")

    FakeGroup(gone).install(monkeypatch)
    start = trio.current_time()
    async with leases.kept_lease(CLIENT, TTL, b"k") as lease:
        assert await lost_at(lease) == start + TTL / 3


async def test_renewed_leases_stay_held_and_deadline_moves_on(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    async def alive(lease_id: int) -> float:
        await trio.sleep(0.1)
        return TTL

    FakeGroup(alive).install(monkeypatch)
    async with leases.kept_lease(CLIENT, TTL, b"k") as lease:
        for _ in range(30):
            await trio.sleep(TTL / 2)
            assert not lease.lost.is_set()
            # Renewed every TTL/3: at least a third of a TTL is always left.
            assert lease.remaining() >= TTL / 3


async def test_the_blocks_error_comes_out_as_raised_and_the_lease_is_revoked(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """Regression: it came out wrapped in an ExceptionGroup by the keep-alive's nursery, so
    `except OperationTimeout` around `client.lock(...)` missed a timed-out acquisition."""

    async def alive(lease_id: int) -> float:
        return TTL

    group = FakeGroup(alive)
    group.install(monkeypatch)
    with pytest.raises(OperationTimeout):
        async with leases.kept_lease(CLIENT, TTL, b"k"):
            raise OperationTimeout("the lock's put timed out")
    assert group.revoked == [7]

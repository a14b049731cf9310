"""`client.lock` while it waits (client/lock.py), against a fake group on trio's virtual clock.

Regression: a waiter whose lease ended while it waited (no keep-alive got through for a
TTL, as in a long partition of its group) raised BadRequest("lease_not_found") from
`client.lock(...)`, on a put with the dead lease, instead of waiting on under a new lease.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

from eraft_trio.client import leases, lock
from eraft_trio.client.results import CasResult, GetResult
from eraft_trio.errors import BadRequest
from eraft_trio.protocol.errors import ErrorCode

TTL = 3.0
KEY = b"{jobs}lock"


class FakeGroup:
    """The lock is someone else's until lease 7 (ours, first) has ended; lease 8 gets it."""

    def __init__(self) -> None:
        self.granted: list[int] = []
        self.revoked: list[int] = []
        self.deleted: list[bytes] = []
        self.gone: set[int] = set()
        self.timeout = 5.0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        async def grant(client: Any, ttl: float, key: Any) -> leases.Grant:
            lease_id = 7 + len(self.granted)
            self.granted.append(lease_id)
            return leases.Grant(lease_id, ttl, 1)

        async def keep_alive(client: Any, lease_id: int) -> float:
            if lease_id == 7:  # it expired: the group could not be reached for a TTL
                self.gone.add(lease_id)
                raise BadRequest(ErrorCode.LEASE_NOT_FOUND, f"lease {lease_id} does not exist")
            return TTL

        async def revoke(client: Any, lease_id: int) -> leases.Revoked:
            self.revoked.append(lease_id)
            return leases.Revoked(2, 0)

        monkeypatch.setattr(leases, "grant", grant)
        monkeypatch.setattr(leases, "keep_alive", keep_alive)
        monkeypatch.setattr(leases, "revoke", revoke)

    async def put(self, key: bytes, value: bytes, *, if_absent: bool, lease: int) -> CasResult:
        await trio.sleep(0.01)
        if lease in self.gone:
            raise BadRequest(ErrorCode.LEASE_NOT_FOUND, f"lease {lease} does not exist")
        if lease == 7:
            return CasResult(False, None, GetResult(b"someone else", 1, 5))
        return CasResult(True, 42, GetResult(value, 1, 42))

    @asynccontextmanager
    async def watch(self, key: bytes, *, from_revision: int) -> AsyncIterator[Any]:
        """The other holder never lets go: only our lease's end stops the wait."""

        async def never() -> AsyncIterator[Any]:
            await trio.sleep_forever()
            yield  # pragma: no cover

        yield never()

    async def delete(self, key: bytes, *, if_value: bytes) -> CasResult:
        self.deleted.append(if_value)
        return CasResult(True, 43, GetResult(None, 0, 0))


async def test_a_waiter_whose_lease_ended_waits_on_under_a_new_one(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    group = FakeGroup()
    group.install(monkeypatch)
    client: Any = group
    async with lock.hold(client, KEY, TTL) as held:
        assert held.lease.id == 8 and held.fencing_token == 42
        assert group.revoked == [7]  # the dead lease let go (a lease_not_found is fine)
        assert held.lease.remaining() > 0
    assert group.deleted == [held.holder]
    assert group.revoked == [7, 8]


async def test_a_lease_not_found_is_only_a_reason_to_wait_on_for_the_lock_put(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """Other refusals of the lock's put still reach the caller."""
    group = FakeGroup()
    group.install(monkeypatch)

    async def refused(key: bytes, value: bytes, *, if_absent: bool, lease: int) -> CasResult:
        raise BadRequest(ErrorCode.KEY_TOO_LONG, "a key is at most 500 bytes")

    client: Any = SimpleNamespace(timeout=5.0, put=refused, delete=group.delete)
    with pytest.raises(BadRequest) as caught:
        async with lock.hold(client, KEY, TTL):
            raise AssertionError("never held")
    assert caught.value.code == ErrorCode.KEY_TOO_LONG
    assert group.revoked == [7]

"""A lease kept alive in the background knows it is lost by its own deadline (the send
time of the last keep-alive that succeeded + the TTL), and a held lock's block is
cancelled when its lease is lost (issue 16, finding 6). On trio's autojump clock: the
times asserted are the mock clock's, never the wall's."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from eraft_trio.client import leases, lock
from eraft_trio.client.leases import Grant, KeptLease, Revoked
from eraft_trio.client.results import CasResult, GetResult
from eraft_trio.errors import LeaseLost, OperationTimeout

TTL = 10.0


class FakeClient:
    """What kept_lease and the lock use of Client: a timeout, put and delete."""

    timeout = 10.0

    def __init__(self) -> None:
        self.deleted: list[bytes] = []

    async def put(self, key: bytes, value: bytes, **_: Any) -> CasResult:
        return CasResult(True, 42, GetResult(value, 1, 42))

    async def delete(self, key: bytes, **_: Any) -> CasResult:
        self.deleted.append(key)
        return CasResult(True, 43, GetResult(None, 0, 0))


class FakeGroup:
    """The lease's group: answers keep-alives after `delay` s, or never (`reachable`
    False: each try runs into the client's timeout)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> None:
        self.delay, self.reachable = delay, True
        self.sent: list[float] = []
        monkeypatch.setattr(leases, "grant", self.grant)
        monkeypatch.setattr(leases, "keep_alive", self.keep_alive)
        monkeypatch.setattr(leases, "revoke", self.revoke)

    async def grant(self, client: Any, ttl: float, key: Any) -> Grant:
        return Grant(1 << 40 | 1, ttl, 1)

    async def keep_alive(self, client: Any, lease_id: int) -> float:
        self.sent.append(trio.current_time())
        if not self.reachable:
            await trio.sleep(client.timeout)
            raise OperationTimeout("no answer")
        await trio.sleep(self.delay)
        return TTL

    async def revoke(self, client: Any, lease_id: int) -> Revoked:
        return Revoked(9, 0)


async def test_lost_is_set_at_the_deadline_not_after_a_timed_out_try(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.abc.Clock
) -> None:
    group = FakeGroup(monkeypatch)
    group.reachable = False
    start = trio.current_time()
    async with leases.kept_lease(FakeClient(), TTL, b"k") as lease:  # type: ignore[arg-type]
        await lease.lost.wait()
        assert trio.current_time() - start <= TTL
        assert lease.deadline == start + TTL


async def test_the_deadline_counts_from_the_send_not_the_late_answer(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.abc.Clock
) -> None:
    group = FakeGroup(monkeypatch, delay=2.0)
    start = trio.current_time()
    async with leases.kept_lease(FakeClient(), TTL, b"k") as lease:  # type: ignore[arg-type]
        while lease.deadline == start + TTL:
            await trio.sleep(0.5)
        assert lease.deadline == group.sent[0] + TTL  # not the answer's time + TTL
        await trio.sleep(TTL)
        last_renewal = lease.deadline
        group.reachable = False
        await lease.lost.wait()
        assert trio.current_time() <= last_renewal


async def test_a_held_locks_block_is_cancelled_and_raises_when_the_lease_is_lost(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.abc.Clock
) -> None:
    group = FakeGroup(monkeypatch)
    client = FakeClient()
    reached_the_end = False
    with pytest.raises(LeaseLost):
        async with lock.hold(client, b"lock{j}", TTL) as held:  # type: ignore[arg-type]
            assert held.fencing_token == 42
            group.reachable = False
            await trio.sleep(10 * TTL)  # the block's work, outliving the lease
            reached_the_end = True
    assert not reached_the_end
    assert client.deleted == [b"lock{j}"]  # released all the same, if still ours


async def test_a_lock_block_that_ends_in_time_raises_nothing(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.abc.Clock
) -> None:
    FakeGroup(monkeypatch)
    async with lock.hold(FakeClient(), b"lock{j}", TTL):  # type: ignore[arg-type]
        await trio.sleep(3 * TTL)  # kept alive meanwhile


async def test_a_blocks_own_error_comes_out_unwrapped(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.abc.Clock
) -> None:
    FakeGroup(monkeypatch)
    with pytest.raises(KeyError):
        async with leases.kept_lease(FakeClient(), TTL, b"k"):  # type: ignore[arg-type]
            raise KeyError("mine")


def test_loss_cancels_a_scope_given_after_it() -> None:
    lease = KeptLease(1, TTL)
    lease.mark_lost()
    scope = trio.CancelScope()
    lease.cancel_on_loss(scope)
    assert scope.cancel_called


async def test_a_lease_made_without_a_deadline_gets_one_from_the_loop(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.abc.Clock
) -> None:
    group = FakeGroup(monkeypatch)
    group.reachable = False
    lease = KeptLease(1 << 40 | 1, TTL)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(leases._keep_alive_loop, FakeClient(), lease)
        await lease.lost.wait()
    assert trio.current_time() <= start + TTL

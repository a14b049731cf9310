"""The client's scan driver (client/scan.py) against in-memory shard groups behind a fake
network, on trio's autojump clock: a bucket not yet served where the config says is asked
again after a backoff until it is; a stale config is refreshed; a group that leaves a
bucket out of its answer ends in OperationTimeout, not a busy loop; refusals are errors."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from roles.memory_cluster import MemoryClerk, MemoryCluster, MemoryGroup

from eraft_trio.client.scan import ScanIterator
from eraft_trio.errors import BadRequest, OperationTimeout
from eraft_trio.group_calls.deadline import Deadline
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.scan import KvScan, ScanPage
from eraft_trio.roles.shard import scan

NBUCKETS = 6


class FakeGroup:
    """A group's leader as the network would reach it: a page read from its replica."""

    def __init__(self, client: FakeClient, group: MemoryGroup) -> None:
        self.client, self.group = client, group

    async def call(self, body: KvScan, deadline: Deadline, *, raise_unreachable: bool) -> Any:
        await trio.sleep(0.001)
        self.client.calls += 1
        if self.client.before_call is not None:
            self.client.before_call(self.client.calls)
        refusal = scan.request_refusal(body)
        if refusal is not None:
            return refusal
        reply = scan.to_scan_page(self.group.read(scan.query_of(body)))
        return self.client.tamper(reply)


class FakeClient:
    """What ScanIterator uses of a Client: the config cache, its refresh, group callers."""

    def __init__(self, cluster: MemoryCluster) -> None:
        self.cluster = cluster
        self.timeout = 5.0
        self.config: dict[str, Any] | None = None
        self.calls = 0
        self.refreshes = 0
        self.before_call: Any = None

    def tamper(self, reply: ScanPage | ErrorReply) -> ScanPage | ErrorReply:
        return reply

    async def _refresh_config(self, deadline: Deadline, seen: int) -> dict[str, Any]:
        self.refreshes += 1
        self.config = self.cluster.configs[-1]
        return self.config

    def _group(self, gid: int, addresses: tuple[str, ...]) -> FakeGroup:
        return FakeGroup(self, self.cluster.group_at(list(addresses)))


def filled_cluster(keys: list[bytes]) -> MemoryCluster:
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1, 1, 1, 2, 2, 2])
    cluster.settle()
    clerk = MemoryClerk(cluster, 5)
    for key in keys:
        clerk.put(key, b"v")
    return cluster


async def scan_all(client: FakeClient, **options: Any) -> list[bytes]:
    iterator = ScanIterator(client, b"k", page_rows=2, **options)  # type: ignore[arg-type]
    return [item.key async for item in iterator]


async def test_a_bucket_moving_mid_scan_is_asked_again_until_its_new_owner_serves_it(
    autojump_clock: trio.abc.Clock,
) -> None:
    keys = sorted(b"k%03d" % n for n in range(60))
    cluster = filled_cluster(keys)
    client = FakeClient(cluster)

    def move_then_settle_later(calls: int) -> None:
        if calls == 4:  # the config moves on; the groups have not heard of it yet
            cluster.add_config([2, 2, 2, 1, 1, 1])
            cluster.settle(gids=[])
        if calls == 8:  # both freeze, then pull (the buckets answer moved meanwhile)
            cluster.settle()

    client.before_call = move_then_settle_later
    assert await scan_all(client) == keys
    assert client.refreshes >= 2  # the first config, then the one that moved the buckets


async def test_a_bucket_left_out_of_every_answer_times_out(
    autojump_clock: trio.abc.Clock,
) -> None:
    client = FakeClient(filled_cluster([b"k1", b"k2"]))

    def drop_bucket_0(reply: ScanPage | ErrorReply) -> ScanPage | ErrorReply:
        if isinstance(reply, ScanPage):
            return ScanPage([p for p in reply.pages if p.bucket != 0], reply.moved, reply.num)
        return reply

    client.tamper = drop_bucket_0  # type: ignore[method-assign]
    with pytest.raises(OperationTimeout):
        await scan_all(client)


async def test_a_refused_scan_raises_bad_request(autojump_clock: trio.abc.Clock) -> None:
    client = FakeClient(filled_cluster([]))
    client.tamper = lambda reply: ErrorReply(ErrorCode.KEY_TOO_LONG, "too long")  # type: ignore[method-assign]
    with pytest.raises(BadRequest):
        await scan_all(client)
    with pytest.raises(BadRequest):
        ScanIterator(client, limit=-1)  # type: ignore[arg-type]


async def test_limit_and_after_bound_what_comes(autojump_clock: trio.abc.Clock) -> None:
    keys = sorted(b"k%03d" % n for n in range(30))
    client = FakeClient(filled_cluster(keys))
    assert await scan_all(client, limit=4) == keys[:4]
    assert await scan_all(client, after=b"k025") == keys[26:]
    assert await scan_all(client, limit=0) == []

"""The shard server's pull loop against in-memory groups: each chunk fetched and installed once.

The new owner's node is faked the way RaftNode behaves: a proposal takes its place in
the log when it is started, is answered from inside its apply, and `read_local` sees the
result only once the state transaction commits, a moment later (COMMIT_LAG). `read` is linearizable: it sees everything applied. The
old owner is a MemoryGroup behind a fake GroupCaller that records every fetch. Time is
trio's autojump clock, so the delays below cost nothing.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import trio
from roles.memory_cluster import MemoryCluster, MemoryGroup

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.shard import FetchBucket
from eraft_trio.roles.shard import replies
from eraft_trio.roles.shard import server as shard_server
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import InstallChunk, Put, decode_command
from eraft_trio.roles.shard.pull_stream import CHUNKS_AHEAD, INSTALLS_AHEAD
from eraft_trio.roles.shard.server import ShardRoleServer
from eraft_trio.roles.shard.tables import KV
from eraft_trio.runtime.errors import NotLeaderError, ProposalDropped
from eraft_trio.runtime.waiter import Waiter

NBUCKETS = 4
FETCH_SECONDS = 0.01  # a round trip to the old owner and its read
PROPOSE_SECONDS = 0.02  # replication and apply at the new owner
COMMIT_LAG = 0.005  # from a proposer's answer to the commit of the state transaction
VALUE_BYTES = 100_000


class LaggingNode:
    """A leader whose local reads trail its applies by COMMIT_LAG, as RaftNode's do."""

    def __init__(self, group: MemoryGroup, nursery: trio.Nursery) -> None:
        self.group = group
        self.nursery = nursery
        self.committed = group.view.copy()
        self.is_leader = True
        self.installs: list[tuple[InstallChunk, Any]] = []
        self.proposing = 0  # proposals in flight
        self.proposed = 0  # proposals started
        self.step_down_at_install: int | None = None  # that install applies, unanswered
        self.most_proposing = 0
        self._log_tail = trio.Event()
        self._log_tail.set()

    def start_proposal(self, command: bytes) -> Waiter:
        if not self.is_leader:
            raise NotLeaderError(None)
        waiter = Waiter()
        # Applied in the order started, as entries of one leader's log are.
        self._log_tail = self._then(self._log_tail, command, waiter)
        return waiter

    async def propose(self, command: bytes) -> Any:
        return await self.start_proposal(command).wait()

    def _then(self, before: trio.Event, command: bytes, waiter: Waiter) -> trio.Event:
        done = trio.Event()
        self.proposing += 1
        self.proposed += 1
        self.most_proposing = max(self.most_proposing, self.proposing)
        self.nursery.start_soon(self._replicate, before, done, command, waiter)
        return done

    async def _replicate(
        self, before: trio.Event, done: trio.Event, command: bytes, waiter: Waiter
    ) -> None:
        try:
            await trio.sleep(PROPOSE_SECONDS)  # replicated with those before it, in parallel
            await before.wait()
            reply = self.group.propose(command)
        finally:
            self.proposing -= 1
            done.set()
        decoded = decode_command(command)
        if isinstance(decoded, InstallChunk):
            self.installs.append((decoded, reply))
        self.nursery.start_soon(self._commit)
        if len(self.installs) == self.step_down_at_install:
            self.nursery.start_soon(self._step_down_for_a_while)
            waiter.fail(ProposalDropped("leadership changed; outcome unknown, retry"))
            return
        waiter.set(reply)

    async def _step_down_for_a_while(self) -> None:
        self.is_leader = False
        await trio.sleep(1.0)
        self.is_leader = True

    async def _commit(self) -> None:
        await trio.sleep(COMMIT_LAG)
        self.committed = self.group.view.copy()

    async def read(self, query: Any) -> Any:
        return self.group.read(query)

    def read_local(self, query: Any) -> Any:
        return self.group.machine.read(self.committed, query)


class RecordingOldOwner:
    """The old owner's group as the puller's GroupCaller sees it; remembers every fetch."""

    def __init__(self, group: MemoryGroup, node: LaggingNode) -> None:
        self.group = group
        self.node = node
        self.fetches: list[tuple[int, bytes | None]] = []  # (bucket, cursor)
        self.during_propose = 0  # fetches that overlapped a proposal at the new owner
        self.fetching: set[int] = set()  # buckets with a fetch in flight
        self.most_buckets_at_once = 0
        self.fail_fetch: int | None = None  # that fetch (1 = the first) answers an error
        self.most_ahead = 0  # chunks of a bucket fetched (or being fetched), not installed yet

    async def call(self, body: Any, deadline: Any) -> Any:
        assert isinstance(body, FetchBucket)
        self.fetches.append((body.bucket, body.after_key))
        proposing_before, proposed_before = self.node.proposing, self.node.proposed
        fetched = sum(1 for bucket, _ in self.fetches if bucket == body.bucket)
        installed = sum(1 for i, _ in self.node.installs if i.bucket == body.bucket)
        self.most_ahead = max(self.most_ahead, fetched - installed)
        self.fetching.add(body.bucket)
        self.most_buckets_at_once = max(self.most_buckets_at_once, len(self.fetching))
        try:
            await trio.sleep(FETCH_SECONDS)
        finally:
            self.fetching.discard(body.bucket)
        overlapped = proposing_before or self.node.proposing or self.node.proposed > proposed_before
        self.during_propose += bool(overlapped)
        if len(self.fetches) == self.fail_fetch:
            return ErrorReply(ErrorCode.BAD_QUERY, "made to fail by the test")
        return replies.to_bucket_chunk(
            self.group.read(("fetch", body.config_num, body.bucket, body.after_key, body.max_bytes))
        )


def keys_of(bucket: int, count: int) -> list[bytes]:
    found, index = [], 0
    while len(found) < count:
        key = f"key-{index:06d}".encode()
        if bucket_of(key, NBUCKETS) == bucket:
            found.append(key)
        index += 1
    return found


def handed_off(rows_per_bucket: dict[int, int]) -> MemoryCluster:
    """Group 1 held every bucket; the buckets in `rows_per_bucket` (with that many rows of
    VALUE_BYTES) now belong to group 2, which is to pull them."""
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    seq = 0
    for bucket, count in rows_per_bucket.items():
        for key in keys_of(bucket, count):
            seq += 1
            cluster.groups[1].propose(Put(7, seq, key, key * (VALUE_BYTES // len(key))))
    cluster.add_config([2 if b in rows_per_bucket else 1 for b in range(NBUCKETS)])
    for gid in (1, 2):
        assert cluster.offer_next_config(gid)["ok"]
    return cluster


async def pull_everything(
    cluster: MemoryCluster,
    setup: Callable[[LaggingNode, RecordingOldOwner], None] = lambda n, o: None,
) -> tuple[LaggingNode, RecordingOldOwner]:
    """Run group 2's pull loop (after `setup` of the fakes) until it has nothing left to pull."""
    g2 = cluster.groups[2]
    async with trio.open_nursery() as nursery:
        node = LaggingNode(g2, nursery)
        old_owner = RecordingOldOwner(cluster.groups[1], node)
        setup(node, old_owner)
        server = ShardRoleServer(node, SimpleNamespace(group=2))  # type: ignore[arg-type]
        server._group = lambda addresses: old_owner  # type: ignore[method-assign,assignment,return-value]
        nursery.start_soon(server._pull_loop, nursery)
        with trio.fail_after(600):
            while g2.read(("pulls",)):
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    return node, old_owner


def rows_of(group: MemoryGroup, bucket: int) -> dict[bytes, bytes]:
    prefix = bucket.to_bytes(4, "big")
    return {k: v for k, v in group.view.tables.get(KV, {}).items() if k[:4] == prefix}


async def test_each_chunk_is_fetched_once_and_installed_at_the_first_proposal(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # 40 rows of 100 kB: four 1 MiB chunks, so the cursor moves three times mid-bucket.
    cluster = handed_off({2: 40})
    node, old_owner = await pull_everything(cluster)

    assert rows_of(cluster.groups[2], 2) == rows_of(cluster.groups[1], 2)
    assert len(old_owner.fetches) >= 4
    fetched_twice = [f for f, n in Counter(old_owner.fetches).items() if n > 1]
    assert fetched_twice == []
    assert [reply for _, reply in node.installs if not reply.get("applied")] == []


async def test_the_next_chunk_is_fetched_while_the_last_one_is_proposed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cluster = handed_off({2: 60})
    node, old_owner = await pull_everything(cluster)

    chunks = len(node.installs)
    assert chunks >= 6
    # Every fetch but the first overlaps the install of the chunk before it.
    assert old_owner.during_propose == len(old_owner.fetches) - 1
    assert len(old_owner.fetches) == chunks
    assert CHUNKS_AHEAD < old_owner.most_ahead <= CHUNKS_AHEAD + INSTALLS_AHEAD
    assert rows_of(cluster.groups[2], 2) == rows_of(cluster.groups[1], 2)


async def test_while_installs_are_slow_a_bucket_has_several_in_the_log_and_no_more(
    autojump_clock: trio.testing.MockClock, monkeypatch: Any
) -> None:
    """Regression: one chunk at a time per bucket left the log idle between an apply
    and the next proposal (62 MiB/s with 5 buckets moving)."""
    monkeypatch.setattr(sys.modules[__name__], "PROPOSE_SECONDS", 10 * FETCH_SECONDS)
    cluster = handed_off({2: 80})
    node, old_owner = await pull_everything(cluster)

    assert node.most_proposing == INSTALLS_AHEAD
    # Bounded: the chunks proposed and unanswered, plus CHUNKS_AHEAD fetched after them.
    assert old_owner.most_ahead == CHUNKS_AHEAD + INSTALLS_AHEAD
    assert rows_of(cluster.groups[2], 2) == rows_of(cluster.groups[1], 2)
    assert [reply for _, reply in node.installs if not reply.get("applied")] == []


async def test_several_buckets_stream_at_once_but_no_more_than_the_limit(
    autojump_clock: trio.testing.MockClock, monkeypatch: Any
) -> None:
    monkeypatch.setattr(shard_server, "BUCKETS_IN_FLIGHT", 2)
    cluster = handed_off({0: 25, 1: 25, 3: 25})
    node, old_owner = await pull_everything(cluster)

    assert old_owner.most_buckets_at_once == 2
    for bucket in (0, 1, 3):
        assert rows_of(cluster.groups[2], bucket) == rows_of(cluster.groups[1], bucket)
    assert [reply for _, reply in node.installs if not reply.get("applied")] == []


async def test_a_failed_fetch_ends_the_stream_and_the_next_one_resumes_at_the_cursor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cluster = handed_off({2: 40})

    def fail_the_third_fetch(node: LaggingNode, old_owner: RecordingOldOwner) -> None:
        old_owner.fail_fetch = 3

    node, old_owner = await pull_everything(cluster, fail_the_third_fetch)

    assert rows_of(cluster.groups[2], 2) == rows_of(cluster.groups[1], 2)
    assert [reply for _, reply in node.installs if not reply.get("applied")] == []
    (refetched,) = [f for f, n in Counter(old_owner.fetches).items() if n > 1]
    assert refetched == old_owner.fetches[2]  # only the failed one is asked for again


async def test_a_leader_change_mid_bucket_resumes_from_the_replicated_cursor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cluster = handed_off({2: 40})

    def step_down_at_the_second_install(node: LaggingNode, old_owner: RecordingOldOwner) -> None:
        node.step_down_at_install = 2

    node, _ = await pull_everything(cluster, step_down_at_the_second_install)

    assert rows_of(cluster.groups[2], 2) == rows_of(cluster.groups[1], 2)
    # The install whose answer was lost had applied: the new stream starts after it.
    assert [reply for _, reply in node.installs if not reply.get("applied")] == []
    cursors = [install.after_key for install, _ in node.installs]
    assert len(cursors) == len(set(cursors))

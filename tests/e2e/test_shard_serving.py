"""Which group answers what (issue 5): static shards, rejection of other groups' buckets, a leader in a minority."""

from __future__ import annotations

import random
from collections.abc import Awaitable

import pytest
import trio

from eraft_trio.client import Client
from eraft_trio.errors import OperationTimeout
from eraft_trio.protocol.replies import Value, Written
from eraft_trio.protocol.shard import KvGet, KvPut
from eraft_trio.transport.errors import TransportError

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe
from .keyspace import flat, keys_per_bucket, owned_by
from .kv_batch import get_all, put_all, try_get_all
from .membership import arrange_groups
from .sharded_cluster import ShardedCluster

BUCKETS = 10


async def expect_timeout(operation: Awaitable[object]) -> None:
    with pytest.raises(OperationTimeout):
        await operation


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    return module_cluster_factory((1, 2), buckets=BUCKETS)


async def test_static_shards_with_one_group_down_exactly_the_other_groups_keys_answer(
    cluster: ShardedCluster,
) -> None:
    keys = keys_per_bucket("static", BUCKETS, 2)
    values = {key: b"static value of " + key for key in flat(keys)}
    async with ClusterProbe.open(cluster) as probe:
        config = await arrange_groups(probe, (1, 2))
        assert owned_by(config, 1) and owned_by(config, 2)
        async with Client.connect(cluster.config_servers, timeout=20) as kv:
            await put_all(kv, values)
            assert await get_all(kv, values) == values

        cluster.shards[1].kill()
        try:
            # A short operation timeout: a key of the dead group must time out, not answer.
            async with Client.connect(cluster.config_servers, timeout=3) as kv:
                answers = await try_get_all(kv, values)
        finally:
            cluster.shards[1].start()
        of_group_2 = flat(keys, owned_by(config, 2))
        assert {k: v for k, v in answers.items() if k in of_group_2} == {
            k: values[k] for k in of_group_2
        }
        for key in flat(keys, owned_by(config, 1)):
            assert isinstance(answers[key], OperationTimeout), (key, answers[key])

        async with Client.connect(cluster.config_servers, timeout=30) as kv:
            assert await get_all(kv, values) == values


async def test_a_group_never_serves_a_bucket_it_does_not_own(cluster: ShardedCluster) -> None:
    keys = keys_per_bucket("reject", BUCKETS)
    values = {key: b"owned value of " + key for key in flat(keys)}
    async with ClusterProbe.open(cluster) as probe:
        config = await arrange_groups(probe, (1, 2))
        async with Client.connect(cluster.config_servers, timeout=20) as kv:
            await put_all(kv, values)
        client_id = random.getrandbits(62)
        for gid in (1, 2):
            group = cluster.shards[gid]
            leader = group.address(await probe.wait_leader(group))
            for bucket in range(BUCKETS):
                key = keys[bucket][0]
                got = await probe.call(leader, KvGet(key))
                put = await probe.call(leader, KvPut(client_id, bucket + 1, key, b"intruder"))
                if bucket in owned_by(config, gid):
                    # The same leader does answer for its own buckets (the probe can fail).
                    assert got == Value(values[key]), (gid, bucket, got)
                    continue
                for reply in (got, put):
                    assert reply.code == "wrong_group", (gid, bucket, reply)
                    assert reply.num == config["num"]
            client_id += 1
        # The refused puts changed nothing; the accepted ones wrote where they should.
        async with Client.connect(cluster.config_servers, timeout=20) as kv:
            after = await get_all(kv, values)
        for bucket, (key,) in keys.items():
            assert after[key] == b"intruder", (bucket, after[key])
        # Each key was offered to both groups: exactly its owner took the intruder.
        assert set(after.values()) == {b"intruder"}


async def test_a_leader_cut_off_in_a_minority_answers_neither_get_nor_put(
    cluster: ShardedCluster,
) -> None:
    keys = keys_per_bucket("minority", BUCKETS)
    async with ClusterProbe.open(cluster) as probe:
        config = await arrange_groups(probe, (1, 2))
        key = flat(keys, owned_by(config, 1))[0]
        async with Client.connect(cluster.config_servers, timeout=20) as kv:
            await kv.put(key, b"before")
        group = cluster.shards[1]
        leader = await probe.wait_leader(group)
        followers = [n for n in range(group.size) if n != leader]
        replies: dict[str, object] = {}

        async def pinned(name: str, body: object) -> None:
            # The client talks to the old leader only, as one pinned to it would.
            try:
                replies[name] = await probe.call(group.address(leader), body, timeout=5.0)
            except TransportError as exc:
                replies[name] = exc

        try:
            for node in followers:
                cluster.pause(group, node)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pinned, "get", KvGet(key))
                nursery.start_soon(pinned, "put", KvPut(random.getrandbits(62), 1, key, b"during"))
            # Nor does a client free to try every node of the group: no majority, no answer.
            async with (
                Client.connect(cluster.config_servers, timeout=3) as kv,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(expect_timeout, kv.get(key))
                nursery.start_soon(expect_timeout, kv.put(key, b"during too"))
        finally:
            cluster.resume_all()
        assert type(replies["get"]) is not Value, replies
        assert type(replies["put"]) is not Written, replies

        # Healed: the puts that got no answer may or may not have happened; all are fine.
        async with Client.connect(cluster.config_servers, timeout=30) as kv:
            assert await kv.get(key) in (b"before", b"during", b"during too")
            await kv.put(key, b"after")
            assert await kv.get(key) == b"after"

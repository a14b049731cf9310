"""Buckets moving between groups (issue 5): join / leave with data, challenge 1 delete, miss-change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eraft_trio.client import Client

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe, wait_for
from .keyspace import flat, keys_per_bucket, owned_by
from .kv_batch import get_all, put_all
from .membership import arrange_groups
from .sharded_cluster import ShardedCluster

BUCKETS = 10
GIDS = (1, 2, 3)


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    return module_cluster_factory(GIDS, buckets=BUCKETS)


def versioned(keys: list[bytes], version: str) -> dict[bytes, bytes]:
    return {key: f"{key.decode()}@{version}".encode() for key in keys}


async def test_join_and_leave_move_the_data_and_every_key_stays_readable(
    cluster: ShardedCluster,
) -> None:
    keys = flat(keys_per_bucket("joinleave", BUCKETS, 3))
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=30) as kv,
    ):
        await arrange_groups(probe, (1,))
        values = versioned(keys, "start")
        await put_all(kv, values)
        counts = await key_counts(probe, kv, values)
        steps: list[tuple[str, Callable[[], Awaitable[int]]]] = [
            ("join 2", lambda: probe.config_client.join({2: cluster.addresses(2)}, rejoin=True)),
            ("join 3", lambda: probe.config_client.join({3: cluster.addresses(3)}, rejoin=True)),
            ("leave 1", lambda: probe.config_client.leave((1,))),
            ("move 0-4 2", lambda: probe.config_client.move(tuple(range(5)), 2)),
            ("leave 2", lambda: probe.config_client.leave((2,))),
            (
                "join 1 and 2",
                lambda: probe.config_client.join(
                    {1: cluster.addresses(1), 2: cluster.addresses(2)}, rejoin=True
                ),
            ),
        ]
        for name, change in steps:
            await change()
            # Straight after the change, while buckets move: the client waits them out.
            assert await get_all(kv, keys) == values, f"after {name}, during migration"
            values = versioned(keys, name)
            await put_all(kv, values)
            config = await probe.wait_settled()
            assert await get_all(kv, keys) == values, f"after {name}, settled"
            await assert_holds_only_its_buckets(probe, config, counts)


async def assert_holds_only_its_buckets(
    probe: ClusterProbe, config: dict[str, Any], counts: dict[int, int]
) -> None:
    """Every replica of every group lists exactly its buckets of `config`, each serving
    with `counts[bucket]` keys: nothing left behind where a bucket used to be."""
    expected = {gid: {b: ("serving", counts[b]) for b in owned_by(config, gid)} for gid in GIDS}
    last: list[Any] = []

    async def as_expected() -> bool | None:
        # Polled: a follower may apply the last writes a moment after its leader.
        for gid in GIDS:
            for node, shard in (await probe.shard_statuses(gid)).items():
                listed = (
                    None
                    if shard is None
                    else {b["bucket"]: (b["state"], b["keys"]) for b in shard["buckets"]}
                )
                if listed != expected[gid]:
                    last[:] = [gid, node, listed, expected[gid]]
                    return None
        return True

    try:
        await wait_for(as_expected, timeout=30, what="every replica to hold just its buckets")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: group, node, listed, expected = {last}") from None


async def key_counts(probe: ClusterProbe, kv: Client, values: dict[bytes, bytes]) -> dict[int, int]:
    """Keys per bucket, once every replica of its group agrees (earlier tests leave keys).

    A leader answers a put as soon as its apply runs, before that transaction commits,
    so straight after the puts every replica may still agree on the counts from before
    them. Reading the keys back first is the barrier: a linearizable read is served only
    once the leader's committed state holds every acknowledged write.
    """
    assert await get_all(kv, list(values)) == values

    async def agreed() -> dict[int, int] | None:
        counts = dict.fromkeys(range(BUCKETS), 0)
        for gid in GIDS:
            seen = []
            for shard in (await probe.shard_statuses(gid)).values():
                if shard is None:
                    return None
                seen.append({b["bucket"]: b["keys"] for b in shard["buckets"]})
            if any(other != seen[0] for other in seen):
                return None
            counts.update(seen[0])
        return counts

    return await wait_for(agreed, timeout=30, what="the replicas to agree on key counts")


async def test_challenge_1_delete_moved_buckets_are_gone_from_their_old_owners(
    cluster: ShardedCluster,
) -> None:
    # 30 keys of 1000 bytes, three per bucket, through two rounds of joins and leaves.
    keys = flat(keys_per_bucket("delete", BUCKETS, 3))
    assert len(keys) == 30
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=30) as kv,
    ):
        await arrange_groups(probe, (1,))
        values = {key: (key.decode() + "=").encode().ljust(1000, b"x") for key in keys}
        await put_all(kv, values)
        counts = await key_counts(probe, kv, values)
        assert sum(counts.values()) >= len(keys)
        client = probe.config_client
        for round_ in range(2):
            for change in (
                lambda: client.join({2: cluster.addresses(2)}, rejoin=True),
                lambda: client.join({3: cluster.addresses(3)}, rejoin=True),
                lambda: client.leave((1,)),
                lambda: client.join({1: cluster.addresses(1)}, rejoin=True),
                lambda: client.leave((2, 3)),
            ):
                await change()
                # wait_settled already requires that no replica lists a bucket it does not
                # serve; the check below also counts the keys each one keeps.
                config = await probe.wait_settled()
                await assert_holds_only_its_buckets(probe, config, counts)
                assert await get_all(kv, keys) == values, f"round {round_}, config {config}"


async def test_miss_change_a_whole_group_down_during_three_changes_catches_up(
    cluster: ShardedCluster,
) -> None:
    keys = flat(keys_per_bucket("missgroup", BUCKETS, 2))
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=60) as kv,
    ):
        client = probe.config_client
        config = await arrange_groups(probe, (1, 3))
        values = versioned(keys, "v0")
        await put_all(kv, values)

        # Group 3 is down while three configs pass; on restart it replays them in order
        # (the others wait for it where they must pull from it).
        cluster.shards[3].kill()
        await client.join({2: cluster.addresses(2)}, rejoin=True)
        await client.move(tuple(range(5)), 1)
        latest = await client.leave((1,))
        assert latest == config["num"] + 3
        cluster.shards[3].start()
        config = await probe.wait_settled()
        assert config["num"] == latest and set(config["groups"]) == {"2", "3"}
        assert await get_all(kv, keys) == values
        values = versioned(keys, "after catch-up")
        await put_all(kv, values)
        assert await get_all(kv, keys) == values


@pytest.mark.slow
async def test_miss_change_one_node_of_every_group_down_during_changes_catches_up(
    cluster: ShardedCluster,
) -> None:
    keys = flat(keys_per_bucket("missnode", BUCKETS, 2))
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=60) as kv,
    ):
        client = probe.config_client
        await arrange_groups(probe, (1, 2))
        values = versioned(keys, "v0")
        await put_all(kv, values)

        # One node of every group misses two changes, then another node misses two more.
        for down, changes in (
            (
                0,
                (
                    lambda: client.join({3: cluster.addresses(3)}, rejoin=True),
                    lambda: client.leave((1,)),
                ),
            ),
            (
                1,
                (
                    lambda: client.join({1: cluster.addresses(1)}, rejoin=True),
                    lambda: client.leave((2,)),
                ),
            ),
        ):
            for gid in GIDS:
                cluster.shards[gid].kill([down])
            for change in changes:
                await change()
            values = versioned(keys, f"without node {down}")
            await put_all(kv, values)
            assert await get_all(kv, keys) == values
            for gid in GIDS:
                cluster.shards[gid].start([down])
        # Every replica, the restarted ones too, at the latest config holding its buckets.
        config = await probe.wait_settled()
        assert set(config["groups"]) == {"1", "3"}
        assert await get_all(kv, keys) == values

"""Snapshots (issue 5) with `[raft] snapshot_entries = 100`: every node restarted, a follower caught up by InstallSnapshot."""

from __future__ import annotations

from typing import Any

import pytest

from eraft_trio.client import Client
from eraft_trio.protocol.node import TransferLeadership
from eraft_trio.protocol.replies import Done

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe, wait_for
from .keyspace import flat, keys_per_bucket, owned_by
from .kv_batch import get_all, put_all
from .membership import arrange_groups
from .sharded_cluster import ShardedCluster

BUCKETS = 10
SNAPSHOT_ENTRIES = 100
MAX_ROUNDS = 40  # a bound on the writes it takes to compact; a few rounds normally do


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    return module_cluster_factory(
        (1, 2), buckets=BUCKETS, raft={"snapshot_entries": SNAPSHOT_ENTRIES}
    )


def rounded(keys: list[bytes], round_: int) -> dict[bytes, bytes]:
    return {key: f"{key.decode()}#{round_}".encode() for key in keys}


async def test_every_node_of_every_group_restarted_after_compaction_keeps_all_data(
    cluster: ShardedCluster,
) -> None:
    keys = flat(keys_per_bucket("snap", BUCKETS, 5))
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
        async with Client.connect(cluster.config_servers, timeout=30) as kv:
            values: dict[bytes, bytes] = {}
            for round_ in range(MAX_ROUNDS):
                values = rounded(keys, round_)
                await put_all(kv, values)
                if await every_shard_node_compacted(probe):
                    break
            else:
                raise AssertionError(f"no compaction after {MAX_ROUNDS} rounds of writes")

        cluster.kill_all()
        cluster.start()
        await probe.wait_settled()
        async with Client.connect(cluster.config_servers, timeout=30) as kv:
            assert await get_all(kv, keys) == values
        # They came back from their snapshots plus the log tail, not from an empty state.
        for gid, group in cluster.shards.items():
            for node, status in (await probe.statuses(group)).items():
                assert status is not None and status["raft"]["snapshot_index"] > 0, (gid, node)


async def every_shard_node_compacted(probe: ClusterProbe) -> bool:
    for group in probe.cluster.shards.values():
        for status in (await probe.statuses(group)).values():
            if status is None or status["raft"]["snapshot_index"] == 0:
                return False
    return True


def needs_snapshot(leader_raft: dict[str, Any], follower: int) -> bool:
    """Whether the leader compacted entries `follower` still needs.

    Not just the ones it had when it died: the leader keeps a window of AppendEntries
    in flight to a dead peer, which may still reach it on restart, so the test waits
    until the entries after that window (from the peer's `next`) are compacted too.
    """
    progress = leader_raft["progress"]
    peer = progress.get(follower, progress.get(str(follower)))
    return peer is not None and leader_raft["first_index"] > peer["next"]


async def test_a_follower_that_missed_many_writes_catches_up_by_snapshot(
    cluster: ShardedCluster,
) -> None:
    async with ClusterProbe.open(cluster) as probe:
        config = await arrange_groups(probe, (1, 2))
        group = cluster.shards[1]
        keys = flat(keys_per_bucket("catchup", BUCKETS, 5), owned_by(config, 1))
        leader = await probe.wait_leader(group)
        lagging = (leader + 1) % group.size
        group.kill([lagging])

        async with Client.connect(cluster.config_servers, timeout=30) as kv:
            values: dict[bytes, bytes] = {}
            for round_ in range(MAX_ROUNDS):
                values = rounded(keys, round_)
                await put_all(kv, values)
                leader_status = await probe.status(group.address(await probe.wait_leader(group)))
                if leader_status is not None and needs_snapshot(leader_status["raft"], lagging):
                    break
            else:
                raise AssertionError(f"the leader kept its log after {MAX_ROUNDS} rounds")

            group.start([lagging])
            commit = leader_status["raft"]["commit"]

            async def caught_up() -> dict[str, Any] | None:
                status = await probe.status(group.address(lagging))
                # The state's index, not the core's `applied` (which moves when a snapshot
                # is handed to the state machine, before it is installed).
                raft = status["raft"] if status is not None else None
                return status if raft is not None and raft["state_applied"] >= commit else None

            status = await wait_for(caught_up, timeout=60, what="the restarted node to catch up")
            assert status["raft"]["snapshots_installed"] >= 1, status["raft"]

            # Led by the node that caught up, the group serves every latest value.
            current = await probe.wait_leader(group)
            if current != lagging:
                reply = await probe.call(group.address(current), TransferLeadership(lagging))
                assert reply == Done()

            async def led_by_lagging() -> bool | None:
                return True if await probe.wait_leader(group) == lagging else None

            await wait_for(led_by_lagging, timeout=30, what="the caught-up node to lead")
            assert await get_all(kv, keys) == values

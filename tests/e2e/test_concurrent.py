"""Concurrent 1-3 (issue 5): writes during joins, leaves and restarts; the history is linearizable and no
acknowledged write is lost."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import pytest
import trio

from eraft_trio.chaos import check, lost_writes
from eraft_trio.client import Client

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe
from .keyspace import flat, keys_per_bucket
from .membership import arrange_groups
from .recorded_workload import RecordedWorkload
from .sharded_cluster import ShardedCluster

BUCKETS = 10
GIDS = (1, 2, 3)
OP_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    # Small snapshots, so restarts also come back from snapshots and leaders send them.
    return module_cluster_factory(GIDS, buckets=BUCKETS, raft={"snapshot_entries": 100})


async def change_config(probe: ClusterProbe, rng: random.Random) -> None:
    """One random join, leave or move that the config accepts (some group always stays)."""
    config = await probe.latest_config()
    joined = sorted(int(gid) for gid in config["groups"])
    absent = [gid for gid in GIDS if gid not in joined]
    choice = rng.choice(
        ["join", "leave", "move"]
        if absent and len(joined) > 1
        else ["join", "move"]
        if absent
        else ["leave", "move"]
    )
    client = probe.config_client
    if choice == "join":
        gid = rng.choice(absent)
        await client.join({gid: probe.cluster.addresses(gid)}, rejoin=True)
    elif choice == "leave":
        await client.leave((rng.choice(joined),))
    else:
        buckets = tuple(sorted(rng.sample(range(BUCKETS), rng.randint(1, 3))))
        await client.move(buckets, rng.choice(joined))


NemesisStep = Callable[[ClusterProbe, random.Random], Awaitable[None]]


async def run_with_nemesis(
    cluster: ShardedCluster, seed: int, seconds: float, nemesis_step: NemesisStep
) -> None:
    """Clients write and read while `nemesis_step(probe, rng)` runs over and over for
    `seconds`; then heal, read every key, and check the whole history."""
    rng = random.Random(seed)
    keys = flat(keys_per_bucket(f"concurrent{seed}", BUCKETS), rng.sample(range(BUCKETS), 8))
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
        async with Client.connect(cluster.config_servers, timeout=OP_TIMEOUT) as kv:
            workload = RecordedWorkload(kv, keys, clients=6, seed=seed)
            stop = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(workload.run, stop)
                with trio.move_on_after(seconds):
                    while True:
                        await nemesis_step(probe, rng)
                stop.set()
        cluster.resume_all()
        cluster.start()
        await probe.wait_settled()
        async with Client.connect(cluster.config_servers, timeout=60) as kv:
            finals = await workload.final_reads(kv)

    history = workload.recorder.ops()
    summary = f"seed {seed}: {dict(workload.outcomes)}; errors: {workload.errors[:5]}"
    assert workload.outcomes["put ok"] >= 10, f"too little got through: {summary}"
    lost = lost_writes(history, finals)
    assert not lost, "\n".join([summary, *(lost_write.explain() for lost_write in lost)])
    verdict = check(history)
    assert verdict.result == "ok", "\n".join([summary, *verdict.explain()])
    print(summary, verdict.explain())


async def config_changes(probe: ClusterProbe, rng: random.Random) -> None:
    await change_config(probe, rng)
    await trio.sleep(rng.uniform(0.2, 1.0))  # pacing of the nemesis, not a wait on anything


async def config_changes_and_group_restarts(probe: ClusterProbe, rng: random.Random) -> None:
    """A config change while a whole shard group is down (kill -9), then its restart."""
    cluster = probe.cluster
    group = cluster.shards[rng.choice(GIDS)]
    group.kill(group.running())
    await change_config(probe, rng)
    await trio.sleep(rng.uniform(0.5, 1.5))  # pacing
    group.start(n for n in range(group.size) if not group.nodes[n].running)
    await trio.sleep(rng.uniform(0.5, 1.5))  # pacing


async def config_changes_and_node_restarts(probe: ClusterProbe, rng: random.Random) -> None:
    """kill -9 of one node of any group, config group included, across a config change."""
    cluster = probe.cluster
    group = rng.choice(cluster.groups())
    node = rng.randrange(group.size)
    group.kill([node])
    await change_config(probe, rng)
    await trio.sleep(rng.uniform(0.3, 1.0))  # pacing
    group.start([node])
    await trio.sleep(rng.uniform(0.3, 1.0))  # pacing


async def test_concurrent_1_writes_during_joins_and_leaves(cluster: ShardedCluster) -> None:
    await run_with_nemesis(cluster, seed=1, seconds=10, nemesis_step=config_changes)


@pytest.mark.slow
async def test_concurrent_2_writes_during_changes_and_whole_group_restarts(
    cluster: ShardedCluster,
) -> None:
    await run_with_nemesis(
        cluster, seed=2, seconds=25, nemesis_step=config_changes_and_group_restarts
    )


@pytest.mark.slow
async def test_concurrent_3_writes_during_changes_and_node_restarts(
    cluster: ShardedCluster,
) -> None:
    await run_with_nemesis(
        cluster, seed=3, seconds=25, nemesis_step=config_changes_and_node_restarts
    )

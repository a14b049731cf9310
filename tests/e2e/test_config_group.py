"""Issue 4 against three real config nodes: history on every replica, concurrent changes, move, failover."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import trio
from integration.config_writes import fake_address

from eraft_trio.group_calls.config_client import ConfigClient
from eraft_trio.protocol.config import ConfigQuery
from eraft_trio.protocol.node import TransferLeadership
from eraft_trio.protocol.replies import Done

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe, wait_for
from .sharded_cluster import ShardedCluster


@pytest.fixture(scope="module")
def config_cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    """Three config nodes and no shard group; tests join fake group addresses (nothing
    listens there: only the config group is under test). Each test uses its own gids."""
    return module_cluster_factory(())


async def join(client: ConfigClient, gid: int) -> int:
    return await client.join({gid: (fake_address(gid),)})


async def leader_of(probe: ClusterProbe) -> int:
    return await probe.wait_leader(probe.cluster.config)


async def make_leader(probe: ClusterProbe, node: int) -> None:
    group = probe.cluster.config
    leader = await leader_of(probe)
    if leader != node:
        assert await probe.call(group.address(leader), TransferLeadership(node)) == Done()

    async def led_by_node() -> bool | None:
        return True if await leader_of(probe) == node else None

    await wait_for(led_by_node, timeout=30, what=f"config node {node} to lead")


async def test_historical_queries_are_identical_from_every_replica_while_each_is_down(
    config_cluster: ShardedCluster,
) -> None:
    group = config_cluster.config
    async with ClusterProbe.open(config_cluster) as probe:
        client = probe.config_client
        await leader_of(probe)
        await join(client, 11)
        await join(client, 12)
        await client.join({13: (fake_address(13),)}, rebalance=False)
        await client.move((0, 1), 13)
        latest = await client.leave((12,))
        history = {num: await client.query(num) for num in range(latest + 1)}
        assert [config["num"] for config in history.values()] == list(range(latest + 1))
        assert history[0]["groups"] == {} and set(history[0]["buckets"]) == {0}
        assert await client.query(-1) == history[latest]

        for down in range(group.size):
            group.kill([down])
            for num, config in history.items():
                assert await client.query(num) == config, f"config {num}, node {down} down"
            group.start([down])
            await probe.wait_leader(group)  # all three answer again before the next one goes

        # Each replica in turn leads and answers every past config from its own state.
        for node in range(group.size):
            await make_leader(probe, node)
            for num, config in history.items():
                reply = await probe.call(group.address(node), ConfigQuery(num))
                assert reply.to_json() == config, f"node {node} gives another config {num}"


async def test_concurrent_joins_and_leaves_from_many_clients_each_make_exactly_one_config(
    config_cluster: ShardedCluster,
) -> None:
    clients_count = 8
    async with ClusterProbe.open(config_cluster) as probe:
        await leader_of(probe)
        before = await probe.latest_config()
        acks: list[tuple[int, str, int]] = []  # (config num, "join" or "leave", gid)

        async def one_client(i: int) -> None:
            # Its own session (client id), on the probe's shared connections.
            client = ConfigClient(probe.pool, config_cluster.config_servers, timeout=30.0)
            stay, visit = 100 + i, 200 + i
            acks.append((await join(client, stay), "join", stay))
            acks.append((await join(client, visit), "join", visit))
            acks.append((await client.leave((visit,)), "leave", visit))

        async with trio.open_nursery() as nursery:
            for i in range(clients_count):
                nursery.start_soon(one_client, i)

        # Every acknowledged change is exactly one new config, none lost, none doubled.
        nums = sorted(num for num, _, _ in acks)
        assert nums == list(range(before["num"] + 1, before["num"] + 1 + len(acks)))
        configs = {num: await probe.config_client.query(num) for num in [before["num"], *nums]}
        for num, kind, gid in sorted(acks):
            old, new = set(configs[num - 1]["groups"]), set(configs[num]["groups"])
            expected = old | {str(gid)} if kind == "join" else old - {str(gid)}
            assert new == expected, f"config {num} ({kind} {gid}): groups {sorted(new)}"

        final = await probe.latest_config()
        assert final == configs[nums[-1]]
        stays = {str(100 + i) for i in range(clients_count)}
        assert set(final["groups"]) == set(before["groups"]) | stays
        assert_balanced(final)


def assert_balanced(config: dict[str, Any]) -> None:
    """Every bucket served by a group of the config; loads differ by at most one."""
    owners = Counter(config["buckets"])
    assert 0 not in owners, f"unassigned buckets in {config}"
    assert set(map(str, owners)) <= set(config["groups"])
    loads = [owners.get(int(gid), 0) for gid in config["groups"]]
    assert max(loads) - min(loads) <= 1, f"unbalanced: {config}"


async def test_move_raises_the_config_number(config_cluster: ShardedCluster) -> None:
    async with ClusterProbe.open(config_cluster) as probe:
        client = probe.config_client
        await leader_of(probe)
        await join(client, 21)
        before = await client.query()
        bucket = next(b for b, owner in enumerate(before["buckets"]) if owner != 21)
        num = await client.move((bucket,), 21)
        assert num == before["num"] + 1
        after = await client.query(num)
        assert after["buckets"][bucket] == 21
        expected = list(before["buckets"])
        expected[bucket] = 21
        assert after["buckets"] == expected and after["groups"] == before["groups"]
        assert await client.query(before["num"]) == before  # the past stays as it was


async def test_a_new_leader_returns_the_same_config_after_the_old_one_is_killed(
    config_cluster: ShardedCluster,
) -> None:
    group = config_cluster.config
    async with ClusterProbe.open(config_cluster) as probe:
        client = probe.config_client
        old = await leader_of(probe)
        await join(client, 31)
        latest = await client.query()
        group.kill([old])
        survivors = [n for n in range(group.size) if n != old]
        new = await probe.wait_leader(group, survivors)
        assert new != old
        assert (await probe.call(group.address(new), ConfigQuery(-1))).to_json() == latest
        assert await client.query() == latest
        # The new leader takes changes, numbered after what the old one acknowledged.
        assert await join(client, 32) == latest["num"] + 1
        group.start([old])
        await probe.wait_leader(group)

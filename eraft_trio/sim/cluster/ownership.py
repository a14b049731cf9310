"""Checks of bucket ownership: during a run, no two groups serve a bucket in one config; after
it, every group has caught up, every replica of a group holds the same, and every key is
at its owner and nowhere else.

What a group serves is read from each live replica's applied state (the shard state
machine's `status` and `config` reads), sampled through the run: a bucket SERVING at
a replica whose current config is N must be owned by that group in config N, which
also means no second group serves it in N.
"""

from __future__ import annotations

import contextlib
from typing import Any

import trio

from eraft_trio.protocol.keys import bucket_of
from eraft_trio.sim.cluster.cluster import CONFIG_GID, SimCluster, SimNode

SAMPLE_SECONDS = 0.1


class ServingMonitor:
    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.servers: dict[tuple[int, int], set[int]] = {}  # (config num, bucket) -> gids
        self.violations: list[str] = []
        self.samples = 0

    async def run(self) -> None:
        while True:
            await trio.sleep(SAMPLE_SECONDS)
            self.sample()

    def sample(self) -> None:
        for sim in self.cluster.nodes:
            if sim.gid == CONFIG_GID or sim.raft is None:
                continue
            with contextlib.suppress(Exception):  # a replica mid-restore has no view
                status = sim.raft.read_local(("status",))
                config = sim.raft.read_local(("config",))
                self.samples += 1
                self._record(sim, status, config)

    def _record(self, sim: SimNode, status: dict[str, Any], config: dict[str, Any]) -> None:
        num, owners = config["num"], config["buckets"]
        for held in status["buckets"]:
            if held["state"] != "serving":
                continue
            bucket = held["bucket"]
            servers = self.servers.setdefault((num, bucket), set())
            servers.add(sim.gid)
            if owners[bucket] != sim.gid and len(self.violations) < 10:
                self.violations.append(
                    f"ownership: node {sim.id} of group {sim.gid} serves bucket {bucket} in "
                    f"config {num}, which gives it to group {owners[bucket]}"
                )
            if len(servers) > 1 and len(self.violations) < 10:
                self.violations.append(
                    f"ownership: groups {sorted(servers)} all serve bucket {bucket} in config {num}"
                )


def shard_leaders(cluster: SimCluster) -> dict[int, SimNode] | None:
    """Each shard group's leader, if every shard node is up and each group has one."""
    leaders = {}
    for gid in cluster.shape.gids:
        if gid == CONFIG_GID:
            continue
        group = cluster.group(gid)
        if not all(n.raft is not None for n in group):
            return None
        leader = next((n for n in group if n.raft is not None and n.raft.is_leader), None)
        if leader is None:
            return None
        leaders[gid] = leader
    return leaders


async def wait_settled(cluster: SimCluster, latest: int) -> None:
    """Until every shard group is at config `latest` with no migration or GC left, and
    all its replicas applied their leader's last commit."""
    while True:
        await trio.sleep(0.1)
        leaders = shard_leaders(cluster)
        if leaders is None:
            continue
        with contextlib.suppress(Exception):
            if all(_settled(cluster, leader, latest) for leader in leaders.values()):
                return


def _settled(cluster: SimCluster, leader: SimNode, latest: int) -> bool:
    assert leader.raft is not None
    status = leader.raft.read_local(("status",))
    if status["num"] != latest or status["gcs"]:
        return False
    if any(held["state"] not in ("serving", "none") for held in status["buckets"]):
        return False
    target = leader.raft.core.commit
    return all(
        n.raft is not None and n.raft.statistics()["state_applied"] >= target
        for n in cluster.group(leader.gid)
    )


def check_placement(
    cluster: SimCluster, config: dict[str, Any], final: dict[bytes, bytes | None]
) -> list[str]:
    """After `wait_settled`: replicas of a group equal; each key only at its owner."""
    problems = []
    owners = config["buckets"]
    for gid in cluster.shape.gids:
        if gid == CONFIG_GID:
            continue
        views = {}
        for sim in cluster.group(gid):
            assert sim.raft is not None
            status = sim.raft.read_local(("status",))
            keys = {key: sim.raft.read_local(("get", key)) for key in sorted(final)}
            views[sim.id] = (status, keys)
            for held in status["buckets"]:
                if held["state"] != "none" and owners[held["bucket"]] != gid:
                    problems.append(
                        f"placement: node {sim.id} of group {gid} still holds bucket "
                        f"{held['bucket']} ({held['state']}, {held['keys']} keys), owned by "
                        f"group {owners[held['bucket']]} in config {config['num']}"
                    )
            for key, value in final.items():
                owner = owners[bucket_of(key, len(owners))]
                found = keys[key]
                if owner == gid and found != {"value": value}:
                    problems.append(
                        f"placement: key {key!r} at its owner, node {sim.id} of group {gid}, "
                        f"is {found}, not the {value!r} the final read saw"
                    )
        first_id, first = next(iter(views.items()))
        for node, view in views.items():
            if view != first:
                problems.append(
                    f"replicas disagree in group {gid}: node {first_id} has {first}, "
                    f"node {node} {view}"
                )
    return problems

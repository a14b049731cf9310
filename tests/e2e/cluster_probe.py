"""The end-to-end tests' view of eraft_trio's ClusterProbe: nodes named by group and Raft
id, and waits that fail at once, with the logs, when a node process ended by itself.

Every status call and settle check is the package's (eraft_trio/group_calls/cluster_probe.py),
the one `eraft status` and the chaos runner use; this adds only what needs the processes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from integration.cluster import ProcessGroup, wait_for

from eraft_trio.group_calls import cluster_probe

from .sharded_cluster import ShardedCluster

# Generous: a 2-core machine running a dozen nodes and another test suite can be slow;
# these bound a wait that normally takes well under a second, they measure nothing.
SETTLE_TIMEOUT = 60.0


__all__ = ["ClusterProbe", "NodeCrashed", "wait_for"]


class NodeCrashed(AssertionError):
    """Nodes of the cluster ended by themselves while a test waited on it."""


class ClusterProbe:
    """Talks to the nodes of one cluster for a test: status, direct calls, waits."""

    def __init__(self, cluster: ShardedCluster, probe: cluster_probe.ClusterProbe) -> None:
        self.cluster = cluster
        self.probe = probe
        self.pool = probe.pool
        self.config_client = probe.config_client
        self.last_unsettled: Any = None  # why the last settle check failed, for the message

    @classmethod
    @asynccontextmanager
    async def open(cls, cluster: ShardedCluster) -> AsyncIterator[ClusterProbe]:
        async with cluster_probe.ClusterProbe.open(
            cluster.config_servers, config_timeout=10.0
        ) as probe:
            yield cls(cluster, probe)

    # --- calls ----------------------------------------------------------------------------

    async def call(self, addr: str, body: Any, timeout: float = 3.0) -> Any:
        return await self.pool.call(addr, body, timeout)

    async def status(self, addr: str) -> dict[str, Any] | None:
        """The node's StatusRequest answer, or None when it does not answer in time."""
        return await self.probe.status(addr)

    async def statuses(
        self, group: ProcessGroup, nodes: Iterable[int] | None = None
    ) -> dict[int, dict[str, Any] | None]:
        ids = list(range(group.size)) if nodes is None else list(nodes)
        answers = await self.probe.statuses(group.address(node) for node in ids)
        return {node: answers[group.address(node)] for node in ids}

    async def latest_config(self) -> dict[str, Any]:
        return await self.probe.latest_config()

    # --- waits ----------------------------------------------------------------------------

    def check_no_crash(self) -> None:
        """Fail at once, with their logs, if nodes ended by themselves.

        The waits below only ask running nodes, so without this a node that died at
        start-up (a traceback, a refused role file, a busy port) looks like a group that
        is slow to settle, and the wait times out naming some other group's state.
        """
        report = self.cluster.crash_report()
        if report is not None:
            raise NodeCrashed(f"nodes exited by themselves:\n{report}")

    async def wait_leader(
        self, group: ProcessGroup, nodes: Iterable[int] | None = None, *, timeout: float = 30.0
    ) -> int:
        """The leader once every one of `nodes` (default: the running ones) answers, exactly
        one leads, and all report its term and address."""
        ids = group.running() if nodes is None else list(nodes)

        async def agreed() -> int | None:
            self.check_no_crash()
            answers = await self.statuses(group, ids)
            raft = {n: s["raft"] for n, s in answers.items() if s is not None}
            if len(raft) != len(ids):
                return None
            leaders = [n for n, r in raft.items() if r["role"] == "leader"]
            if len(leaders) != 1:
                return None
            leader = leaders[0]
            if {r["term"] for r in raft.values()} != {raft[leader]["term"]}:
                return None
            if any(r["leader_address"] != group.address(leader) for r in raft.values()):
                return None
            return leader

        return await wait_for(agreed, timeout=timeout, what=f"one leader of {group.layout.name}")

    async def shard_statuses(self, gid: int) -> dict[int, dict[str, Any] | None]:
        """Each running node's `role.shard` status (None if it did not answer)."""
        group = self.cluster.shards[gid]
        answers = await self.statuses(group, group.running())
        return {n: None if s is None else s["role"].get("shard") for n, s in answers.items()}

    async def settled(self, gids: Iterable[int]) -> dict[str, Any] | None:
        """The latest config once the running nodes of `gids` have settled at it (the
        package probe's `settle_check`: one leader all follow, every node at the latest
        config holding exactly its buckets, all serving, no old copies left)."""
        groups = {}
        for gid in gids:
            group = self.cluster.shards[gid]
            groups[gid] = [group.address(node) for node in group.running()]
        config, problems = await self.probe.settle_check(groups)
        if problems:
            self.last_unsettled = problems
            return None
        return config

    async def wait_settled(
        self, gids: Iterable[int] | None = None, *, timeout: float = SETTLE_TIMEOUT
    ) -> dict[str, Any]:
        """`settled` for `gids` (default: every shard group), polled; the latest config."""
        ids = list(self.cluster.shards) if gids is None else list(gids)

        async def check() -> dict[str, Any] | None:
            self.check_no_crash()
            return await self.settled(ids)

        try:
            return await wait_for(check, timeout=timeout, what=f"groups {ids} to settle")
        except NodeCrashed:
            raise
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {self.last_unsettled}") from None

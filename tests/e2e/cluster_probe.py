"""ClusterProbe: status calls to every node of a ShardedCluster, and the waits tests build on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import trio
from integration.cluster import ProcessGroup, wait_for

from eraft_trio.errors import EraftError
from eraft_trio.group_calls.config_client import ConfigClient
from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.node import StatusRequest
from eraft_trio.transport.errors import TransportError
from eraft_trio.transport.handshake import ANY_CLUSTER

from .sharded_cluster import ShardedCluster

STATUS_TIMEOUT = 1.0
# Generous: a 2-core machine running a dozen nodes and another test suite can be slow;
# these bound a wait that normally takes well under a second, they measure nothing.
SETTLE_TIMEOUT = 60.0


__all__ = ["ClusterProbe", "NodeCrashed", "wait_for"]


class NodeCrashed(AssertionError):
    """Nodes of the cluster ended by themselves while a test waited on it."""


class ClusterProbe:
    """Talks to the nodes of one cluster for a test: status, direct calls, waits."""

    def __init__(self, cluster: ShardedCluster, pool: ConnectionPool) -> None:
        self.cluster = cluster
        self.pool = pool
        self.config_client = ConfigClient(pool, cluster.config_servers, timeout=10.0)
        self.last_unsettled: Any = None  # why the last settle check failed, for the message

    @classmethod
    @asynccontextmanager
    async def open(cls, cluster: ShardedCluster) -> AsyncIterator[ClusterProbe]:
        async with trio.open_nursery() as nursery:
            # A client naming no cluster is welcome at every node, config or shard.
            pool = ConnectionPool(nursery, ANY_CLUSTER)
            try:
                yield cls(cluster, pool)
            finally:
                await pool.aclose()
                nursery.cancel_scope.cancel()

    # --- calls ----------------------------------------------------------------------------

    async def call(self, addr: str, body: Any, timeout: float = 3.0) -> Any:
        return await self.pool.call(addr, body, timeout)

    async def status(self, addr: str) -> dict[str, Any] | None:
        """The node's StatusRequest answer, or None when it does not answer in time."""
        with trio.move_on_after(STATUS_TIMEOUT):
            try:
                reply = await self.pool.call(addr, StatusRequest(), STATUS_TIMEOUT)
            except TransportError:
                return None
            return reply if isinstance(reply, dict) else None
        return None

    async def statuses(
        self, group: ProcessGroup, nodes: Iterable[int] | None = None
    ) -> dict[int, dict[str, Any] | None]:
        ids = list(range(group.size)) if nodes is None else list(nodes)
        results: dict[int, dict[str, Any] | None] = {}

        async def ask(node: int) -> None:
            results[node] = await self.status(group.address(node))

        async with trio.open_nursery() as nursery:
            for node in ids:
                nursery.start_soon(ask, node)
        return results

    async def latest_config(self) -> dict[str, Any]:
        return await self.config_client.query(-1)

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
        """The latest config once every node of `gids` has reached it and holds exactly the
        buckets it gives that group, all serving: pulls done, moved buckets deleted at
        their old owners and the deletions confirmed (no gc rows left)."""
        try:
            config = await self.latest_config()
        except EraftError as exc:
            self.last_unsettled = f"config query: {exc}"
            return None
        for gid in gids:
            owned = {b for b, owner in enumerate(config["buckets"]) if owner == gid}
            for node, shard in (await self.shard_statuses(gid)).items():
                held = (
                    None if shard is None else {b["bucket"]: b["state"] for b in shard["buckets"]}
                )
                if (
                    shard is None
                    or shard["num"] != config["num"]
                    or held != dict.fromkeys(owned, "serving")
                    or shard["gcs"] != 0
                ):
                    self.last_unsettled = (gid, node, config["num"], sorted(owned), shard)
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

"""Ask the nodes of a chaos run how they stand: leaders, and whether the cluster has settled.

The nemesis uses it to aim faults at leaders; the runner uses it after healing to
wait until every group has one leader that every member follows and has caught up
with, and every shard group serves exactly the buckets of the latest config.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from eraft_trio.chaos.topology import NodeSpec, Topology
from eraft_trio.client.kv_client import single_exception
from eraft_trio.group_calls.config_client import ConfigClient
from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.node import StatusRequest

STATUS_TIMEOUT = 1.0


class ClusterProbe:
    def __init__(self, topology: Topology, pool: ConnectionPool) -> None:
        self.topology = topology
        self.pool = pool
        self.config_client = ConfigClient(pool, topology.config_servers, timeout=3.0)

    @classmethod
    @asynccontextmanager
    async def open(cls, topology: Topology) -> AsyncIterator[ClusterProbe]:
        try:
            async with trio.open_nursery() as nursery:
                pool = ConnectionPool(nursery, topology.cluster)
                try:
                    yield cls(topology, pool)
                finally:
                    await pool.aclose()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The caller's error reaches us wrapped by our nursery: hand it back as raised.
            raise single_exception(group) from None

    async def status(self, node: NodeSpec) -> dict[str, Any] | None:
        """The node's status, or None when it does not answer in time."""
        try:
            with trio.move_on_after(STATUS_TIMEOUT):
                reply = await self.pool.call(node.address, StatusRequest(), STATUS_TIMEOUT)
                return reply if isinstance(reply, dict) else None
        except Exception:
            return None  # down, paused, cut off: all the same to a probe
        return None

    async def statuses(self, nodes: list[NodeSpec]) -> dict[str, dict[str, Any] | None]:
        results: dict[str, dict[str, Any] | None] = {}

        async def ask(node: NodeSpec) -> None:
            results[node.name] = await self.status(node)

        async with trio.open_nursery() as nursery:
            for node in nodes:
                nursery.start_soon(ask, node)
        return results

    async def leader_of(self, gid: int) -> NodeSpec | None:
        """The member that says it leads, with the highest term; None when none answers so."""
        nodes = self.topology.group_nodes(gid)
        statuses = await self.statuses(nodes)
        best: tuple[int, NodeSpec] | None = None
        for node in nodes:
            raft = (statuses.get(node.name) or {}).get("raft")
            if raft and raft.get("role") == "leader" and (best is None or raft["term"] > best[0]):
                best = (raft["term"], node)
        return None if best is None else best[1]

    async def terms(self) -> dict[int, int]:
        """Per group, the highest term any member reports: elections show up as its growth."""
        statuses = await self.statuses(list(self.topology.nodes))
        terms: dict[int, int] = {}
        for node in self.topology.nodes:
            raft = (statuses.get(node.name) or {}).get("raft")
            if raft is not None:
                terms[node.gid] = max(terms.get(node.gid, 0), int(raft["term"]))
        return terms

    async def unsettled(self) -> list[str]:
        """Why the cluster has not settled yet; empty once it has."""
        problems: list[str] = []
        try:
            with trio.fail_after(5):
                config = await self.config_client.query(-1)
        except Exception as exc:
            return [f"config group: no latest config ({type(exc).__name__})"]
        statuses = await self.statuses(list(self.topology.nodes))
        for gid in self.topology.gids:
            problems += self._group_problems(gid, statuses, config)
        return problems

    def _group_problems(
        self, gid: int, statuses: dict[str, dict[str, Any] | None], config: dict[str, Any]
    ) -> list[str]:
        name = "config group" if gid == 0 else f"group {gid}"
        nodes = self.topology.group_nodes(gid)
        raft = {node.name: (statuses.get(node.name) or {}).get("raft") for node in nodes}
        silent = [n for n, r in raft.items() if r is None]
        if silent:
            return [f"{name}: no status from {', '.join(silent)}"]
        leaders = [n for n, r in raft.items() if r is not None and r["role"] == "leader"]
        if len(leaders) != 1:
            return [f"{name}: {len(leaders)} leaders"]
        lead = raft[leaders[0]]
        assert lead is not None
        problems = [
            f"{name}: {n} at term {r['term']} applied {r['applied']} < leader commit {lead['commit']}"
            for n, r in raft.items()
            if r is not None and (r["term"] != lead["term"] or r["applied"] < lead["commit"])
        ]
        if gid != 0:
            shard = ((statuses.get(leaders[0]) or {}).get("role") or {}).get("shard") or {}
            if shard.get("num") != config["num"]:
                problems.append(f"{name}: at config {shard.get('num')}, latest is {config['num']}")
            moving = [b["bucket"] for b in shard.get("buckets", []) if b["state"] != "serving"]
            if moving:
                problems.append(f"{name}: buckets still moving: {moving}")
            if shard.get("gcs"):
                problems.append(f"{name}: {shard['gcs']} old copies not yet deleted")
        return problems

    async def wait_settled(self, timeout: float, interval: float = 0.5) -> list[str]:
        """Poll until settled; what was still unsettled when `timeout` ran out (empty: settled)."""
        problems = ["never asked"]
        with trio.move_on_after(timeout):
            while True:
                problems = await self.unsettled()
                if not problems:
                    return []
                await trio.sleep(interval)
        return problems

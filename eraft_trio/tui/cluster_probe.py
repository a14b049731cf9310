"""ClusterProbe: ask every node of a cluster for its status at once, as one JSON-able snapshot."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import trio

from eraft_trio.client.pool import ConnectionPool
from eraft_trio.runtime.messages import StatusRequest
from eraft_trio.transport.errors import TransportError

# A down node on loopback refuses at once; one that hangs (paused, cut off) must not hold
# the whole refresh back, so each node gets a short deadline of its own.
DEFAULT_NODE_TIMEOUT = 1.0


class ClusterProbe:
    """Gathers snapshots of a cluster, reusing one connection per node across refreshes.

    A snapshot is a plain dict (the `--json` document before annotation):
    {"time", "config_servers", "config": latest config or None,
     "groups": [{"gid", "addresses", "nodes": [{"address", "up", "error", "status"}]}]}
    with the config group first (gid 0), then every shard group of the latest config,
    then any `extra_groups` (e.g. the role files of `eraft local`) not in it yet.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        config_servers: tuple[str, ...],
        *,
        node_timeout: float = DEFAULT_NODE_TIMEOUT,
        extra_groups: Mapping[int, tuple[str, ...]] | None = None,
    ) -> None:
        self.pool = pool
        self.config_servers = tuple(config_servers)
        self.node_timeout = node_timeout
        self.extra_groups = dict(extra_groups or {})

    async def gather(self) -> dict[str, Any]:
        config_nodes = await self._ask_all(self.config_servers)
        config = latest_config(config_nodes)
        shard_groups = dict(self.extra_groups)
        if config is not None:
            for gid_text, addresses in config["groups"].items():
                shard_groups[int(gid_text)] = tuple(addresses)
        ordered = sorted(shard_groups.items())
        answers = await self._ask_all(tuple(a for _, addrs in ordered for a in addrs))
        groups = [{"gid": 0, "addresses": list(self.config_servers), "nodes": config_nodes}]
        start = 0
        for gid, addresses in ordered:
            nodes = answers[start : start + len(addresses)]
            start += len(addresses)
            groups.append({"gid": gid, "addresses": list(addresses), "nodes": nodes})
        return {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "config_servers": list(self.config_servers),
            "config": config,
            "groups": groups,
        }

    async def _ask_all(self, addresses: tuple[str, ...]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = [{} for _ in addresses]

        async def ask(index: int, addr: str) -> None:
            results[index] = await self._ask(addr)

        async with trio.open_nursery() as nursery:
            for index, addr in enumerate(addresses):
                nursery.start_soon(ask, index, addr)
        return results

    async def _ask(self, addr: str) -> dict[str, Any]:
        try:
            status = await self.pool.call(addr, StatusRequest(), self.node_timeout)
        except TransportError as exc:
            return {"address": addr, "up": False, "error": str(exc), "status": None}
        if not isinstance(status, dict) or not isinstance(status.get("raft"), dict):
            error = f"unexpected status reply: {type(status).__name__}"
            return {"address": addr, "up": False, "error": error, "status": None}
        return {"address": addr, "up": True, "error": None, "status": status}


def latest_config(config_nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest config any config node has applied (a lagging follower may be behind)."""
    best: dict[str, Any] | None = None
    for node in config_nodes:
        status = node.get("status") or {}
        config = (status.get("role") or {}).get("config")
        newer = isinstance(config, dict) and (best is None or config["num"] > best["num"])
        if newer:
            best = config
    return best

"""ClusterProbe: ask every node of a cluster for its status at once, as one JSON-able snapshot."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import trio

from eraft_trio.errors import EraftError
from eraft_trio.group_calls.deadline import Deadline
from eraft_trio.group_calls.group_caller import GroupCaller
from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.config import ConfigQuery
from eraft_trio.protocol.node import StatusRequest
from eraft_trio.protocol.replies import ConfigView
from eraft_trio.transport.errors import TransportError

# A down node on loopback refuses at once; one that hangs (paused, cut off) must not hold
# the whole refresh back, so each node gets a short deadline of its own.
DEFAULT_NODE_TIMEOUT = 1.0
# How many configs back the probe looks for groups that left and may still hold buckets.
MAX_HISTORY = 16


class ClusterProbe:
    """Gathers snapshots of a cluster, reusing one connection per node across refreshes.

    A snapshot is a plain dict (the `--json` document before annotation):
    {"time", "config_servers", "config": latest config or None,
     "groups": [{"gid", "addresses", "nodes": [{"address", "up", "error", "status"}]}]}
    with the config group first (gid 0), then every shard group of the latest config,
    then any `extra_groups` (e.g. the role files of `eraft local`) not in it yet, then the
    groups that left in a recent config (with "left_at": the config they left in), as
    far back as the least advanced group (every config since, when old copies still
    wait to be dropped), at most MAX_HISTORY configs.
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
        if config is not None:
            former = await self._former_groups(config, groups[1:])
            if former:
                addrs = tuple(a for _, (addresses, _) in sorted(former.items()) for a in addresses)
                answers = await self._ask_all(addrs)
                start = 0
                for gid, (addresses, left_at) in sorted(former.items()):
                    nodes = answers[start : start + len(addresses)]
                    start += len(addresses)
                    groups.append(
                        {
                            "gid": gid,
                            "addresses": list(addresses),
                            "nodes": nodes,
                            "left_at": left_at,
                        }
                    )
        return {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "config_servers": list(self.config_servers),
            "config": config,
            "groups": groups,
        }

    async def _former_groups(
        self, config: dict[str, Any], groups: list[dict[str, Any]]
    ) -> dict[int, tuple[tuple[str, ...], int]]:
        """gid -> (addresses, config it left in) of groups absent from the latest config
        that were in one of the recent configs."""
        latest = int(config["num"])
        reached = [_reached(group) for group in groups if group["gid"] in _gids(config)]
        gcs = any(_gcs(group) for group in groups)
        low = min([latest, *(num for num in reached if num is not None)])
        first = max(0, latest - MAX_HISTORY if gcs else low - 1)
        first = min(first, latest - 1)
        caller = GroupCaller(self.pool, self.config_servers)
        found: dict[int, tuple[tuple[str, ...], int]] = {}
        following = _gids(config)
        for num in range(latest - 1, max(-1, first - 1), -1):
            try:
                reply = await caller.call(ConfigQuery(num), Deadline(self.node_timeout * 2))
            except EraftError:
                break  # the config group is unreachable now: show what we have
            if type(reply) is not ConfigView:
                break
            older = reply.to_json()
            for gid_text, addresses in older["groups"].items():
                gid = int(gid_text)
                if gid not in _gids(config) and gid not in found and gid not in following:
                    found[gid] = (tuple(addresses), num + 1)
            following = _gids(older)
        return found

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


def _gids(config: dict[str, Any]) -> set[int]:
    return {int(gid) for gid in config.get("groups") or {}}


def _shard_statuses(group: dict[str, Any]) -> list[dict[str, Any]]:
    shards = [((n.get("status") or {}).get("role") or {}).get("shard") for n in group["nodes"]]
    return [shard for shard in shards if isinstance(shard, dict)]


def _reached(group: dict[str, Any]) -> int | None:
    """The most advanced config any node of the group has applied."""
    return max((int(shard.get("num", 0)) for shard in _shard_statuses(group)), default=None)


def _gcs(group: dict[str, Any]) -> bool:
    return any(shard.get("gcs") for shard in _shard_statuses(group))


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

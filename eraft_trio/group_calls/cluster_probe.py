"""ClusterProbe: ask the nodes of a cluster how they stand, for every tool that watches one.

`eraft status` and `eraft local` draw its `gather()` snapshots; the chaos runner aims
faults at `leader_of` and waits with `wait_settled` after healing; the end-to-end tests
wait on the same checks (tests/e2e/cluster_probe.py adds only their process handling).
Every answer is a node's StatusRequest reply as NodeService gives it; a node that does
not answer within `node_timeout` counts as down, never as an error of the probe.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from eraft_trio.errors import EraftError, single_exception
from eraft_trio.group_calls.config_client import ConfigClient
from eraft_trio.group_calls.deadline import Deadline
from eraft_trio.group_calls.group_caller import GroupCaller
from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.config import ConfigQuery
from eraft_trio.protocol.node import StatusRequest
from eraft_trio.protocol.replies import ConfigView
from eraft_trio.transport.errors import TransportError
from eraft_trio.transport.handshake import ANY_CLUSTER
from eraft_trio.transport.security import Security

# A down node on loopback refuses at once; one that hangs (paused, cut off) must not hold
# the whole refresh back, so each node gets a short deadline of its own.
DEFAULT_NODE_TIMEOUT = 1.0
# How many configs back `gather` looks for groups that left and may still hold buckets.
MAX_HISTORY = 16

Groups = Mapping[int, Sequence[str]]  # gid (0: the config group) -> node addresses


class ClusterProbe:
    """Status calls to the nodes of one cluster, one pooled connection per node.

    `known_groups` are shard groups the caller knows of before the config names them
    (the role files of `eraft local`, a chaos topology); `gather` shows them too.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        config_servers: Sequence[str],
        *,
        node_timeout: float = DEFAULT_NODE_TIMEOUT,
        known_groups: Groups | None = None,
        config_timeout: float = 3.0,
    ) -> None:
        self.pool = pool
        self.config_servers = tuple(config_servers)
        self.node_timeout = node_timeout
        self.known_groups = {gid: tuple(addrs) for gid, addrs in (known_groups or {}).items()}
        self.config_client = ConfigClient(pool, self.config_servers, timeout=config_timeout)
        self.last_unsettled: list[str] = []  # why the last settle check failed, for messages

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        config_servers: Sequence[str],
        *,
        cluster: str | None = None,
        security: Security | None = None,
        **options: Any,
    ) -> AsyncIterator[ClusterProbe]:
        """A probe whose connections live as long as the block (`cluster` None: a client
        naming no cluster, welcome at every node)."""
        try:
            async with trio.open_nursery() as nursery:
                pool = ConnectionPool(nursery, cluster or ANY_CLUSTER, security=security)
                try:
                    yield cls(pool, config_servers, **options)
                finally:
                    await pool.aclose()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The caller's error reaches us wrapped by our nursery: hand it back as raised.
            raise single_exception(group) from None

    def addresses(self, gid: int) -> tuple[str, ...]:
        return self.config_servers if gid == 0 else self.known_groups[gid]

    def all_groups(self) -> dict[int, tuple[str, ...]]:
        return {0: self.config_servers, **self.known_groups}

    # --- one node, many nodes ----------------------------------------------------------

    async def ask(self, addr: str) -> dict[str, Any]:
        """{"address", "up", "error", "status"}: the node's status, or why there is none."""
        try:
            with trio.fail_after(self.node_timeout * 2):
                status = await self.pool.call(addr, StatusRequest(), self.node_timeout)
        except (TransportError, EraftError, trio.TooSlowError) as exc:
            return {"address": addr, "up": False, "error": str(exc) or type(exc).__name__,
                    "status": None}  # fmt: skip
        if not isinstance(status, dict) or not isinstance(status.get("raft"), dict):
            error = f"unexpected status reply: {type(status).__name__}"
            return {"address": addr, "up": False, "error": error, "status": None}
        return {"address": addr, "up": True, "error": None, "status": status}

    async def ask_all(self, addresses: Sequence[str]) -> list[dict[str, Any]]:
        """`ask` of every address at once, in the order given."""
        results: list[dict[str, Any]] = [{} for _ in addresses]

        async def ask(index: int, addr: str) -> None:
            results[index] = await self.ask(addr)

        async with trio.open_nursery() as nursery:
            for index, addr in enumerate(addresses):
                nursery.start_soon(ask, index, addr)
        return results

    async def status(self, addr: str) -> dict[str, Any] | None:
        """The node's status, or None when it does not answer in time."""
        status: dict[str, Any] | None = (await self.ask(addr))["status"]
        return status

    async def statuses(self, addresses: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        addrs = list(addresses)
        return {
            addr: answer["status"]
            for addr, answer in zip(addrs, await self.ask_all(addrs), strict=True)
        }

    async def latest_config(self) -> dict[str, Any]:
        return await self.config_client.query(-1)

    # --- leaders, terms, settling ------------------------------------------------------

    async def leader_of(self, addresses: Sequence[str]) -> str | None:
        """The member that says it leads, with the highest term; None when none answers so."""
        best: tuple[int, str] | None = None
        for addr, status in (await self.statuses(addresses)).items():
            raft = (status or {}).get("raft")
            if raft and raft.get("role") == "leader" and (best is None or raft["term"] > best[0]):
                best = (raft["term"], addr)
        return None if best is None else best[1]

    async def terms(self, groups: Groups | None = None) -> dict[int, int]:
        """Per group, the highest term any member reports: elections show up as its growth."""
        groups = self.all_groups() if groups is None else groups
        statuses = await self.statuses(a for addrs in groups.values() for a in addrs)
        terms: dict[int, int] = {}
        for gid, addrs in groups.items():
            for addr in addrs:
                raft = (statuses.get(addr) or {}).get("raft")
                if raft is not None:
                    terms[gid] = max(terms.get(gid, 0), int(raft["term"]))
        return terms

    async def unsettled(self, groups: Groups | None = None) -> list[str]:
        """Why `groups` (default: every known one) have not settled yet; empty once they have."""
        return (await self.settle_check(groups))[1]

    async def settle_check(
        self, groups: Groups | None = None
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """The latest config (None: none could be read), and why `groups` (default: every
        known one) have not settled at it yet.

        Settled: each group has one leader that every member follows and has caught up
        with, and every member of a shard group is at the latest config, holding exactly
        the buckets it gives the group, all serving, with no old copies left to delete.
        """
        groups = self.all_groups() if groups is None else groups
        try:
            config = await self.latest_config()
        except EraftError as exc:
            return None, [f"config group: no latest config ({type(exc).__name__}: {exc})"]
        statuses = await self.statuses(a for addrs in groups.values() for a in addrs)
        problems: list[str] = []
        for gid, addrs in sorted(groups.items()):
            answers = {addr: statuses.get(addr) for addr in addrs}
            problems += group_problems(gid, answers, config)
        return config, problems

    async def wait_settled(
        self, timeout: float, groups: Groups | None = None, *, interval: float = 0.5
    ) -> list[str]:
        """Poll `unsettled` until it is empty; what was still unsettled when `timeout` ran
        out (empty: settled)."""
        self.last_unsettled = ["never asked"]
        with trio.move_on_after(timeout):
            while True:
                self.last_unsettled = await self.unsettled(groups)
                if not self.last_unsettled:
                    return []
                await trio.sleep(interval)
        return self.last_unsettled

    # --- the snapshot `eraft status` draws -----------------------------------------------

    async def gather(self) -> dict[str, Any]:
        """One JSON-able snapshot (the `--json` document before annotation):
        {"time", "config_servers", "config": latest config or None,
         "groups": [{"gid", "addresses", "nodes": [{"address", "up", "error", "status"}]}]}
        with the config group first (gid 0), then every shard group of the latest config,
        then the known groups not in it yet, then the groups that left in a recent config
        (with "left_at": the config they left in), as far back as the least advanced
        group (every config since, when old copies still wait to be dropped), at most
        MAX_HISTORY configs."""
        config_nodes = await self.ask_all(self.config_servers)
        config = latest_config(config_nodes)
        shard_groups = dict(self.known_groups)
        if config is not None:
            for gid_text, addresses in config["groups"].items():
                shard_groups[int(gid_text)] = tuple(addresses)
        groups = [{"gid": 0, "addresses": list(self.config_servers), "nodes": config_nodes}]
        groups += await self._group_entries(
            {gid: (addrs, None) for gid, addrs in shard_groups.items()}
        )
        if config is not None:
            former = await self._former_groups(config, groups[1:])
            groups += await self._group_entries(former)
        return {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "config_servers": list(self.config_servers),
            "config": config,
            "groups": groups,
        }

    async def _group_entries(
        self, groups: Mapping[int, tuple[tuple[str, ...], int | None]]
    ) -> list[dict[str, Any]]:
        """One snapshot entry a group, asking all their nodes at once; gid -> (addresses,
        the config it left in, or None while it is a member)."""
        ordered = sorted(groups.items())
        answers = await self.ask_all([a for _, (addresses, _) in ordered for a in addresses])
        entries: list[dict[str, Any]] = []
        start = 0
        for gid, (addresses, left_at) in ordered:
            entry = {"gid": gid, "addresses": list(addresses),
                     "nodes": answers[start : start + len(addresses)]}  # fmt: skip
            if left_at is not None:
                entry["left_at"] = left_at
            entries.append(entry)
            start += len(addresses)
        return entries

    async def _former_groups(
        self, config: dict[str, Any], groups: list[dict[str, Any]]
    ) -> dict[int, tuple[tuple[str, ...], int | None]]:
        """gid -> (addresses, config it left in) of groups absent from the latest config
        that were in one of the recent configs."""
        latest = int(config["num"])
        reached = [_reached(group) for group in groups if group["gid"] in _gids(config)]
        gcs = any(_gcs(group) for group in groups)
        low = min([latest, *(num for num in reached if num is not None)])
        first = max(0, latest - MAX_HISTORY if gcs else low - 1)
        first = min(first, latest - 1)
        caller = GroupCaller(self.pool, self.config_servers)
        found: dict[int, tuple[tuple[str, ...], int | None]] = {}
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


def group_problems(
    gid: int, statuses: Mapping[str, dict[str, Any] | None], config: dict[str, Any]
) -> list[str]:
    """Why one group (its members' statuses by address) has not settled at `config`."""
    name = "config group" if gid == 0 else f"group {gid}"
    raft = {addr: (status or {}).get("raft") for addr, status in statuses.items()}
    silent = [addr for addr, r in raft.items() if r is None]
    if silent:
        return [f"{name}: no status from {', '.join(silent)}"]
    leaders = [addr for addr, r in raft.items() if r is not None and r["role"] == "leader"]
    if len(leaders) != 1:
        return [f"{name}: {len(leaders)} leaders"]
    lead = raft[leaders[0]]
    assert lead is not None
    problems = [
        f"{name}: {addr} at term {r['term']} applied {r['applied']} < leader commit {lead['commit']}"
        for addr, r in raft.items()
        if r is not None and (r["term"] != lead["term"] or r["applied"] < lead["commit"])
    ]
    if gid == 0:
        return problems
    owned = {b for b, owner in enumerate(config["buckets"]) if owner == gid}
    for addr, status in statuses.items():
        shard = ((status or {}).get("role") or {}).get("shard") or {}
        held = {b["bucket"]: b["state"] for b in shard.get("buckets", [])}
        if shard.get("num") != config["num"]:
            problems.append(
                f"{name}: {addr} at config {shard.get('num')}, latest is {config['num']}"
            )
        elif held != dict.fromkeys(owned, "serving"):
            problems.append(
                f"{name}: {addr} holds {held}, config {config['num']} gives it {sorted(owned)}"
            )
        elif shard.get("gcs"):
            problems.append(f"{name}: {addr} has {shard['gcs']} old copies not yet deleted")
    return problems


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

"""Shard groups and a config chain in memory, driven step by step: for tests and the simulator.

It plays every part the runtime and the network play around the pure state machine:
it appends commands to each group's log and applies them to every replica of the
group, offers each group the next config, pulls chunks from old owners (found by the
addresses the state machine reports, as the real server would) and delivers the
drop and gc-done messages. Nothing happens unless a method is called, so a test
chooses exactly when each step runs (or does not).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import (
    Condition,
    Delete,
    DropBucket,
    GcDone,
    InstallChunk,
    NewConfig,
    Put,
    ShardCommand,
    encode_command,
    session_entry,
    watch_event_entries,
)
from eraft_trio.roles.shard.state_machine import ShardStateMachine
from eraft_trio.storage.view import MemoryView


@dataclass
class MemoryGroup:
    """One shard group: a log and replicas that apply it in order (replica 0 answers)."""

    gid: int
    replicas: list[MemoryView]
    machine: ShardStateMachine
    log: list[bytes] = field(default_factory=list)

    @property
    def addresses(self) -> list[str]:
        return [f"g{self.gid}-n{index}:1" for index in range(len(self.replicas))]

    def propose(self, command: ShardCommand | bytes) -> Any:
        """Append to the log and apply on every replica; the first replica's reply."""
        entry = command if isinstance(command, bytes) else encode_command(command)
        self.log.append(entry)
        replies = [self.machine.apply(view, len(self.log), entry) for view in self.replicas]
        return replies[0]

    def read(self, query: Any) -> Any:
        return self.machine.read(self.replicas[0], query)

    @property
    def view(self) -> MemoryView:
        return self.replicas[0]


class MemoryCluster:
    """Groups by gid plus the config chain (config 0 first) that the config role would keep."""

    def __init__(self, nbuckets: int, gids: list[int], replicas: int = 1) -> None:
        self.nbuckets = nbuckets
        self.groups = {
            gid: MemoryGroup(gid, [MemoryView() for _ in range(replicas)], ShardStateMachine(gid))
            for gid in gids
        }
        self.configs: list[dict[str, Any]] = [{"num": 0, "buckets": [0] * nbuckets, "groups": {}}]

    # --- the config chain ----------------------------------------------------------

    def add_config(self, owners: list[int], idle: tuple[int, ...] = ()) -> int:
        """Append the next config, giving bucket b to owners[b] (0: unassigned); its num.

        The config lists the owning groups and the `idle` ones (joined, owning nothing).
        """
        assert len(owners) == self.nbuckets
        members = sorted({gid for gid in owners if gid} | set(idle))
        config = {
            "num": len(self.configs),
            "buckets": list(owners),
            "groups": {str(gid): self.groups[gid].addresses for gid in members},
        }
        self.configs.append(config)
        return len(self.configs) - 1

    def owner_of_bucket(self, bucket: int) -> int:
        return int(self.configs[-1]["buckets"][bucket])

    # --- one step each ----------------------------------------------------------------

    def offer_next_config(self, gid: int) -> Any:
        """Propose the config after the group's current one, as its config poller would."""
        group = self.groups[gid]
        num = group.read(("config",))["num"]
        if num + 1 >= len(self.configs):
            return None
        return group.propose(NewConfig(self.configs[num + 1]))

    def pull_once(self, gid: int, max_bytes: int) -> int:
        """Fetch and install one chunk for every pending pull of `gid`; chunks installed."""
        group = self.groups[gid]
        installed = 0
        for pull in group.read(("pulls",)):
            old_owner = self.group_at(pull["addresses"])
            chunk = old_owner.read(
                ("fetch", pull["num"], pull["bucket"], pull["cursor"], max_bytes, True)
            )
            if "err" in chunk:
                continue  # the old owner has not frozen the bucket yet
            reply = group.propose(self.install_command(pull, chunk))
            installed += bool(reply.get("applied"))
        return installed

    @staticmethod
    def install_command(pull: dict[str, Any], chunk: dict[str, Any]) -> InstallChunk:
        """The InstallChunk that a `("pulls",)` entry and the old owner's fetch reply make."""
        return InstallChunk(
            pull["num"],
            pull["bucket"],
            pull["cursor"],
            tuple((key, value) for key, value in chunk["rows"]),
            tuple(session_entry(fields) for fields in chunk["sessions"]),
            chunk["done"],
            tuple((row, raw) for row, raw in chunk.get("leases", ())),
            watch_event_entries(chunk.get("events", [])),
            chunk.get("head"),
        )

    def collect_garbage(self, gid: int) -> int:
        """Tell old owners to drop what `gid` installed; on their ok, clear the notices."""
        group = self.groups[gid]
        cleared = 0
        for notice in group.read(("gcs",)):
            old_owner = self.group_at(notice["addresses"])
            reply = old_owner.propose(DropBucket(notice["num"], notice["bucket"]))
            if reply.get("ok"):
                group.propose(GcDone(notice["num"], notice["bucket"]))
                cleared += 1
        return cleared

    def group_at(self, addresses: list[str]) -> MemoryGroup:
        """The group that listens on these addresses (how a real server finds the old owner)."""
        for group in self.groups.values():
            if group.addresses == list(addresses):
                return group
        raise LookupError(f"no group at {addresses}")

    # --- everything until quiet ---------------------------------------------------------

    def settle(
        self, max_bytes: int = 1 << 16, rounds: int = 1000, gids: Iterable[int] | None = None
    ) -> None:
        """Run config polls, pulls and garbage collection until nothing changes.

        Only the groups `gids` (default: all) take steps; the others are as if down.
        """
        running = sorted(self.groups if gids is None else gids)
        for _ in range(rounds):
            progress = 0
            for gid in running:
                reply = self.offer_next_config(gid)
                progress += bool(reply and reply.get("ok"))
                progress += self.pull_once(gid, max_bytes)
                progress += self.collect_garbage(gid)
            if not progress:
                return
        raise AssertionError("the cluster did not settle")


class MemoryClerk:
    """A client with one session, routing by the latest config; retries after wrong_group.

    A wrong_group answer lets the whole cluster settle before the request is sent again.
    """

    def __init__(self, cluster: MemoryCluster, client_id: int) -> None:
        self.cluster, self.client_id, self.seq = cluster, client_id, 0

    def put(self, key: bytes, value: bytes, condition: Condition | None = None) -> Any:
        self.seq += 1
        return self.send(Put(self.client_id, self.seq, key, value, condition=condition))

    def delete(self, key: bytes, condition: Condition | None = None) -> Any:
        self.seq += 1
        return self.send(Delete(self.client_id, self.seq, key, condition=condition))

    def send(self, command: Put | Delete) -> Any:
        """Propose `command` (as is: a retry keeps its seq) where its bucket lives."""
        for _ in range(10):
            reply = self.owner(command.key).propose(command)
            if reply.get("err") != "wrong_group":
                return reply
            self.cluster.settle()
        raise AssertionError(f"{command!r} found no serving group")

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.read_key("get", key)["value"]
        return value

    def get_versioned(self, key: bytes) -> dict[str, Any]:
        """{"value", "version", "mod_revision"} of the key."""
        return self.read_key("get_versioned", key)

    def read_key(self, kind: str, key: bytes) -> dict[str, Any]:
        for _ in range(10):
            reply: dict[str, Any] = self.owner(key).read((kind, key))
            if reply.get("err") != "wrong_group":
                return reply
            self.cluster.settle()
        raise AssertionError(f"{kind} {key!r} found no serving group")

    def owner(self, key: bytes) -> MemoryGroup:
        gid = self.cluster.owner_of_bucket(bucket_of(key, self.cluster.nbuckets))
        return self.cluster.groups[gid]

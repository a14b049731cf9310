"""ShardedCluster: a config group and shard groups as `eraft node` child processes in one folder."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from integration.cluster import ProcessGroup
from integration.ports import free_addresses
from integration.role_files import GroupLayout, TomlValue

GROUP_SIZE = 3


@dataclass
class ShardedCluster:
    """The processes of one cluster; their lifetime only (start, kill -9, SIGSTOP, cleanup).

    The ProcessGroups are used for their processes alone and never entered with
    `async with` (that would tie them to one trio run, and a module's tests share a
    cluster across runs); ClusterProbe does the talking. `cleanup()` kills every node.
    """

    folder: Path
    config: ProcessGroup
    shards: dict[int, ProcessGroup]
    paused: set[tuple[str, int]] = field(default_factory=set)  # (group name, node)

    @classmethod
    def create(
        cls,
        folder: Path,
        gids: Iterable[int] = (1, 2),
        *,
        buckets: int = 10,
        raft: Mapping[str, TomlValue] | None = None,
    ) -> ShardedCluster:
        """Role files for 3 config nodes and 3 nodes per gid, on free ports; nothing started."""
        gids = list(gids)
        tuning = dict(raft or {})
        # One call for every address, so no two nodes can be handed the same free port.
        addresses = free_addresses(GROUP_SIZE * (1 + len(gids)))
        config_addrs = addresses[:GROUP_SIZE]
        config = ProcessGroup(
            GroupLayout.config_group(config_addrs, buckets=buckets, raft=tuning), folder
        )
        shards = {}
        for i, gid in enumerate(gids, start=1):
            own = addresses[GROUP_SIZE * i : GROUP_SIZE * (i + 1)]
            layout = GroupLayout.shard_group(gid, own, config_addrs, raft=tuning)
            shards[gid] = ProcessGroup(layout, folder)
        return cls(folder, config, shards)

    @property
    def config_servers(self) -> tuple[str, ...]:
        return self.config.layout.addresses

    def addresses(self, gid: int) -> tuple[str, ...]:
        return self.shards[gid].layout.addresses

    def groups(self) -> list[ProcessGroup]:
        return [self.config, *self.shards.values()]

    def start(self) -> None:
        """Start every node that is not running (a restart reuses each node's data)."""
        for group in self.groups():
            for node in range(group.size):
                if not group.nodes[node].running:
                    group.start([node])

    def kill_all(self) -> None:
        """kill -9 of every node at the same moment."""
        for group in self.groups():
            group.kill(group.running())

    def pause(self, group: ProcessGroup, node: int) -> None:
        """SIGSTOP: the node keeps its sockets but answers nothing, as if cut off."""
        pid = group.nodes[node].pid
        assert pid is not None and group.nodes[node].running, f"{group.layout.name} {node} is down"
        os.kill(pid, signal.SIGSTOP)
        self.paused.add((group.layout.name, node))

    def resume(self, group: ProcessGroup, node: int) -> None:
        self.paused.discard((group.layout.name, node))
        pid = group.nodes[node].pid
        if pid is not None and group.nodes[node].running:
            os.kill(pid, signal.SIGCONT)

    def resume_all(self) -> None:
        by_name = {group.layout.name: group for group in self.groups()}
        for name, node in sorted(self.paused):
            self.resume(by_name[name], node)

    def cleanup(self) -> None:
        # SIGKILL ends a stopped process too, so paused nodes need no SIGCONT first.
        for group in self.groups():
            group.cleanup()

    def crash_report(self, lines: int = 15) -> str | None:
        """Which nodes ended by themselves (see NodeProcess.crashed), each with its exit
        code and the end of its log; None while none has."""
        parts = []
        for group in self.groups():
            for node in group.nodes:
                if node.crashed:
                    assert node.proc is not None
                    tail = node.log_text().splitlines()[-lines:]
                    parts.append(
                        f"== {node.log_path} (exit {node.proc.returncode})\n" + "\n".join(tail)
                    )
        return "\n".join(parts) if parts else None

    def logs_tail(self, lines: int = 20) -> str:
        """The last lines of every node's log, for a failure message."""
        parts = []
        for group in self.groups():
            for node in group.nodes:
                tail = node.log_text().splitlines()[-lines:]
                parts.append(f"== {node.log_path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

"""Where the nodes of a chaos run live: one 127.0.0.x host per node, and their role files.

Each node gets a host of its own so that nftables rules between host pairs cut exactly
the links between two nodes (every node binds its outgoing connections to its own host).
Hosts: the config group on 127.0.0.11-13, shard group g on 127.0.0.(10g+11)-(10g+13).
Ports are probed free on each host, so the layout also works outside a namespace.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from eraft_trio.protocol.address import parse_address
from eraft_trio.runtime.role_file import cluster_id_for

GROUP_SIZE = 3


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node: its group (0 is the config group), Raft id, address and role file."""

    gid: int
    node_id: int
    address: str
    role_path: Path

    @property
    def host(self) -> str:
        return parse_address(self.address)[0]

    @property
    def name(self) -> str:
        return node_name(self.gid, self.node_id)


def node_name(gid: int, node_id: int) -> str:
    return f"{'config' if gid == 0 else f'g{gid}'}-n{node_id}"


@dataclass(frozen=True, slots=True)
class Topology:
    config_servers: tuple[str, ...]
    groups: dict[int, tuple[str, ...]]  # shard gid -> node addresses
    nodes: tuple[NodeSpec, ...]
    buckets: int
    snapshot_entries: int = 1000

    @property
    def cluster(self) -> str:
        return cluster_id_for(self.config_servers)

    def group_nodes(self, gid: int) -> list[NodeSpec]:
        return [node for node in self.nodes if node.gid == gid]

    @property
    def gids(self) -> list[int]:
        """Every group, the config group (0) first."""
        return [0, *sorted(self.groups)]

    def hosts(self, gid: int | None = None) -> list[str]:
        return [node.host for node in self.nodes if gid is None or node.gid == gid]


def group_hosts(gid: int) -> list[str]:
    return [f"127.0.0.{10 * gid + 11 + i}" for i in range(GROUP_SIZE)]


def spare_host(gid: int) -> str:
    """The host of a node added to group `gid` for a while (member_nemesis.py)."""
    return f"127.0.0.{10 * gid + 11 + GROUP_SIZE}"


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def build_topology(
    folder: Path, shard_groups: int, *, buckets: int = 12, snapshot_entries: int = 1000
) -> Topology:
    """Choose addresses and write one role file per node into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    addresses = {
        gid: tuple(f"{host}:{free_port(host)}" for host in group_hosts(gid))
        for gid in range(shard_groups + 1)
    }
    config_servers = addresses[0]
    nodes: list[NodeSpec] = []
    for gid, peers in addresses.items():
        for node_id, address in enumerate(peers):
            spec = NodeSpec(gid, node_id, address, folder / f"{node_name(gid, node_id)}.toml")
            spec.role_path.write_text(
                _role_text(spec, peers, config_servers, buckets, snapshot_entries)
            )
            nodes.append(spec)
    groups = {gid: peers for gid, peers in addresses.items() if gid != 0}
    return Topology(config_servers, groups, tuple(nodes), buckets, snapshot_entries)


def _quoted(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def joiner_role_text(spec: NodeSpec, members: tuple[str, ...], topology: Topology) -> str:
    """The role file of a node added to a running group: `join = true`, its own address,
    and the members it may ask (docs/reference.md, "Membership")."""
    return _role_text(
        spec, members, topology.config_servers, topology.buckets, topology.snapshot_entries,
        join=True,
    )  # fmt: skip


def _role_text(
    spec: NodeSpec,
    peers: tuple[str, ...],
    config_servers: tuple[str, ...],
    buckets: int,
    snapshot_entries: int,
    *,
    join: bool = False,
) -> str:
    role = "config" if spec.gid == 0 else "shard"
    identity = [f'listen = "{spec.address}"'] if join else [f"id = {spec.node_id}"]
    lines = [
        "[node]",
        f'role = "{role}"',
        *identity,
        f'data_dir = "data/{spec.name}"',
        "",
        "[raft]",
        f"peers = {_quoted(peers)}",
        *(["join = true"] if join else []),
        # A small log threshold so that restarted nodes often catch up by snapshot.
        f"snapshot_entries = {snapshot_entries}",
        # Small log segments: rotation happens under faults too, and a run's nodes do not
        # preallocate 32 MiB each.
        "wal_segment_bytes = 1048576",
        "",
    ]
    if role == "shard":
        lines += ["[shard]", f"group = {spec.gid}", f"config_servers = {_quoted(config_servers)}"]
    else:
        lines += ["[config]", f"buckets = {buckets}"]
    return "\n".join(lines) + "\n"

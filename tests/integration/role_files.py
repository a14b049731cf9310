"""Role files (docs/reference.md) for the nodes of one Raft group, config or shard, written for tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eraft_trio.runtime.role_file import cluster_id_for
from eraft_trio.runtime.role_file_writer import TomlValue, render_toml

__all__ = ["GroupLayout", "TomlValue", "cluster_layouts", "render_toml", "write_role_files"]


# 1 MiB log segments instead of 32 MiB: a full run starts hundreds of nodes, and each
# preallocates its first segment (10 GB of disk per run with the default); small segments
# also take the tests across segment boundaries far more often.
TEST_WAL_SEGMENT_BYTES = 1 << 20


@dataclass(frozen=True)
class GroupLayout:
    """One Raft group as its role files describe it.

    `name` prefixes the files and data folders, so several groups (the config group
    and shard groups) can share one test folder.
    """

    name: str
    role: str  # "config" or "shard"
    addresses: tuple[str, ...]
    gid: int = 0  # shard groups only: an integer > 0
    config_servers: tuple[str, ...] = ()  # shard groups only
    buckets: int = 10  # config groups only
    raft: Mapping[str, TomlValue] = field(default_factory=dict)  # tuning: heartbeat_ms, ...
    cluster_name: str | None = None  # node.cluster; None: derived from the addresses
    limits: Mapping[str, TomlValue] = field(default_factory=dict)  # shard groups: [limits]
    shard_options: Mapping[str, TomlValue] = field(default_factory=dict)  # more [shard] keys

    def __post_init__(self) -> None:
        if self.role not in ("config", "shard"):
            raise ValueError(f"role must be config or shard, not {self.role!r}")
        if self.role == "shard" and (self.gid <= 0 or not self.config_servers):
            raise ValueError("a shard group needs a gid > 0 and the config servers")

    @classmethod
    def config_group(
        cls, addresses: tuple[str, ...], name: str = "config", **kw: Any
    ) -> GroupLayout:
        return cls(name=name, role="config", addresses=addresses, **kw)

    @classmethod
    def shard_group(
        cls, gid: int, addresses: tuple[str, ...], config_servers: tuple[str, ...], **kw: Any
    ) -> GroupLayout:
        return cls(
            name=f"group{gid}",
            role="shard",
            addresses=addresses,
            gid=gid,
            config_servers=config_servers,
            **kw,
        )

    @property
    def cluster(self) -> str:
        """The cluster id every node derives, hence the one a client must present."""
        if self.cluster_name is not None:
            return self.cluster_name
        servers = self.addresses if self.role == "config" else self.config_servers
        return cluster_id_for(servers)

    def data_dir(self, node: int) -> str:
        """Relative to the role file's folder, as the role file writes it."""
        return f"data/{self.name}-n{node}"

    def sections(self, node: int) -> dict[str, dict[str, TomlValue]]:
        sections: dict[str, dict[str, TomlValue]] = {
            "node": {"role": self.role, "id": node, "data_dir": self.data_dir(node)},
            "raft": {
                "peers": list(self.addresses),
                "wal_segment_bytes": TEST_WAL_SEGMENT_BYTES,
                **self.raft,
            },
        }
        if self.cluster_name is not None:
            sections["node"]["cluster"] = self.cluster_name
        if self.role == "shard":
            sections["shard"] = {
                "group": self.gid,
                "config_servers": list(self.config_servers),
                **self.shard_options,
            }
            if self.limits:
                sections["limits"] = dict(self.limits)
        else:
            sections["config"] = {"buckets": self.buckets}
        return sections


def cluster_layouts(
    config_addresses: tuple[str, ...], shard_addresses: dict[int, tuple[str, ...]], **kw: Any
) -> tuple[GroupLayout, list[GroupLayout]]:
    """A whole cluster: the config group, and one shard group per gid, all knowing the
    config group's addresses (so all derive the same cluster id). `kw` goes to every layout."""
    config = GroupLayout.config_group(config_addresses, **kw)
    shards = [
        GroupLayout.shard_group(gid, addresses, config_addresses, **kw)
        for gid, addresses in sorted(shard_addresses.items())
    ]
    return config, shards


def write_role_files(layout: GroupLayout, folder: Path) -> list[Path]:
    """One role file per node, `folder/<name>-<id>.toml`; their data folders go under folder/data."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for node in range(len(layout.addresses)):
        path = folder / f"{layout.name}-{node}.toml"
        path.write_text(render_toml(layout.sections(node)))
        paths.append(path)
    return paths

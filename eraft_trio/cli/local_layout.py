"""The shape of the cluster `eraft local` makes: its groups, their ports, their role files."""

from __future__ import annotations

from dataclasses import dataclass

from eraft_trio.runtime.role_file_writer import TomlValue, render_toml

HOST = "127.0.0.1"
DEFAULT_GROUPS = 2
DEFAULT_REPLICAS = 3
# The config group's first port: 8088-8090 is what `eraft ctl` reaches without -s.
DEFAULT_BASE_PORT = 8088
MAX_REPLICAS = 9  # every node is a process; more than nine buys nothing on one machine
# Each group owns a block of this many ports from its first one, configs/local's layout:
# shard groups 1 and 2 in the two blocks below the config group's (6088, 7088), any
# further group in the blocks above it (9088, 10088, ...).
PORT_STRIDE = 1000
LOWEST_PORT = 1024  # below it a port needs root
HIGHEST_PORT = 65535
DEFAULT_BUCKETS = 10  # fixed when a cluster is made; configs/local's count
# Twelve nodes on one disk: 4 MiB log segments preallocate 48 MB where the 32 MiB default
# would take 384 MB before the first put.
LOCAL_WAL_SEGMENT_BYTES = 4 << 20


class LayoutError(ValueError):
    """A shape that cannot be laid out; the message names the flag to change."""


@dataclass(frozen=True)
class LocalLayout:
    """A config group and `groups` shard groups of `replicas` nodes each, on loopback."""

    groups: int = DEFAULT_GROUPS
    replicas: int = DEFAULT_REPLICAS
    base_port: int = DEFAULT_BASE_PORT

    def check(self) -> None:
        """Raise LayoutError naming the flag when the shape has no room on this host."""
        if self.groups < 1:
            raise LayoutError(f"--groups {self.groups}: must be at least 1")
        if not 1 <= self.replicas <= MAX_REPLICAS:
            raise LayoutError(f"--replicas {self.replicas}: must be 1 to {MAX_REPLICAS}")
        low, high = min(self.ports()), max(self.ports())
        if low < LOWEST_PORT:
            lowest = LOWEST_PORT + self.base_port - low
            raise LayoutError(
                f"--base-port {self.base_port}: shard group 1 would listen on port {low}; "
                f"the lowest base port is {lowest}"
            )
        if high > HIGHEST_PORT:
            raise LayoutError(
                f"--groups {self.groups} --base-port {self.base_port}: group {self.groups} "
                f"would listen on port {high}, past {HIGHEST_PORT}"
            )

    @property
    def buckets(self) -> int:
        # At least one bucket per group, so every group has something to serve.
        return max(DEFAULT_BUCKETS, self.groups)

    def first_port(self, gid: int) -> int:
        """Group `gid`'s first port (gid 0: the config group)."""
        if gid == 0:
            return self.base_port
        block = gid - 3 if gid <= 2 else gid - 2  # blocks -2, -1, then 1, 2, ...
        return self.base_port + block * PORT_STRIDE

    def addresses(self, gid: int) -> tuple[str, ...]:
        first = self.first_port(gid)
        return tuple(f"{HOST}:{first + node}" for node in range(self.replicas))

    @property
    def config_servers(self) -> tuple[str, ...]:
        return self.addresses(0)

    @property
    def shard_groups(self) -> dict[int, tuple[str, ...]]:
        return {gid: self.addresses(gid) for gid in range(1, self.groups + 1)}

    def ports(self) -> list[int]:
        return [
            self.first_port(gid) + node
            for gid in range(self.groups + 1)
            for node in range(self.replicas)
        ]

    def role_files(self) -> dict[str, str]:
        """File name -> text of every node's role file, named and laid out as configs/local."""
        files = {}
        for node in range(self.replicas):
            files[f"config-{node}.toml"] = self._render(
                f"Config group, node {node}",
                {
                    "node": {"role": "config", "id": node, "data_dir": f"data/config-n{node}"},
                    "raft": {
                        "peers": list(self.config_servers),
                        "wal_segment_bytes": LOCAL_WAL_SEGMENT_BYTES,
                    },
                    "config": {"buckets": self.buckets},
                },
            )
        for gid, addresses in self.shard_groups.items():
            for node in range(self.replicas):
                files[f"group{gid}-{node}.toml"] = self._render(
                    f"Shard group {gid}, node {node}",
                    {
                        "node": {"role": "shard", "id": node, "data_dir": f"data/g{gid}-n{node}"},
                        "raft": {
                            "peers": list(addresses),
                            "wal_segment_bytes": LOCAL_WAL_SEGMENT_BYTES,
                        },
                        "shard": {"group": gid, "config_servers": list(self.config_servers)},
                    },
                )
        return files

    def _render(self, title: str, sections: dict[str, dict[str, TomlValue]]) -> str:
        return render_toml(
            sections,
            f"{title}: written by `eraft local` "
            f"(--groups {self.groups} --replicas {self.replicas} --base-port {self.base_port}).\n"
            "Edit it as any role file, but keep peers and data_dir once the cluster holds data.",
        )

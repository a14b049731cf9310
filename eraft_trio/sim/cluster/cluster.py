"""The whole cluster as `eraft node` runs it: a config group and shard groups, each of real
RaftNodes over real NodeStores (each in its own folder), on the simulated network.

Each node is what cli/node_command.py builds: a RaftNode with its role's state machine,
the role's server (the config role's, or the shard role's with its config, pull, GC and
expiry loops), and a NodeService in front, which the simulated network hands requests
to. The shard role reaches other groups through rpc.py's pool instead of TCP.

A node runs inside a cancel scope of its own: a crash cancels it (whatever its tasks
were doing stops there; the store keeps what was written) and closes the store; a
restart opens the store again from its folder and starts a new RaftNode on it, which
recovers from what the disk holds, as a restarted process does. A node whose disk
returned EIO stops by itself (the storage error ends its run, as it ends the process
in production): that is a crash too, and it waits for a restart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from eraft_trio.raft.config import RaftConfig
from eraft_trio.roles.config.server import ConfigRoleServer
from eraft_trio.roles.config.state_machine import ConfigStateMachine
from eraft_trio.roles.shard.server import ShardRoleServer
from eraft_trio.roles.shard.state_machine import ShardStateMachine
from eraft_trio.runtime.node_service import NodeService
from eraft_trio.runtime.raft_node import NodeSettings, RaftNode
from eraft_trio.runtime.role_file import RoleFile
from eraft_trio.sim.cluster.disk import DiskFaults, SimDisk, TornWrites, sim_executors
from eraft_trio.sim.cluster.network import Endpoint, SimNetwork
from eraft_trio.sim.cluster.rpc import SimPool
from eraft_trio.storage.errors import StorageError
from eraft_trio.storage.node_store import NodeStore

CONFIG_GID = 0
WAL_SEGMENT_BYTES = 64 << 10  # the smallest allowed: segments roll and get deleted often
MAP_SIZE = 4 << 20
# Where the shard role's wall clock starts: it only stamps session use into entries.
EPOCH = 1_800_000_000.0


@dataclass(frozen=True)
class ClusterShape:
    shard_groups: int = 3  # gids 1..n; the config group is gid 0
    nodes: int = 3  # per group
    buckets: int = 8
    tick_seconds: float = 0.05
    snapshot_entries: int = 16
    snapshot_chunk_bytes: int = 64  # a few rows each: transfers take many chunks
    migration_chunk_bytes: int = 64  # likewise for bucket pulls
    disk_latency: tuple[float, float] = (0.0, 0.01)
    torn_write_chance: float = 0.5  # of a crash during a log write

    @property
    def gids(self) -> tuple[int, ...]:
        return tuple(range(self.shard_groups + 1))

    def raft(self, node: int) -> RaftConfig:
        return RaftConfig(
            id=node,
            peers=tuple(range(self.nodes)),
            heartbeat_ticks=2,
            election_ticks_min=10,
            election_ticks_max=20,
            snapshot_timeout_ticks=200,
            max_inflight=8,
            max_msg_bytes=4096,
        )

    def addresses(self, gid: int) -> tuple[str, ...]:
        return tuple(f"g{gid}n{n}:7000" for n in range(self.nodes))

    def role_file(self, gid: int, node: int, folder: Path) -> RoleFile:
        """What the node's role file would say (only the shard role's server reads it)."""
        return RoleFile(
            path=folder / "role.toml",
            role="config" if gid == CONFIG_GID else "shard",
            id=node,
            data_dir=folder,
            listen=self.addresses(gid)[node],
            peers=self.addresses(gid),
            heartbeat_ms=round(self.tick_seconds * 2000),
            election_timeout_ms=(
                round(self.tick_seconds * 10000),
                round(self.tick_seconds * 20000),
            ),
            snapshot_entries=self.snapshot_entries,
            snapshot_bytes=32 << 20,
            tick_ms=round(self.tick_seconds * 1000),
            group=gid,
            config_servers=self.addresses(CONFIG_GID),
            buckets=self.buckets,
            cluster="sim",
            secret_file=None,
            metrics_listen=None,
        )


@dataclass
class SimNode:
    id: int  # the network's number for it, across every group
    gid: int
    raft_id: int  # its id in its group
    address: str
    path: Path
    raft: RaftNode | None = None
    server: trio.Nursery | None = None
    service: NodeService | None = None
    role: Any = None  # its role's server
    scope: trio.CancelScope | None = None
    stopped: trio.Event = field(default_factory=trio.Event)
    incarnation: int = 0
    running: bool = False  # started (perhaps not yet up), not yet stopped
    snapshots_installed: int = 0  # by all its incarnations
    chunks_installed: int = 0  # bucket chunks its incarnations had their group install
    torn_writes: int = 0
    fail_stops: int = 0  # incarnations an EIO stopped
    log_disk: SimDisk | None = None
    disk: DiskFaults = field(default_factory=DiskFaults)

    @property
    def writing_log(self) -> bool:
        return self.log_disk is not None and self.log_disk.busy > 0

    @property
    def up(self) -> bool:
        return self.raft is not None and self.server is not None


class SimCluster:
    def __init__(self, shape: ClusterShape, rng: random.Random, folder: Path) -> None:
        self.shape = shape
        self.rng = rng
        self.network = SimNetwork(rng, self._endpoint)
        self.nodes: list[SimNode] = []
        for gid in shape.gids:
            for raft_id, address in enumerate(shape.addresses(gid)):
                number = len(self.nodes)
                path = folder / f"g{gid}n{raft_id}"
                self.nodes.append(SimNode(number, gid, raft_id, address, path))
        self.addresses = {node.address: node.id for node in self.nodes}
        self._nursery: trio.Nursery | None = None
        self.crashes = 0

    def group(self, gid: int) -> list[SimNode]:
        return [node for node in self.nodes if node.gid == gid]

    def _endpoint(self, node: int) -> Endpoint | None:
        sim = self.nodes[node]
        if sim.raft is None or sim.server is None:
            return None
        return Endpoint(sim.raft, sim.server, sim.service)

    def pool(self, nursery: trio.Nursery, src: int) -> SimPool:
        """A client's pool: `src` is its own number on the network (past the nodes')."""
        return SimPool(nursery, self.network, src, self.addresses)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.network.run)
            for node in self.nodes:
                node.running = True
                await nursery.start(self._run_node, node)
            task_status.started()

    def start(self, node: int) -> None:
        """Start `node` again (it must not be running)."""
        assert self._nursery is not None
        sim = self.nodes[node]
        assert not sim.running, f"node {node} is running"
        sim.running = True
        self._nursery.start_soon(self._run_node, sim)

    async def crash(self, *nodes: int) -> None:
        """Stop `nodes` where they are, all at the same moment; returns once their stores
        are closed."""
        crashing = [self.nodes[node] for node in nodes if self.nodes[node].scope is not None]
        for sim in crashing:
            assert sim.scope is not None
            sim.scope.cancel()
        for sim in crashing:
            await sim.stopped.wait()
            self.crashes += 1

    async def _run_node(self, sim: SimNode, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        shape = self.shape
        sim.stopped = trio.Event()
        sim.incarnation += 1
        sim.disk.eio_struck = sim.disk.eio_next = False  # a fault is for one incarnation
        role = "config" if sim.gid == CONFIG_GID else "shard"
        identity: dict[str, str | int] = {
            "cluster": "sim",
            "role": role,
            "group": sim.gid,
            "node": sim.raft_id,
        }
        store = NodeStore.open(
            sim.path, identity, map_size=MAP_SIZE, wal_segment_bytes=WAL_SEGMENT_BYTES
        )
        settings = NodeSettings(
            raft=shape.raft(sim.raft_id),
            peers=shape.addresses(sim.gid),
            tick_seconds=shape.tick_seconds,
            snapshot_entries=shape.snapshot_entries,
            snapshot_chunk_bytes=shape.snapshot_chunk_bytes,
        )
        seed = self.rng.getrandbits(64)
        torn = TornWrites(random.Random(seed + 2), store, shape.torn_write_chance)
        executors = sim_executors(random.Random(seed + 1), shape.disk_latency, torn, sim.disk)
        assert isinstance(executors.log, SimDisk)
        sim.log_disk = executors.log
        members = [node.id for node in self.group(sim.gid)]
        link = self.network.link(sim.id, members)
        started = False
        try:
            node: RaftNode
            role_server: Any
            if sim.gid == CONFIG_GID:
                machine: Any = ConfigStateMachine(shape.buckets)
                node = RaftNode(
                    settings, machine, store, link, rng=random.Random(seed), executors=executors
                )
                role_server = ConfigRoleServer(node)
            else:
                machine = ShardStateMachine(sim.gid)
                node = RaftNode(
                    settings, machine, store, link, rng=random.Random(seed), executors=executors
                )
                role_server = ShardRoleServer(
                    node,
                    shape.role_file(sim.gid, sim.raft_id, sim.path),
                    wall_clock=lambda: EPOCH + trio.current_time(),
                    chunk_bytes=shape.migration_chunk_bytes,
                    connect=lambda nursery: SimPool(
                        nursery,
                        self.network,
                        sim.id,
                        self.addresses,
                        node=sim.raft_id,
                        group=sim.gid,
                    ),
                )
            with trio.CancelScope() as scope:
                sim.scope = scope
                try:
                    async with trio.open_nursery() as server:
                        await server.start(node.run)
                        if isinstance(role_server, ShardRoleServer):
                            await server.start(role_server.run)
                        sim.raft, sim.server, sim.role = node, server, role_server
                        sim.service = NodeService(node, role_server, group=sim.gid)
                        started = True
                        task_status.started()
                except* StorageError:
                    if not sim.disk.eio_struck:
                        raise  # a storage failure nobody injected is a finding
                    sim.fail_stops += 1
                    self.crashes += 1
        finally:
            if sim.raft is not None:
                sim.snapshots_installed += sim.raft.statistics()["snapshots_installed"]
            if isinstance(sim.role, ShardRoleServer):
                sim.chunks_installed += sim.role.statistics()["chunks_installed"]
            sim.torn_writes += torn.torn
            sim.raft = sim.server = sim.scope = sim.log_disk = sim.service = sim.role = None
            store.close()
            sim.running = False
            sim.stopped.set()
            if not started:
                task_status.started()

"""N real RaftNodes, each over a real NodeStore in its own folder, on the simulated network.

A node runs inside a cancel scope of its own: a crash cancels it (whatever its tasks
were doing stops there; the store keeps what was written) and closes the store; a
restart opens the store again from its folder and starts a new RaftNode on it, which
recovers from what the disk holds, as a restarted process does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from eraft_trio.raft.config import RaftConfig
from eraft_trio.roles.shard.state_machine import ShardStateMachine
from eraft_trio.runtime.raft_node import NodeSettings, RaftNode
from eraft_trio.sim.cluster.disk import SimDisk, TornWrites, sim_executors
from eraft_trio.sim.cluster.network import Endpoint, SimNetwork
from eraft_trio.storage.node_store import NodeStore

GROUP = 1
WAL_SEGMENT_BYTES = 64 << 10  # the smallest allowed: segments roll and get deleted often
MAP_SIZE = 4 << 20


@dataclass(frozen=True)
class ClusterShape:
    nodes: int = 3
    tick_seconds: float = 0.05
    snapshot_entries: int = 16
    snapshot_chunk_bytes: int = 64  # a few rows each: transfers take many chunks
    disk_latency: tuple[float, float] = (0.0, 0.01)
    torn_write_chance: float = 0.5  # of a crash during a log write

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

    def addresses(self) -> tuple[str, ...]:
        return tuple(f"node{n}:7000" for n in range(self.nodes))


@dataclass
class SimNode:
    id: int
    path: Path
    raft: RaftNode | None = None
    server: trio.Nursery | None = None
    scope: trio.CancelScope | None = None
    stopped: trio.Event = field(default_factory=trio.Event)
    incarnation: int = 0
    running: bool = False  # started (perhaps not yet up), not yet stopped
    snapshots_installed: int = 0  # by all its incarnations
    torn_writes: int = 0
    log_disk: SimDisk | None = None

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
        self.nodes = [SimNode(n, folder / f"node{n}") for n in range(shape.nodes)]
        self._nursery: trio.Nursery | None = None
        self.crashes = 0

    def _endpoint(self, node: int) -> Endpoint | None:
        sim = self.nodes[node]
        if sim.raft is None or sim.server is None:
            return None
        return sim.raft, sim.server

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
        identity: dict[str, str | int] = {
            "cluster": "sim",
            "role": "shard",
            "group": GROUP,
            "node": sim.id,
        }
        store = NodeStore.open(
            sim.path, identity, map_size=MAP_SIZE, wal_segment_bytes=WAL_SEGMENT_BYTES
        )
        settings = NodeSettings(
            raft=shape.raft(sim.id),
            peers=shape.addresses(),
            tick_seconds=shape.tick_seconds,
            snapshot_entries=shape.snapshot_entries,
            snapshot_chunk_bytes=shape.snapshot_chunk_bytes,
        )
        seed = self.rng.getrandbits(64)
        torn = TornWrites(random.Random(seed + 2), store, shape.torn_write_chance)
        executors = sim_executors(random.Random(seed + 1), shape.disk_latency, torn)
        assert isinstance(executors.log, SimDisk)
        sim.log_disk = executors.log
        try:
            node = RaftNode(
                settings,
                ShardStateMachine(GROUP),
                store,
                self.network.link(sim.id),
                rng=random.Random(seed),
                executors=executors,
            )
            with trio.CancelScope() as scope:
                sim.scope = scope
                async with trio.open_nursery() as server:
                    await server.start(node.run)
                    sim.raft, sim.server = node, server
                    task_status.started()
        finally:
            if sim.raft is not None:
                sim.snapshots_installed += sim.raft.statistics()["snapshots_installed"]
            sim.torn_writes += torn.torn
            sim.raft = sim.server = sim.scope = sim.log_disk = None
            store.close()
            sim.running = False
            sim.stopped.set()

"""The faults of a cluster run, drawn from its seed: crashes, restarts, partitions and
disk faults.

At most a minority of each group is down at once, so every group can make progress
once the network heals, except for a power cut: every node crashes at the same moment
(writes in flight lost or torn on all of them) and they all restart a moment later.
A partition cuts one group in two, isolates one node from all others, or (rarely)
splits the whole cluster's nodes at random; clients reach every side. It heals by
itself after a while (or at the next heal), since with four groups a random cut
nearly always stalls one of them. A disk fault fills
one node's disk for a while (its writes fail with ENOSPC: it pauses, as production
does) or fails its next write with EIO (it stops, and is restarted like a crashed
node). Every fault is logged with its time, for the report of a failing seed.
"""

from __future__ import annotations

import random

import trio

from eraft_trio.sim.cluster.cluster import SimCluster, SimNode


class Nemesis:
    def __init__(
        self,
        cluster: SimCluster,
        rng: random.Random,
        pause: tuple[float, float],
        power_cuts: float = 0.05,
    ):
        self.cluster = cluster
        self.rng = rng
        self.pause = pause
        self.power_cuts = power_cuts  # the share of faults that are power cuts
        self.log: list[str] = []
        self.disk_faults = 0
        self._partition_ends: float | None = None

    def _note(self, what: str) -> None:
        self.log.append(f"{trio.current_time():9.3f} {what}")

    async def run(self, stop: trio.Event) -> None:
        while not stop.is_set():
            await trio.sleep(self.rng.uniform(*self.pause))
            await self.act()

    async def act(self) -> None:
        cluster, rng = self.cluster, self.rng
        if self._partition_ends is not None and trio.current_time() >= self._partition_ends:
            self._note("partition healed")
            self._partition_ends = None
            cluster.network.heal()
        if rng.random() < self.power_cuts:
            await self.power_cut()
            return
        group = cluster.group(rng.choice(cluster.shape.gids))
        down = [n.id for n in group if not n.running]
        up = [n.id for n in group if n.up]
        roll = rng.random()
        if down and roll < 0.35:
            node = rng.choice(down)
            self._note(f"restart node {node}")
            cluster.start(node)
        elif up and roll < 0.55 and len(group) - len(up) < (len(group) - 1) // 2:
            node = self._pick_victim(up)
            self._note(f"crash node {node}")
            await cluster.crash(node)
        elif up and roll < 0.65:
            self.disk_fault(rng.choice(up), len(group) - len(up) < (len(group) - 1) // 2)
        elif roll < 0.85:
            self.partition(group)
        else:
            self._note("heal")
            self._partition_ends = None
            cluster.network.heal()
            for sim in cluster.nodes:
                sim.disk.full = False

    def partition(self, group: list[SimNode]) -> None:
        """Cut `group` in two, isolate one node, or (rarely) split everyone at random."""
        cluster, rng = self.cluster, self.rng
        kind = rng.random()
        if kind < 0.45:
            cut = {n.id: rng.randrange(2) for n in group}
            sides = {n.id: cut.get(n.id, 0) for n in cluster.nodes}
        elif kind < 0.85:
            alone = rng.choice(cluster.nodes).id
            sides = {n.id: int(n.id == alone) for n in cluster.nodes}
        else:
            sides = {n.id: rng.randrange(2) for n in cluster.nodes}
        self._note(f"partition {sorted(sides.items())}")
        cluster.network.partition(sides)
        self._partition_ends = trio.current_time() + rng.uniform(0.5, 3.0)

    def disk_fault(self, node: int, may_stop: bool) -> None:
        """Fill `node`'s disk (until the next heal), or, if one more node of its group may
        go down, fail its next write with EIO."""
        disk = self.cluster.nodes[node].disk
        self.disk_faults += 1
        if may_stop and self.rng.random() < 0.5:
            self._note(f"EIO on node {node}'s next write")
            disk.eio_next = True
        else:
            self._note(f"disk of node {node} full")
            disk.full = True

    def _pick_victim(self, up: list[int]) -> int:
        """The leader half the time (the interesting crash), otherwise anyone."""
        leaders = [n for n in up if (raft := self.cluster.nodes[n].raft) and raft.is_leader]
        if leaders and self.rng.random() < 0.5:
            return leaders[0]
        return self.rng.choice(up)

    async def power_cut(self) -> None:
        """Every node crashes at once, while one of them writes its log if that happens soon
        (a cut that catches no write in flight loses nothing)."""
        cluster = self.cluster
        for _ in range(200):
            if any(node.writing_log for node in cluster.nodes):
                # Somewhere in the write, or just after it: its effects may be leaving.
                await trio.sleep(self.rng.uniform(0, cluster.shape.disk_latency[1]))
                break
            await trio.sleep(0.001)
        self._note("power cut")
        await cluster.crash(*(node.id for node in cluster.nodes))
        await trio.sleep(self.rng.uniform(0.05, 0.5))
        self._note("power back")
        for node in cluster.nodes:
            if not node.running:
                cluster.start(node.id)

    async def heal_all(self) -> None:
        """End every fault: heal the network, restart whoever is down."""
        self._note("heal all")
        self.cluster.network.heal()
        for node in self.cluster.nodes:
            node.disk.full = node.disk.eio_next = False
            if not node.running:
                self.cluster.start(node.id)

"""The faults of a cluster run, drawn from its seed: crashes, restarts and partitions.

At most a minority is down at once, so the group can always make progress once the
network heals, except for a power cut: every node crashes at the same moment (writes
in flight lost or torn on all of them) and they all restart a moment later. Every
fault is logged with its time, for the report of a failing seed.
"""

from __future__ import annotations

import random

import trio

from eraft_trio.sim.cluster.cluster import SimCluster


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

    def _note(self, what: str) -> None:
        self.log.append(f"{trio.current_time():9.3f} {what}")

    async def run(self, stop: trio.Event) -> None:
        while not stop.is_set():
            await trio.sleep(self.rng.uniform(*self.pause))
            await self.act()

    async def act(self) -> None:
        cluster, rng = self.cluster, self.rng
        down = [n.id for n in cluster.nodes if not n.running]
        up = [n.id for n in cluster.nodes if n.up]
        if rng.random() < self.power_cuts:
            await self.power_cut()
            return
        roll = rng.random()
        if down and roll < 0.4:
            node = rng.choice(down)
            self._note(f"restart node {node}")
            cluster.start(node)
        elif up and roll < 0.65 and len(cluster.nodes) - len(up) < (len(cluster.nodes) - 1) // 2:
            node = self._pick_victim(up)
            self._note(f"crash node {node}")
            await cluster.crash(node)
        elif roll < 0.85:
            sides = {n.id: rng.randrange(2) for n in cluster.nodes}
            self._note(f"partition {sorted(sides.items())}")
            cluster.network.partition(sides)
        else:
            self._note("heal")
            cluster.network.heal()

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
            if not node.running:
                self.cluster.start(node.id)

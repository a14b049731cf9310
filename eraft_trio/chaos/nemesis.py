"""The seeded nemesis: one process or network fault at a time, held a while, then healed.

Fault kinds: ``kill`` (kill -9, restart later from disk), ``pause`` (SIGSTOP, later
SIGCONT), ``partition`` (nftables cuts in one of several shapes) and ``clog``
(swizzle-clogging: cut links one by one, heal them in random order). Config changes
(``membership``: join, leave, move; membership.py) and changes of a group's own nodes
(``members``: replace, grow; member_nemesis.py) run beside it. For overlapping faults the runner runs
two nemeses at once, one for process faults and one for network faults: each heals
only its own fault (link cuts are counted), so they compose. The seed fixes every choice the nemesis
makes; which node leads when it asks is up to the cluster, so reruns are alike, not
identical.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import trio

from eraft_trio.chaos import partitions
from eraft_trio.chaos.events import EventLog
from eraft_trio.chaos.link_cuts import LinkCuts, both_ways
from eraft_trio.chaos.node_processes import NodeProcess, NodeSet
from eraft_trio.chaos.pacing import hold
from eraft_trio.chaos.topology import NodeSpec, Topology
from eraft_trio.group_calls.cluster_probe import ClusterProbe

PROCESS_FAULTS = ("kill", "pause")
NETWORK_FAULTS = ("partition", "clog")
ALL_FAULTS = (*PROCESS_FAULTS, *NETWORK_FAULTS, "membership", "members")

# Seconds between faults, and how long each is held. Long enough for an election
# (300-600 ms timeouts) and a client retry cycle to happen inside each window.
QUIET = (1.0, 4.0)
HOLD = (2.0, 8.0)


class Nemesis:
    def __init__(
        self,
        topology: Topology,
        nodes: NodeSet,
        cuts: LinkCuts | None,
        probe: ClusterProbe,
        events: EventLog,
        faults: frozenset[str],
        rng: random.Random,
    ) -> None:
        self.topology = topology
        self.nodes = nodes
        self.cuts = cuts
        self.probe = probe
        self.events = events
        self.rng = rng
        self.kinds = [kind for kind in (*PROCESS_FAULTS, *NETWORK_FAULTS) if kind in faults]
        if cuts is None:
            self.kinds = [kind for kind in self.kinds if kind in PROCESS_FAULTS]
        self._actions: dict[str, Callable[[trio.Event], Awaitable[None]]] = {
            "kill": self._kill,
            "pause": self._pause,
            "partition": self._partition,
            "clog": self._clog,
        }

    async def run(self, stop: trio.Event) -> None:
        """Inject faults until `stop` is set; every fault is healed before this returns."""
        if not self.kinds:
            return
        while await hold(stop, self.rng.uniform(*QUIET)):
            try:
                await self._actions[self.rng.choice(self.kinds)](stop)
            except BaseException:
                # Each fault heals itself when it ends normally; after an error or a
                # cancellation, heal everything rather than leave a fault behind.
                self.heal_all()
                raise

    def heal_all(self) -> None:
        """Every node running and resumed, every link up."""
        touched = self.nodes.heal_all()
        if touched:
            self.events.say(f"nemesis: resumed/restarted {', '.join(touched)}")
        if self.cuts is not None and self.cuts.cut_links:
            self.cuts.heal_all()
            self.events.say("nemesis: healed every link")

    # --- targets ---------------------------------------------------------------------------

    async def _victim(self) -> tuple[NodeSpec, str]:
        """Half the time a group's leader (where faults hurt most), else any node."""
        gid = self.rng.choice(self.topology.gids)
        if self.rng.random() < 0.5:
            members = self.topology.group_nodes(gid)
            leader = await self.probe.leader_of([node.address for node in members])
            for node in members:
                if node.address == leader:
                    return node, " (leader)"
        return self.rng.choice(self.topology.group_nodes(gid)), ""

    async def _victims(self) -> tuple[list[NodeSpec], str]:
        """One node (55%), one node of every group (20%), a whole group (15%) or every node (10%).

        Killing every node at once is the test of docs/reference.md §5's promise that an
        acknowledged write survives it: only what was fsynced comes back.
        """
        roll = self.rng.random()
        if roll < 0.55:
            node, note = await self._victim()
            return [node], note
        if roll < 0.75:
            picks = [self.rng.choice(self.topology.group_nodes(g)) for g in self.topology.gids]
            return picks, " (one per group)"
        if roll < 0.9:
            gid = self.rng.choice(self.topology.gids)
            return self.topology.group_nodes(gid), " (whole group)"
        return list(self.topology.nodes), " (every node)"

    def _processes(self, specs: list[NodeSpec]) -> list[NodeProcess]:
        return [self.nodes[spec.name] for spec in specs]

    # --- faults ----------------------------------------------------------------------------

    async def _kill(self, stop: trio.Event) -> None:
        specs, note = await self._victims()
        names = ", ".join(spec.name for spec in specs)
        for process in self._processes(specs):
            process.kill()
        self.events.fault("kill", f"kill -9 {names}{note}")
        await hold(stop, self.rng.uniform(*HOLD))
        for process in self._processes(specs):
            process.start()
        self.events.say(f"nemesis: restarted {names}")

    async def _pause(self, stop: trio.Event) -> None:
        specs, note = await self._victims()
        names = ", ".join(spec.name for spec in specs)
        for process in self._processes(specs):
            process.pause()
        self.events.fault("pause", f"SIGSTOP {names}{note}")
        await hold(stop, self.rng.uniform(*HOLD))
        for process in self._processes(specs):
            process.resume()
        self.events.say(f"nemesis: SIGCONT {names}")

    async def _partition(self, stop: trio.Event) -> None:
        assert self.cuts is not None
        shape = self.rng.choice(["isolate", "split", "config-off", "bridge", "halves"])
        if shape == "isolate":
            victim, note = await self._victim()
            what, links = partitions.isolate(self.topology, victim)
            what += note
        elif shape == "split":
            what, links = partitions.split_groups(self.topology, self.rng)
        elif shape == "config-off":
            what, links = partitions.config_off(self.topology)
        elif shape == "bridge":
            what, links = partitions.bridge(self.topology, self.rng)
        else:
            what, links = partitions.random_halves(self.topology, self.rng)
        self.cuts.cut(links)
        self.events.fault(f"partition:{shape}", f"partition: {what} ({len(links)} links cut)")
        await hold(stop, self.rng.uniform(*HOLD))
        self.cuts.heal(links)
        self.events.say(f"nemesis: healed partition ({what})")

    async def _clog(self, stop: trio.Event) -> None:
        """Swizzle-clog: cut links one at a time, hold, then heal them in another random order."""
        assert self.cuts is not None
        pairs = partitions.swizzle_links(self.topology, self.rng)
        self.events.fault("clog", f"swizzle-clog {len(pairs)} links, one by one")
        for pair in pairs:
            if stop.is_set():
                break
            self.cuts.cut(both_ways([pair]))
            await hold(stop, self.rng.uniform(0.05, 0.4))
        await hold(stop, self.rng.uniform(1.0, 4.0))
        self.rng.shuffle(pairs)
        for pair in pairs:
            self.cuts.heal(both_ways([pair]))
            if not stop.is_set():
                await hold(stop, self.rng.uniform(0.05, 0.4))
        self.events.say("nemesis: swizzle-clog healed")

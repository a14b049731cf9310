"""Fault plans and the nemesis that plays them: partitions, isolation, swizzle-clogging, crashes."""

from __future__ import annotations

import functools
import heapq
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from eraft_trio.raft.confchange import ConfChange
from eraft_trio.sim.membership_changes import propose_membership_change
from eraft_trio.sim.network import Link, NetworkFaults, SimNetwork
from eraft_trio.sim.node import CrashPoint, SimNode

FAULT_KINDS = ("drop", "dup", "delay", "reorder", "skew", "partition", "isolate", "clog", "crash")


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Which faults a run injects. Network rates apply all the time; the rest are events."""

    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    delay_max: int = 1
    long_delay_rate: float = 0.0
    reorder: bool = False
    tick_skip_rate: float = 0.0  # clock skew: a node misses this share of ticks
    partitions: bool = False
    isolation: bool = False
    clogging: bool = False
    crashes: bool = False
    # Membership changes proposed at the leader: add a learner, promote, remove, replace
    # (sim/membership_changes.py). Not part of `all` in parse_faults: a flag of its own
    # (tools/simulate.py --membership), so that the seeds of earlier runs replay as they were.
    membership: bool = False
    # Ticks between the starts of two fault events, and how long one lasts.
    event_gap: tuple[int, int] = (10, 60)
    event_length: tuple[int, int] = (5, 120)

    @property
    def has_events(self) -> bool:
        return self.partitions or self.isolation or self.clogging or self.crashes or self.membership

    def network_faults(self) -> NetworkFaults:
        return NetworkFaults(
            drop_rate=self.drop_rate,
            duplicate_rate=self.duplicate_rate,
            delay_max=self.delay_max,
            long_delay_rate=self.long_delay_rate,
            reorder=self.reorder,
        )


NO_FAULTS = FaultConfig()


def parse_faults(spec: str) -> FaultConfig:
    """`all`, `none`, or a comma list of FAULT_KINDS, e.g. `drop,partition,crash`."""
    kinds = set(FAULT_KINDS) if spec == "all" else {k for k in spec.split(",") if k and k != "none"}
    unknown = kinds - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}")
    return FaultConfig(
        drop_rate=0.05 if "drop" in kinds else 0.0,
        duplicate_rate=0.03 if "dup" in kinds else 0.0,
        delay_max=3 if "delay" in kinds else 1,
        long_delay_rate=0.02 if "delay" in kinds else 0.0,
        reorder="reorder" in kinds,
        tick_skip_rate=0.1 if "skew" in kinds else 0.0,
        partitions="partition" in kinds,
        isolation="isolate" in kinds,
        clogging="clog" in kinds,
        crashes="crash" in kinds,
    )


class NemesisTarget(Protocol):
    @property
    def network(self) -> SimNetwork: ...

    @property
    def nodes(self) -> Sequence[SimNode]: ...

    @property
    def now(self) -> int: ...

    def crash(self, node_id: int, point: CrashPoint | None = None) -> None: ...

    def restart(self, node_id: int) -> None: ...

    def leader(self) -> int | None: ...

    def add_node(self) -> int: ...

    def propose_conf_change(self, node_id: int, changes: list[ConfChange]) -> int | None: ...


@dataclass(slots=True)
class NemesisStats:
    partitions: int = 0
    isolations: int = 0
    clogs: int = 0
    crashes: int = 0
    restarts: int = 0
    membership_changes: int = 0  # proposed and accepted by a leader
    log: list[str] = field(default_factory=list)  # what happened when, for failure reports


class Nemesis:
    """Starts a random fault event every so often and undoes it later, all from one rng."""

    def __init__(self, target: NemesisTarget, rng: random.Random, config: FaultConfig) -> None:
        self._target = target
        self._rng = rng
        self._config = config
        self._agenda: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self._next_event = rng.randint(*config.event_gap)
        self.enabled = config.has_events
        self.stats = NemesisStats()

    def on_tick(self, now: int) -> None:
        while self._agenda and self._agenda[0][0] <= now:
            _, _, action = heapq.heappop(self._agenda)
            action()
        if self.enabled and now >= self._next_event:
            self._next_event = now + self._rng.randint(*self._config.event_gap)
            self._start_event()

    def stop(self) -> None:
        """No new events and forget pending undo actions (the caller heals everything)."""
        self.enabled = False
        self._agenda.clear()

    def _later(self, ticks: int, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._agenda, (self._target.now + ticks, self._seq, action))

    def _note(self, text: str) -> None:
        self.stats.log.append(f"tick {self._target.now}: {text}")

    def _length(self) -> int:
        return self._rng.randint(*self._config.event_length)

    def _start_event(self) -> None:
        c = self._config
        choices: list[Callable[[], None]] = []
        if c.partitions:
            choices.append(self._partition)
        if c.isolation:
            choices.append(self._isolate)
        if c.clogging:
            choices.append(self._swizzle_clog)
        if c.crashes:
            choices += [self._crash, self._crash]  # crashes are the most telling fault
        if c.membership:
            choices.append(self._change_membership)
        self._rng.choice(choices)()

    # --- network events ------------------------------------------------------------------

    def _cut_for_a_while(self, links: list[Link]) -> None:
        network = self._target.network
        for src, dst in links:
            network.cut(src, dst)

        def heal() -> None:
            for src, dst in links:
                network.heal(src, dst)

        self._later(self._length(), heal)

    def _partition(self) -> None:
        ids = [n.id for n in self._target.nodes]
        self._rng.shuffle(ids)
        split = self._rng.randint(1, len(ids) - 1)
        side_a, side_b = ids[:split], ids[split:]
        one_way = self._rng.random() < 0.2  # an asymmetric cut: a sends, never hears
        links = [(a, b) for a in side_a for b in side_b]
        if not one_way:
            links += [(b, a) for a, b in links]
        self.stats.partitions += 1
        self._note(f"partition {sorted(side_a)} | {sorted(side_b)}{' one-way' if one_way else ''}")
        self._cut_for_a_while(links)

    def _isolate(self) -> None:
        node = self._rng.choice(self._target.nodes).id
        others = [n.id for n in self._target.nodes if n.id != node]
        self.stats.isolations += 1
        self._note(f"isolate {node}")
        self._cut_for_a_while([(node, o) for o in others] + [(o, node) for o in others])

    def _swizzle_clog(self) -> None:
        """Cut a random subset of links one by one, then heal them in random order (FoundationDB)."""
        ids = [n.id for n in self._target.nodes]
        links = [(a, b) for a in ids for b in ids if a != b]
        chosen = self._rng.sample(links, self._rng.randint(1, len(links)))
        healing = chosen[:]
        self._rng.shuffle(healing)
        step = self._rng.randint(1, 8)
        network = self._target.network
        self.stats.clogs += 1
        self._note(f"swizzle-clog {chosen} every {step} ticks")
        for k, (src, dst) in enumerate(chosen):
            self._later(k * step, functools.partial(network.cut, src, dst))
        hold = len(chosen) * step + self._length()
        for k, (src, dst) in enumerate(healing):
            self._later(hold + k * step, functools.partial(network.heal, src, dst))

    # --- membership ------------------------------------------------------------------------

    def _change_membership(self) -> None:
        proposed = propose_membership_change(self._target, self._rng)
        if proposed is not None:
            text, accepted = proposed
            self.stats.membership_changes += accepted
            self._note(text)

    # --- crashes ---------------------------------------------------------------------------

    def _crash(self) -> None:
        target = self._target
        alive = [n for n in target.nodes if n.alive]
        if not alive:
            return
        victims = alive if self._rng.random() < 0.05 else [self._rng.choice(alive)]
        for node in victims:
            point = self._rng.choice([None, CrashPoint.BEFORE_WRITE, CrashPoint.AFTER_WRITE])
            incarnation = node.incarnation
            self.stats.crashes += 1
            self._note(f"crash {node.id} ({point.value if point else 'between steps'})")
            target.crash(node.id, point)
            if point is not None:
                # Armed crashes fire at the node's next Ready; if none comes, die anyway.
                self._later(3, functools.partial(self._finish_crash, node, incarnation))
            self._later(max(4, self._length()), functools.partial(self._restart, node))

    def _finish_crash(self, node: SimNode, incarnation: int) -> None:
        if node.alive and node.incarnation == incarnation:
            self._target.crash(node.id)

    def _restart(self, node: SimNode) -> None:
        if not node.alive:
            self.stats.restarts += 1
            self._note(f"restart {node.id}")
            self._target.restart(node.id)

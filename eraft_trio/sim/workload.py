"""Simulated clients: unique commands, ReadIndex reads and leadership transfers, mostly at the leader."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from eraft_trio.sim.node import SimNode
from eraft_trio.sim.reads import ReadRequest


class WorkloadTarget(Protocol):
    @property
    def nodes(self) -> Sequence[SimNode]: ...

    def leader(self) -> int | None: ...

    def next_command(self) -> bytes: ...

    def propose(self, node_id: int, commands: list[bytes]) -> tuple[int, int] | None: ...

    def read(self, node_id: int) -> ReadRequest | None: ...

    def transfer_leadership(self, node_id: int, target: int) -> bool: ...


@dataclass(frozen=True, slots=True)
class Workload:
    """Per tick: the chance of a proposal batch and of a read; batches of 1..max_batch."""

    propose_rate: float = 0.3
    read_rate: float = 0.1
    max_batch: int = 3
    # Share of requests sent to a random node instead of the leader (they get NotLeader,
    # as clients with a stale leader cache do).
    misdirected_rate: float = 0.1
    # An operator moving leadership (thesis §3.10), e.g. before a rolling restart.
    transfer_rate: float = 0.01

    def on_tick(self, target: WorkloadTarget, rng: random.Random) -> None:
        if rng.random() < self.propose_rate:
            node_id = self._pick(target, rng)
            if node_id is not None:
                batch = [target.next_command() for _ in range(rng.randint(1, self.max_batch))]
                target.propose(node_id, batch)
        if rng.random() < self.read_rate:
            node_id = self._pick(target, rng)
            if node_id is not None:
                target.read(node_id)
        if rng.random() < self.transfer_rate:
            leader = target.leader()
            others = [n.id for n in target.nodes if n.id != leader]
            if leader is not None and others:
                target.transfer_leadership(leader, rng.choice(others))

    def _pick(self, target: WorkloadTarget, rng: random.Random) -> int | None:
        leader = target.leader()
        if leader is not None and rng.random() >= self.misdirected_rate:
            return leader
        alive = [n.id for n in target.nodes if n.alive]
        return rng.choice(alive) if alive else None

"""One long random schedule of faults and clients on a fresh Simulation, from a seed."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eraft_trio.sim.faults import parse_faults
from eraft_trio.sim.simulation import Simulation
from eraft_trio.sim.violations import InvariantViolation
from eraft_trio.sim.workload import Workload


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """Everything that, with the seed, determines a run; `replay_command` prints it back."""

    nodes: int = 3
    faults: str = "all"
    steps: int = 3000
    compact_every: int | None = 20
    liveness: bool = True  # after the faults, heal and require a new commit everywhere
    senders_see_cut_links: bool = False
    raft_options: Mapping[str, Any] = field(default_factory=dict)
    membership: bool = False  # the membership nemesis too (sim/membership_changes.py)

    def replay_command(self, seed: int) -> str:
        words = [
            "python",
            "tools/simulate.py",
            "--seeds",
            "1",
            "--seed-start",
            str(seed),
            "--nodes",
            str(self.nodes),
            "--faults",
            self.faults,
            "--steps",
            str(self.steps),
            "--compact-every",
            str(self.compact_every or 0),
        ]
        if not self.liveness:
            words.append("--no-liveness")
        if self.senders_see_cut_links:
            words.append("--visible-cuts")
        if self.membership:
            words.append("--membership")
        for key, value in sorted(self.raft_options.items()):
            words += ["--raft", f"{key}={value}"]
        return shlex.join(words)


@dataclass(slots=True)
class ScheduleResult:
    seed: int
    ticks: int
    steps: int
    committed: int
    reads_served: int
    crashes: int
    snapshots_installed: int
    membership_changes: int
    violation: InvariantViolation | None
    fault_log: list[str]


def run_schedule(seed: int, spec: ScheduleSpec) -> ScheduleResult:
    """Run `spec.steps` random steps under faults, then (optionally) the liveness check."""
    sim = Simulation(
        spec.nodes,
        seed,
        faults=dataclasses.replace(parse_faults(spec.faults), membership=spec.membership),
        workload=Workload(),
        compact_every=spec.compact_every,
        raft_options=spec.raft_options,
        senders_see_cut_links=spec.senders_see_cut_links,
    )
    violation = None
    try:
        sim.run(spec.steps)
        if spec.liveness:
            sim.settle()
    except InvariantViolation as error:
        error.replay = spec.replay_command(seed)
        violation = error
    return ScheduleResult(
        seed=seed,
        ticks=sim.now,
        steps=sim.steps,
        committed=sim.checker.max_committed,
        reads_served=sim.reads.stats.served,
        crashes=sim.nemesis.stats.crashes,
        snapshots_installed=sim.network.stats.snapshots_delivered,
        membership_changes=sim.nemesis.stats.membership_changes,
        violation=violation,
        fault_log=sim.nemesis.stats.log,
    )

"""Figure 8 of the Raft paper, scripted step by step on the simulator (§5.4.2)."""

from __future__ import annotations

from eraft_trio.raft.types import Role
from eraft_trio.sim import Simulation
from eraft_trio.sim.figure8 import S1, S5, SCRIPT_OPTIONS, play_figure8


def test_figure8_old_term_entry_on_a_majority_is_not_committed() -> None:
    """§5.4.2: a leader never commits an older term's entry by counting replicas, so (d) is legal."""
    sim = Simulation(5, seed=70, raft_options=SCRIPT_OPTIONS)
    index, old_term = play_figure8(sim)
    # S1's entry sat on a majority during (c), yet it was never committed...
    assert sim.checker.max_committed < index
    # ...so S5 may replace it, and every server ends up agreeing on S5's entry.
    sim.restart(S1)
    final = sim.settle()
    core = sim.nodes[S5].core
    assert core is not None and core.role is Role.LEADER
    term_at_index = {d.term_at(index) for d in sim.disks}
    assert term_at_index == {sim.checker.committed_terms[index - 1]}
    assert sim.checker.committed_terms[index - 1] != old_term
    assert final > index

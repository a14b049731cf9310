"""Figure 8 of the Raft paper (§5.4.2) as a step-by-step script on the simulator.

Servers S1..S5 are nodes 0..4. Our leaders append a no-op when elected, so every index
is one more than in the paper's drawing, and the no-ops fill in the paper's blanks.
A correct core plays it through without a violation; a core that commits an older
term's entry by counting replicas breaks leader completeness at step (d).
"""

from __future__ import annotations

from eraft_trio.sim.simulation import Simulation

S1, S2, S3, S4, S5 = range(5)
# No spontaneous elections: the script decides who campaigns. Without check-quorum no
# voter ignores a candidate for having heard from a leader recently.
SCRIPT_OPTIONS = {
    "election_ticks_min": 400,
    "election_ticks_max": 800,
    "pre_vote": False,
    "check_quorum": False,
    "max_msg_bytes": 12,  # one command per AppendEntries, so entries arrive one by one
}
BIG = b"x" * 20  # larger than max_msg_bytes
LIMIT = 200  # ticks any scripted phase may take


def _elect(sim: Simulation, node: int) -> None:
    """Campaign at `node` until it leads (a first try may lose to a newer term)."""
    for _ in range(5):
        sim.campaign(node)
        if sim.run_until(lambda: sim.leader() == node, 20):
            return
    raise AssertionError(f"node {node} could not get elected\n{sim.describe()}")


def _match(sim: Simulation, leader: int, peer: int) -> int:
    core = sim.nodes[leader].core
    assert core is not None
    return int(core.status()["progress"][peer]["match"])


def play_figure8(sim: Simulation) -> tuple[int, int]:
    """Play (a)-(d); return (index, term) of S1's first command, which must never commit."""
    net = sim.network
    _elect(sim, S1)
    assert sim.run_until(lambda: all(d.machine.applied_index >= 1 for d in sim.disks), LIMIT)

    # (a) S1 leads and replicates its command to S2 only.
    for peer in (S3, S4, S5):
        net.cut(S1, peer)
    placed = sim.propose(S1, [BIG])
    assert placed is not None
    index = placed[0]
    assert sim.run_until(lambda: sim.disks[S2].entry(index) is not None, LIMIT)
    # (b) S1 crashes; S5 is elected by S3, S4 and itself, writes its no-op there, crashes.
    sim.crash(S1)
    net.heal_all()
    _elect(sim, S5)
    net.drop_all()
    sim.crash(S5)
    assert sim.disks[S5].term_at(index) not in (None, placed[1])
    # (c) S1 restarts, is elected, and copies its old-term entry to S3, a majority.
    sim.restart(S1)
    _elect(sim, S1)
    net.cut(S1, S4)

    def on_majority() -> bool:
        if _match(sim, S1, S3) >= index and not net.is_cut(S1, S3):
            # S3 must not also receive S1's new no-op, or S5 could not win (d).
            net.cut(S1, S3)
            net.drop_link(S1, S3)
        return _match(sim, S1, S2) >= index and _match(sim, S1, S3) >= index

    assert sim.run_until(on_majority, LIMIT)
    # ...and crashes before its own term's no-op reaches anyone.
    net.drop_all()
    sim.crash(S1)
    old_term = placed[1]
    assert [d.term_at(index) for d in sim.disks[:3]] == [old_term] * 3, "not on a majority"
    # (d) S5 restarts and is elected with S2, S3 and S4: it overwrites the entry.
    net.heal_all()
    sim.restart(S5)
    _elect(sim, S5)
    return index, old_term

"""Replication recovers from lost AppendEntries once the network heals (§5.3: leaders retry indefinitely)."""

from __future__ import annotations

from eraft_trio.sim import Simulation

MAX_INFLIGHT = 8


def _lose_a_full_window(*, visible: bool) -> tuple[Simulation, int, int]:
    """Elect a leader, then silently lose every AppendEntries to one follower for a while."""
    sim = Simulation(
        3, seed=50, raft_options={"max_inflight": MAX_INFLIGHT}, senders_see_cut_links=visible
    )
    assert sim.run_until(lambda: sim.leader() is not None, 10 * sim.election_ticks)
    leader = sim.leader()
    assert leader is not None
    sim.run_ticks(sim.election_ticks)  # the follower is in steady replication
    follower = (leader + 1) % 3
    sim.network.cut(leader, follower)
    last = 0
    for _ in range(2 * MAX_INFLIGHT):
        placed = sim.propose(leader, [sim.next_command()])
        assert placed is not None
        last = placed[0]
        sim.run(3)
    sim.network.heal(leader, follower)
    return sim, follower, last


def test_follower_catches_up_when_sender_saw_the_cut() -> None:
    """With the driver reporting the cut link (report_unreachable), the leader probes again (§5.3)."""
    sim, follower, last = _lose_a_full_window(visible=True)
    assert sim.run_until(
        lambda: sim.disks[follower].machine.applied_index >= last, 5 * sim.election_ticks
    )


def test_follower_catches_up_after_silent_loss() -> None:
    """Lost messages are only ever silent on a real network: the leader must still retry (§5.3)."""
    sim, follower, last = _lose_a_full_window(visible=False)
    assert sim.run_until(
        lambda: sim.disks[follower].machine.applied_index >= last, 20 * sim.election_ticks
    )

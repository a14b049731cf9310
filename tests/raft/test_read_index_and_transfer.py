"""ReadIndex reads and leadership transfer on the simulator (thesis §6.4 and §3.10)."""

from __future__ import annotations

import pytest

from eraft_trio.raft.errors import NotLeader
from eraft_trio.sim.harness import LabCluster, encode


def test_read_index_sees_every_committed_write() -> None:
    """Thesis §6.4: a read confirmed by a heartbeat round is served at or after every earlier commit."""
    cfg = LabCluster(3, seed=40)
    sim = cfg.sim
    leader = cfg.check_one_leader()
    for value in range(1, 6):
        index = cfg.one(value, cfg.n)
        request = sim.read(leader)
        assert request is not None
        assert sim.run_until_served(request, cfg.election_ticks)
        assert request.read_index is not None and request.read_index >= index
        # Served from a state that includes the write.
        assert int(sim.disks[leader].machine.history[index - 1].data) == value
    assert sim.reads.stats.served == 5


def test_read_index_only_at_the_leader() -> None:
    """Thesis §6.4: followers do not answer ReadIndex themselves (the core says NotLeader)."""
    cfg = LabCluster(3, seed=41)
    leader = cfg.check_one_leader()
    follower = (leader + 1) % cfg.n
    assert cfg.sim.read(follower) is None
    core = cfg.sim.nodes[follower].core
    assert core is not None
    with pytest.raises(NotLeader):
        core.read_index(12345)


def test_new_leader_delays_reads_until_its_noop_commits() -> None:
    """Thesis §6.4 step 1: a fresh leader's commit index may lag, so reads wait for its no-op."""
    cfg = LabCluster(3, seed=42)
    sim = cfg.sim
    old = cfg.check_one_leader()
    last = cfg.one(7, cfg.n)
    cfg.disconnect(old)
    assert sim.run_until(lambda: sim.leader() not in (None, old), 4 * cfg.election_ticks)
    leader = sim.leader()
    assert leader is not None
    request = sim.read(leader)  # asked at once, before the new term's no-op commits
    assert request is not None
    assert sim.run_until_served(request, 2 * cfg.election_ticks)
    assert request.read_index is not None and request.read_index > last


def test_deposed_leader_never_confirms_a_read() -> None:
    """Thesis §6.4: a leader cut off from its quorum cannot confirm a read, so it never serves stale data."""
    cfg = LabCluster(5, seed=43)
    sim = cfg.sim
    old = cfg.check_one_leader()
    cfg.one(1, cfg.n)
    cfg.disconnect(old)
    request = sim.read(old)  # it still believes it leads
    assert request is not None
    # The majority moves on and commits more.
    for value in range(2, 6):
        cfg.one(value, cfg.n - 1)
    cfg.wait_ticks(3 * cfg.election_ticks)
    assert request.read_index is None and request.served_at is None


def test_leadership_transfer() -> None:
    """Thesis §3.10: the leader hands off to an up-to-date target, which wins the next term at once."""
    cfg = LabCluster(3, seed=44)
    sim = cfg.sim
    leader = cfg.check_one_leader()
    term = cfg.term_of(leader)
    cfg.one(1, cfg.n)
    target = (leader + 1) % cfg.n
    assert sim.transfer_leadership(leader, target)
    # While handing off, the old leader refuses new proposals.
    assert sim.propose(leader, [encode(2)]) is None
    assert sim.run_until(lambda: sim.leader() == target, cfg.election_ticks)
    assert cfg.term_of(target) == term + 1
    cfg.one(3, cfg.n)


def test_leadership_transfer_to_a_lagging_follower() -> None:
    """Thesis §3.10: the leader first brings a lagging target up to date, then sends TimeoutNow."""
    cfg = LabCluster(3, seed=45)
    sim = cfg.sim
    leader = cfg.check_one_leader()
    target = (leader + 1) % cfg.n
    cfg.disconnect(target)
    for value in range(1, 11):
        cfg.one(value, cfg.n - 1)
    cfg.connect(target)
    assert sim.transfer_leadership(leader, target)
    assert sim.run_until(lambda: sim.leader() == target, 2 * cfg.election_ticks)
    assert sim.disks[target].machine.applied_index >= sim.checker.max_committed - 1
    assert sim.network.stats.by_type["TimeoutNow"] >= 1


def test_transfer_to_an_unreachable_target_times_out() -> None:
    """Thesis §3.10: if the target never catches up, the leader resumes taking proposals after a timeout."""
    cfg = LabCluster(3, seed=46)
    sim = cfg.sim
    leader = cfg.check_one_leader()
    target = (leader + 1) % cfg.n
    cfg.disconnect(target)
    cfg.one(1, cfg.n - 1)
    assert sim.transfer_leadership(leader, target)
    assert sim.propose(leader, [encode(2)]) is None
    cfg.wait_ticks(2 * cfg.election_ticks)
    assert sim.leader() == leader
    assert sim.propose(leader, [encode(3)]) is not None

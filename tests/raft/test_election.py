"""Leader election on the simulator: the 6.824 lab 2A tests, pre-vote and check-quorum."""

from __future__ import annotations

import random

import pytest

from eraft_trio.raft.config import ConfigError, RaftConfig
from eraft_trio.raft.core import RaftCore
from eraft_trio.raft.types import HardState, Heartbeat, Role
from eraft_trio.sim.harness import LabCluster


def test_initial_election() -> None:
    """Lab 2A TestInitialElection: one leader is elected and, with no failures, stays (§5.2)."""
    cfg = LabCluster(3, seed=1)
    cfg.check_one_leader()
    cfg.wait_ticks(2)
    term1 = cfg.check_terms()
    assert term1 >= 1
    cfg.wait_ticks(2 * cfg.election_ticks)
    assert cfg.check_terms() == term1, "term changed even though there were no failures"
    cfg.check_one_leader()


def test_re_election() -> None:
    """Lab 2A TestReElection: a new leader after the old one is cut off; none without a quorum (§5.2)."""
    cfg = LabCluster(3, seed=2)
    n = cfg.n
    leader1 = cfg.check_one_leader()
    cfg.disconnect(leader1)
    cfg.check_one_leader()
    # The old leader rejoins: it must not disturb the new one.
    cfg.connect(leader1)
    leader2 = cfg.check_one_leader()
    # No quorum: no leader may be elected.
    cfg.disconnect(leader2)
    cfg.disconnect((leader2 + 1) % n)
    cfg.wait_ticks(2 * cfg.election_ticks)
    cfg.check_no_leader()
    # A quorum again: a leader is elected.
    cfg.connect((leader2 + 1) % n)
    cfg.check_one_leader()
    cfg.connect(leader2)
    cfg.check_one_leader()


def test_many_elections() -> None:
    """Lab 2A TestManyElections: 7 servers, 10 rounds of cutting off 3 at random (§5.2)."""
    cfg = LabCluster(7, seed=3)
    cfg.check_one_leader()
    for _ in range(10):
        victims = [cfg.rng.randrange(cfg.n) for _ in range(3)]
        for v in victims:
            cfg.disconnect(v)
        # Either the old leader is still alive or the remaining 4+ elect a new one.
        cfg.check_one_leader()
        for v in victims:
            cfg.connect(v)
    cfg.check_one_leader()


def test_rejoining_node_does_not_disrupt_stable_leader() -> None:
    """Pre-vote (thesis §9.6): a partitioned follower neither inflates its term nor deposes the leader."""
    cfg = LabCluster(5, seed=4)
    leader = cfg.check_one_leader()
    term = cfg.check_terms()
    follower = (leader + 1) % cfg.n
    cfg.disconnect(follower)
    cfg.wait_ticks(10 * cfg.election_ticks)
    # Its pre-votes all failed, so it never started a real election.
    assert cfg.term_of(follower) == term
    cfg.connect(follower)
    cfg.wait_ticks(5 * cfg.election_ticks)
    assert cfg.check_one_leader() == leader
    assert cfg.check_terms() == term


def test_rejoining_node_without_pre_vote_forces_one_election() -> None:
    """The contrast (thesis §9.6): without pre-vote an isolated node inflates its term, and
    on rejoining its stale-leader answer makes the leader step down; the cluster then
    elects again at the higher term and keeps committing.
    """
    cfg = LabCluster(5, seed=5, raft_options={"pre_vote": False})
    leader = cfg.check_one_leader()
    term = cfg.check_terms()
    follower = (leader + 1) % cfg.n
    cfg.disconnect(follower)
    cfg.wait_ticks(6 * cfg.election_ticks)
    assert cfg.term_of(follower) > term + 1, "an isolated candidate keeps campaigning"
    cfg.connect(follower)
    cfg.wait_ticks(5 * cfg.election_ticks)
    cfg.check_one_leader()
    assert cfg.check_terms() > term
    cfg.one(101, cfg.n, retry=True)


def test_leader_cut_off_from_quorum_steps_down() -> None:
    """Check-quorum (thesis §6.2): a leader that hears from no majority for an election timeout steps down."""
    cfg = LabCluster(3, seed=6)
    leader = cfg.check_one_leader()
    cfg.disconnect(leader)
    cfg.wait_ticks(3 * cfg.election_ticks)
    core = cfg.sim.nodes[leader].core
    assert core is not None
    assert core.role is not Role.LEADER
    # Meanwhile the majority elected someone else.
    cfg.check_one_leader()


def test_leader_without_check_quorum_keeps_believing() -> None:
    """The contrast: without check-quorum, the same cut-off leader still thinks it leads (§5.2 alone)."""
    cfg = LabCluster(3, seed=6, raft_options={"check_quorum": False})
    leader = cfg.check_one_leader()
    cfg.disconnect(leader)
    cfg.wait_ticks(3 * cfg.election_ticks)
    core = cfg.sim.nodes[leader].core
    assert core is not None
    assert core.role is Role.LEADER


def test_first_election_comes_within_the_first_election_window() -> None:
    """A whole group restarting elects soon (issue 12): the first timeout is drawn from
    first_election_ticks, every later one from the usual range."""
    config = RaftConfig(
        id=0,
        peers=(0, 1, 2),
        heartbeat_ticks=5,
        election_ticks_min=30,
        election_ticks_max=60,
        first_election_ticks=(10, 15),
    )
    for seed in range(20):
        core = RaftCore(config, random.Random(seed))
        ticks = 0
        while core.role is Role.FOLLOWER:
            core.tick()
            ticks += 1
        assert 10 <= ticks <= 15, (seed, ticks)


def test_a_first_election_window_inside_a_heartbeat_is_refused() -> None:
    """Campaigning before a live leader's heartbeat could arrive would disturb it."""
    with pytest.raises(ConfigError, match="first_election_ticks"):
        RaftConfig(id=0, peers=(0, 1, 2), heartbeat_ticks=5, first_election_ticks=(5, 8))


def test_the_first_election_window_ends_once_a_leader_is_heard() -> None:
    """Regression (review): a node restarted into its old term kept the short start-up
    timeout, so any heartbeat a little late started a pre-vote."""
    config = RaftConfig(
        id=1,
        peers=(0, 1, 2),
        heartbeat_ticks=5,
        election_ticks_min=30,
        election_ticks_max=60,
        first_election_ticks=(10, 15),
    )
    core = RaftCore(config, random.Random(3), hard_state=HardState(term=1))  # restarted
    core.step(Heartbeat(term=1, src=0, dst=1, commit=0, read_seq=0))  # the same term
    for _ in range(29):
        core.tick()
    assert core.role is Role.FOLLOWER

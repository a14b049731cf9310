"""Membership change on the simulator: changes under faults stay safe, and the checker
catches a core that counts a learner's ack or skips joint consensus."""

from __future__ import annotations

import pytest

from eraft_trio.raft.confchange import ConfChange
from eraft_trio.raft.membership import Membership
from eraft_trio.raft.quorum import JointConfig, VoteResult
from eraft_trio.sim import InvariantViolation, Simulation
from eraft_trio.sim import violations as v
from eraft_trio.sim.schedule import ScheduleSpec, run_schedule


def _change(sim: Simulation, *words: str) -> None:
    leader = sim.leader()
    assert leader is not None
    index = sim.propose_conf_change(leader, [ConfChange.parse(w) for w in words])
    assert index is not None
    assert sim.run_until(lambda: sim.checker.max_committed >= index, 200)


def _isolate_from(sim: Simulation, node: int, others: list[int]) -> None:
    for other in others:
        sim.network.cut(node, other)
        sim.network.cut(other, node)


def _with_two_caught_up_learners() -> Simulation:
    sim = Simulation(3, seed=5)
    sim.settle()
    sim.add_node()
    sim.add_node()
    _change(sim, "l3")
    _change(sim, "l4")
    sim.settle()  # the learners apply it too: they are members
    return sim


def _learner_ack_counts(sim: Simulation) -> None:
    """As a leader that cut off from the other voters keeps committing with learners."""
    leader = sim.leader()
    assert leader is not None
    voters = [n for n in (0, 1, 2) if n != leader]
    _isolate_from(sim, leader, voters)
    for _ in range(5):
        sim.propose(leader, [sim.next_command()])
        sim.run_ticks(3)


def test_a_learner_ack_does_not_commit() -> None:
    sim = _with_two_caught_up_learners()
    before = sim.checker.max_committed
    _learner_ack_counts(sim)
    assert sim.checker.max_committed == before
    sim.settle()


def test_the_checker_catches_a_learner_ack_counted_toward_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def quorum_with_learners(self: Membership) -> JointConfig:
        return JointConfig.of(self.voters | self.learners, self.outgoing)

    monkeypatch.setattr(Membership, "quorum", quorum_with_learners)
    sim = _with_two_caught_up_learners()
    with pytest.raises(InvariantViolation) as caught:
        _learner_ack_counts(sim)
    assert caught.value.invariant == v.COMMITTED_NEVER_LOST


def _swap_two_voters_behind_their_backs(sim: Simulation) -> None:
    """Leader 0 swaps voters 1 and 2 for the learners 3 and 4 while cut off from 1 and 2;
    then 0 dies and 1 and 2, which never heard of the change, elect one of themselves."""
    leader = sim.leader()
    assert leader is not None
    old = [n for n in (0, 1, 2) if n != leader]
    _isolate_from(sim, leader, old)
    sim.propose_conf_change(
        leader, [ConfChange.parse(w) for w in (f"r{old[0]}", f"r{old[1]}", "v3", "v4")]
    )
    for _ in range(5):
        sim.propose(leader, [sim.next_command()])
        sim.run_ticks(3)
    sim.crash(leader)
    for other in old:
        for new in (3, 4):
            _isolate_from(sim, other, [new])
    sim.run_until(lambda: sim.leader() in old, 400)
    new_leader = sim.leader()
    assert new_leader is not None
    for _ in range(5):
        sim.propose(new_leader, [sim.next_command()])
        sim.run_ticks(3)


def test_a_two_voter_swap_goes_through_joint_consensus() -> None:
    sim = _with_two_caught_up_learners()
    before = sim.checker.max_committed
    leader = sim.leader()
    assert leader is not None
    old = [n for n in (0, 1, 2) if n != leader]
    _isolate_from(sim, leader, old)
    sim.propose_conf_change(
        leader, [ConfChange.parse(w) for w in (f"r{old[0]}", f"r{old[1]}", "v3", "v4")]
    )
    sim.run_ticks(30)
    assert sim.checker.max_committed == before  # the old voters must agree too
    sim.settle()


def test_the_checker_catches_a_new_membership_without_joint_consensus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def incoming_commit(self: JointConfig, acked: dict[int, int]) -> int:
        return self.incoming.committed_index(acked)

    def incoming_vote(self: JointConfig, votes: dict[int, bool]) -> VoteResult:
        return self.incoming.vote_result(votes)

    monkeypatch.setattr(JointConfig, "committed_index", incoming_commit)
    monkeypatch.setattr(JointConfig, "vote_result", incoming_vote)
    sim = _with_two_caught_up_learners()
    with pytest.raises(InvariantViolation) as caught:
        _swap_two_voters_behind_their_backs(sim)
    # Which invariant breaks first depends on the order of events; each is a lost write.
    assert caught.value.invariant in (
        v.STATE_MACHINE_SAFETY,
        v.COMMITTED_NEVER_LOST,
        v.LEADER_COMPLETENESS,
    )


def test_membership_changes_under_every_fault_few_seeds() -> None:
    spec = ScheduleSpec(membership=True, steps=2000)
    changes = 0
    for seed in range(15):
        result = run_schedule(seed, spec)
        assert result.violation is None, str(result.violation)
        changes += result.membership_changes
    assert changes > 10  # the nemesis did change memberships

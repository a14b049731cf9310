"""Membership change in the core, one rule per test: who votes, who counts for commit,
when a membership is in force, and how it survives truncation, snapshots and restarts."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest

from eraft_trio.raft.confchange import ConfChange
from eraft_trio.raft.config import RaftConfig
from eraft_trio.raft.core import RaftCore
from eraft_trio.raft.membership import Membership, MembershipError
from eraft_trio.raft.types import (
    AppendEntries,
    Entry,
    EntryKind,
    HardState,
    Message,
    RequestVote,
    Role,
    SnapshotMeta,
    VoteResponse,
)

ELECTION = 10


def _config(node: int, peers: tuple[int, ...], check_quorum: bool = True) -> RaftConfig:
    return RaftConfig(
        node,
        peers,
        join=not peers,
        check_quorum=check_quorum,
        heartbeat_ticks=1,
        election_ticks_min=ELECTION,
        election_ticks_max=ELECTION,
    )


class Net:
    """Bare cores, a perfect network that moves only when asked, and cut nodes."""

    def __init__(self, voters: int, joiners: Iterable[int] = (), check_quorum: bool = True) -> None:
        ids = tuple(range(1, voters + 1))
        self.cores = {i: RaftCore(_config(i, ids, check_quorum), random.Random(i)) for i in ids}
        for j in joiners:
            self.cores[j] = RaftCore(_config(j, ()), random.Random(j))
        self.cut: set[int] = set()
        self.inbox: list[Message] = []

    def stabilize(self) -> None:
        for _ in range(1000):
            busy = False
            for core in self.cores.values():
                if core.has_ready():
                    rd = core.ready()
                    self.inbox += rd.messages + rd.persisted_messages
                    core.advance(rd)
                    busy = True
            msgs, self.inbox = self.inbox, []
            for m in msgs:
                busy = True
                if m.src not in self.cut and m.dst not in self.cut and m.dst in self.cores:
                    self.cores[m.dst].step(m)
            if not busy:
                return
        raise AssertionError("no fixed point")

    def heal(self) -> None:
        """Reconnect everyone and let a few heartbeats resend what was lost."""
        self.cut = set()
        for _ in range(3):
            for core in self.cores.values():
                if core.role is Role.LEADER:
                    core.tick()
            self.stabilize()

    def elect(self, node: int) -> RaftCore:
        self.cores[node].campaign()
        self.stabilize()
        assert self.cores[node].role is Role.LEADER
        return self.cores[node]

    def change(self, leader: int, *words: str) -> int:
        index, _ = self.cores[leader].propose_conf_change([ConfChange.parse(w) for w in words])
        self.stabilize()
        return index


def test_a_learner_never_campaigns_and_its_ack_does_not_commit() -> None:
    net = Net(3, joiners=[4])
    leader = net.elect(1)
    net.change(1, "l4")
    assert net.cores[4].membership == Membership.of([1, 2, 3], [4])
    net.cut = {2, 3}
    index, _ = leader.propose([b"x"])
    net.stabilize()
    assert net.cores[4].last_index >= index  # the learner holds it...
    assert leader.commit < index  # ...but only voters count
    for _ in range(3 * ELECTION):
        net.cores[4].tick()
    net.stabilize()
    assert net.cores[4].role is Role.FOLLOWER and net.cores[4].term == leader.term


def test_a_joining_node_learns_its_membership_from_the_log() -> None:
    net = Net(3, joiners=[4])
    assert net.cores[4].membership.voters == frozenset()
    net.cores[4].campaign()  # nobody's voter: nothing happens
    assert net.cores[4].role is Role.FOLLOWER and not net.cores[4].has_ready()
    net.elect(1)
    net.change(1, "v4")
    assert net.cores[4].membership == Membership.of([1, 2, 3, 4])


def test_one_change_at_a_time() -> None:
    net = Net(3, joiners=[4, 5])
    leader = net.elect(1)
    net.cut = {2, 3}
    leader.propose_conf_change([ConfChange.parse("l4")])
    with pytest.raises(MembershipError, match="not committed yet"):
        leader.propose_conf_change([ConfChange.parse("l5")])
    net.heal()
    leader.propose_conf_change([ConfChange.parse("l5")])


def test_joint_commit_needs_both_majorities() -> None:
    net = Net(3, joiners=[4, 5])
    leader = net.elect(1)
    net.change(1, "l4", "l5")
    net.stabilize()
    net.cut = {4, 5}
    # Swap 2 and 3 for 4 and 5: the old voters alone hold the joint entry but cannot
    # commit it, nor anything after it.
    index, _ = leader.propose_conf_change([ConfChange.parse(w) for w in ("r2", "r3", "v4", "v5")])
    net.stabilize()
    assert leader.membership.joint and leader.commit < index
    assert net.cores[2].last_index >= index
    net.heal()
    assert leader.membership == Membership.of([1, 4, 5])  # left by itself once committed
    assert leader.commit == leader.last_index


def test_joint_election_needs_both_majorities() -> None:
    net = Net(3, joiners=[4, 5])
    net.elect(1)
    net.change(1, "l4", "l5")
    net.cut = {4, 5}
    net.cores[1].propose_conf_change([ConfChange.parse(w) for w in ("r2", "r3", "v4", "v5")])
    net.stabilize()
    # Node 2 has the joint membership; 1 and 3 would vote for it, but 4 and 5 cannot.
    assert net.cores[2].membership.joint
    net.cut = {1, 4, 5}
    for _ in range(3 * ELECTION):
        for core in net.cores.values():
            core.tick()
        net.stabilize()
    assert all(c.role is not Role.LEADER for i, c in net.cores.items() if i != 1)


def test_check_quorum_and_reads_use_the_joint_membership() -> None:
    net = Net(3, joiners=[4, 5])
    leader = net.elect(1)
    net.change(1, "l4", "l5")
    net.cut = {4, 5}
    leader.propose_conf_change([ConfChange.parse(w) for w in ("r2", "r3", "v4", "v5")])
    net.stabilize()
    # The old voters answer, the new ones cannot: no read is confirmed...
    leader.read_index(7)
    net.stabilize()
    assert not leader.has_ready() or not leader.ready().read_states
    # ...and after an election timeout without the incoming majority, the leader steps down.
    for _ in range(2 * ELECTION):
        leader.tick()
        net.stabilize()
    assert leader.role is not Role.LEADER


def test_a_replaced_tail_takes_its_membership_with_it() -> None:
    # Without check-quorum, so that the new candidate need not wait out leader leases.
    net = Net(5, joiners=[6], check_quorum=False)
    net.elect(1)
    net.cut = {3, 4, 5, 6}  # the change reaches node 2 only
    net.cores[1].propose_conf_change([ConfChange.parse("l6")])
    net.stabilize()
    assert net.cores[2].membership.learners == {6}
    # Node 3 leads a new term with 4 and 5, without the entry, and overwrites 2's tail.
    net.cut = {1, 6}
    net.elect(3)
    net.cores[3].propose([b"after"])
    net.stabilize()
    assert net.cores[2].membership == Membership.of([1, 2, 3, 4, 5])
    assert net.cores[2].last_index == net.cores[3].last_index


def test_a_snapshot_carries_the_membership() -> None:
    net = Net(3, joiners=[4])
    leader = net.elect(1)
    net.change(1, "v4")
    leader.compact(leader.applied)
    assert leader.snapshot.membership == Membership.of([1, 2, 3, 4])
    # A core restarted from that snapshot alone is in the same membership.
    again = RaftCore(
        _config(1, (1, 2, 3)),
        random.Random(0),
        hard_state=leader.hard_state,
        snapshot=leader.snapshot,
        applied=leader.snapshot.index,
    )
    assert again.membership == Membership.of([1, 2, 3, 4])


def test_a_new_node_behind_a_compacted_log_gets_the_membership_by_snapshot() -> None:
    net = Net(3, joiners=[4])
    leader = net.elect(1)
    net.change(1, "r3")
    leader.compact(leader.applied)
    net.change(1, "l4")
    assert net.cores[4].snapshot.membership == Membership.of([1, 2])
    assert net.cores[4].membership == Membership.of([1, 2], [4])


def test_a_restart_finds_the_membership_in_the_log() -> None:
    entries = [
        Entry(1, 1, b"", EntryKind.NOOP),
        Entry(1, 2, Membership.of([1, 2], [3]).encode(), EntryKind.CONF_CHANGE),
    ]
    core = RaftCore(
        _config(1, (1, 2, 3)),
        random.Random(0),
        hard_state=HardState(1, 1, 2),
        snapshot=SnapshotMeta(),
        entries=entries,
    )
    assert core.membership == Membership.of([1, 2], [3])
    assert core.membership_at(1) is None  # still the bootstrap membership there


def test_a_removed_leader_steps_down_once_the_change_commits() -> None:
    net = Net(3)
    leader = net.elect(1)
    net.cut = {2, 3}
    leader.propose_conf_change([ConfChange.parse("r1")])
    net.stabilize()
    assert leader.role is Role.LEADER  # it manages the group until the change commits
    net.heal()
    assert leader.role is Role.FOLLOWER
    new = [c for c in net.cores.values() if c.role is Role.LEADER]
    assert [c.id for c in new] in ([2], [3])  # handed off at once, not after a timeout
    assert new[0].membership == Membership.of([2, 3])


def test_leadership_goes_only_to_voters() -> None:
    net = Net(3, joiners=[4])
    leader = net.elect(1)
    net.change(1, "l4")
    with pytest.raises(ValueError, match="not another voter"):
        leader.transfer_leadership(4)


def test_a_node_removed_by_an_uncommitted_change_may_still_campaign() -> None:
    # Found by the simulator: leader 2 of {1, 2} proposes removing itself and loses
    # leadership before the change commits. It holds entries node 1 lacks, so node 1
    # cannot win without its vote, which it refuses; node 2 must not sit out for being
    # no voter in its own log.
    net = Net(2)
    net.elect(2)
    net.cut = {1}
    net.cores[2].propose([b"only on 2"])
    net.cores[2].propose_conf_change([ConfChange.parse("r2")])
    net.stabilize()
    assert 2 not in net.cores[2].membership.voters
    for _ in range(2 * ELECTION):  # check-quorum: node 2 stops leading
        net.cores[2].tick()
        net.stabilize()
    assert net.cores[2].role is not Role.LEADER
    net.cut = set()
    for _ in range(4 * ELECTION):
        for core in net.cores.values():
            core.tick()
        net.stabilize()
    # Node 2 led again, committed its removal with node 1's ack and handed off to node 1.
    assert net.cores[2].role is Role.FOLLOWER
    assert net.cores[1].role is Role.LEADER
    assert net.cores[1].membership == Membership.of([1])
    assert net.cores[1].commit == net.cores[1].last_index


def test_the_answer_that_commits_a_joint_change_may_come_from_a_node_it_removes() -> None:
    # Found by the simulator: the append answer from node 3 commits the joint entry that
    # removes it; the leader leaves the joint membership at once and must not go on
    # sending to 3 as if it still tracked it.
    net = Net(3, joiners=[4])
    leader = net.elect(1)
    net.change(1, "l4")
    net.cut = {2, 3}  # 4 acknowledges the joint entry first...
    leader.propose_conf_change([ConfChange.parse("r3"), ConfChange.parse("v4")])
    net.stabilize()
    assert leader.membership.joint
    net.cut = {2}  # ...and 3's answer commits it
    for _ in range(3):
        leader.tick()
        net.stabilize()
    net.heal()
    assert leader.membership == Membership.of([1, 2, 4])
    assert leader.commit == leader.last_index


def test_a_learner_lets_its_leader_lease_run_out() -> None:
    # Found by the simulator (seed 1832 of --membership): a learner never campaigns, but
    # its election clock must still run out its leader lease, or it refuses forever the
    # votes of a voter whose new membership needs it.
    net = Net(3, joiners=[4])
    net.elect(1)
    net.change(1, "l4")
    learner = net.cores[4]
    assert learner.leader == 1
    for _ in range(3 * ELECTION):
        learner.tick()
    assert learner.status()["elections"]["pre-vote"] == 0  # it never campaigned...
    # ...and a pre-vote from a node with a longer log now gets its grant.
    learner.step(RequestVote(2, 2, 4, 99, 99, pre_vote=True))
    rd = learner.ready()
    granted = [m for m in rd.messages + rd.persisted_messages if isinstance(m, VoteResponse)]
    assert granted and granted[0].granted


def test_a_new_leader_changes_membership_only_after_an_entry_of_its_term_commits() -> None:
    """Regression (review; Ongaro, raft-dev 2015): a leader that has not committed an entry
    of its own term may not know of a change an earlier leader appended; proposing its own
    could let two leaders commit different entries at one index."""
    net = Net(3, check_quorum=False)  # no leader lease: node 2 may take over at once
    net.elect(1)
    core = net.cores[2]
    core.campaign()
    # Deliver one round at a time, and stop as soon as node 2 leads: its no-op is
    # appended but not yet committed.
    for _ in range(10):
        if core.role is Role.LEADER:
            break
        for each in net.cores.values():
            if each.has_ready():
                rd = each.ready()
                net.inbox += rd.messages + rd.persisted_messages
                each.advance(rd)
        msgs, net.inbox = net.inbox, []
        for m in msgs:
            net.cores[m.dst].step(m)
    assert core.role is Role.LEADER
    assert core.log.term(core.log.commit) != core.term
    with pytest.raises(MembershipError, match="no entry of this term"):
        core.propose_conf_change([ConfChange.parse("r3")])
    net.stabilize()  # the no-op commits: now it may
    net.change(2, "r3")
    assert 3 not in net.cores[2].membership.voters


def test_a_sole_voter_sends_nothing_in_a_term_it_has_not_persisted() -> None:
    """Regression (review): a sole voter wins on its own vote at once; its appends to a
    learner left before the new term was durable, so after a crash it could lead the same
    term again and send the learner other entries at the same index and term."""
    net = Net(1, joiners=[2])
    net.elect(1)
    net.change(1, "l2")
    before = net.cores[1]
    # The node restarts from what it persisted and campaigns in the next term.
    core = RaftCore(
        _config(1, (1,)),
        random.Random(7),
        hard_state=before.hard_state,
        entries=list(before.log.entries),
    )
    core.campaign()
    assert core.role is Role.LEADER and core.term == before.term + 1
    rd = core.ready()  # its write of the new term has begun, and not ended
    early = rd.messages + core.take_messages()
    assert not [m for m in early if m.term == core.term and isinstance(m, AppendEntries)]
    assert [m for m in rd.persisted_messages if isinstance(m, AppendEntries)]
    core.advance(rd)

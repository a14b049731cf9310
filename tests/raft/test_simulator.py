"""The simulator itself: seeds replay exactly, faults behave as specified, and checkers catch planted bugs."""

from __future__ import annotations

import random

import pytest

from eraft_trio.raft import core as raft_core
from eraft_trio.raft.core import RaftCore
from eraft_trio.raft.errors import NotLeader
from eraft_trio.raft.log import RaftLog
from eraft_trio.raft.types import (
    AppendEntries,
    AppendResponse,
    Heartbeat,
    ReadState,
    Role,
    VoteResponse,
)
from eraft_trio.sim import CrashPoint, InvariantViolation, Simulation, Workload, parse_faults
from eraft_trio.sim import violations as v
from eraft_trio.sim.figure8 import SCRIPT_OPTIONS, play_figure8
from eraft_trio.sim.network import NetworkFaults, SimNetwork
from eraft_trio.sim.schedule import ScheduleSpec, run_schedule

# --- determinism ---------------------------------------------------------------------------


def _fingerprint(seed: int) -> tuple[object, ...]:
    sim = Simulation(5, seed, faults=parse_faults("all"), workload=Workload())
    sim.run(1500)
    return (
        sim.now,
        sim.checker.max_committed,
        tuple(sim.checker.applied),
        tuple(sorted(sim.network.stats.by_type.items())),
        tuple(sim.nemesis.stats.log),
        sim.describe(),
    )


def test_a_seed_replays_exactly() -> None:
    assert _fingerprint(7) == _fingerprint(7)


def test_different_seeds_differ() -> None:
    assert _fingerprint(7) != _fingerprint(8)


def test_schedule_replay_command_names_every_parameter() -> None:
    spec = ScheduleSpec(nodes=5, faults="drop,crash", steps=10, raft_options={"pre_vote": False})
    command = spec.replay_command(42)
    for word in (
        "--seed-start 42",
        "--nodes 5",
        "--faults drop,crash",
        "--steps 10",
        "pre_vote=False",
    ):
        assert word in command


# --- the network ---------------------------------------------------------------------------


def _heartbeat(src: int, dst: int, commit: int) -> Heartbeat:
    return Heartbeat(term=1, src=src, dst=dst, commit=commit)


def test_links_deliver_in_order_unless_reordering() -> None:
    net = SimNetwork(random.Random(1), NetworkFaults(delay_max=5))
    for k in range(50):
        net.send(_heartbeat(0, 1, k), now=0, incarnation=1)
    got = []
    while (env := net.pop_deliverable(now=100)) is not None:
        assert isinstance(env.msg, Heartbeat)
        got.append(env.msg.commit)
    assert got == list(range(50))

    net = SimNetwork(random.Random(1), NetworkFaults(delay_max=5, reorder=True))
    for k in range(50):
        net.send(_heartbeat(0, 1, k), now=0, incarnation=1)
    got = []
    while (env := net.pop_deliverable(now=100)) is not None:
        assert isinstance(env.msg, Heartbeat)
        got.append(env.msg.commit)
    assert sorted(got) == list(range(50)) and got != list(range(50))


def test_cut_links_drop_and_delays_hold_messages_back() -> None:
    net = SimNetwork(random.Random(2), NetworkFaults(delay_min=3, delay_max=3))
    net.cut(0, 1)
    assert not net.send(_heartbeat(0, 1, 1), now=0, incarnation=1)
    assert net.send(_heartbeat(1, 0, 1), now=0, incarnation=1)  # cuts are one-way
    assert net.pop_deliverable(now=2) is None
    assert net.pop_deliverable(now=3) is not None
    net.heal(0, 1)
    assert net.send(_heartbeat(0, 1, 2), now=0, incarnation=1)


def test_drop_and_duplicate_rates() -> None:
    net = SimNetwork(random.Random(3), NetworkFaults(drop_rate=0.5, duplicate_rate=0.5))
    for k in range(1000):
        net.send(_heartbeat(0, 1, k), now=0, incarnation=1)
    assert 400 < net.stats.dropped < 600
    assert 150 < net.stats.duplicated < 350
    assert len(net.inflight()) == 1000 - net.stats.dropped + net.stats.duplicated


# --- crashes -------------------------------------------------------------------------------


def _elected(seed: int) -> tuple[Simulation, int]:
    sim = Simulation(3, seed)
    assert sim.run_until(lambda: sim.leader() is not None, 10 * sim.election_ticks)
    leader = sim.leader()
    assert leader is not None
    sim.run_ticks(5)
    return sim, leader


def test_crash_before_write_loses_the_ready() -> None:
    sim, leader = _elected(60)
    disk = sim.disks[leader]
    before = disk.last_index
    appends = sim.network.stats.by_type["AppendEntries"]
    sim.crash(leader, CrashPoint.BEFORE_WRITE)
    assert sim.propose(leader, [b"lost"]) is not None
    assert not sim.nodes[leader].alive
    # The leader's AppendEntries left before the write (thesis §10.2.1), the write did not.
    assert sim.network.stats.by_type["AppendEntries"] > appends
    assert disk.last_index == before
    sim.restart(leader)
    assert sim.nodes[leader].alive and sim.disks[leader].last_index == before


def test_crash_after_write_keeps_the_ready_but_not_its_acks() -> None:
    sim, leader = _elected(61)
    follower = (leader + 1) % 3
    placed = sim.propose(leader, [b"kept"])
    assert placed is not None
    append = next(
        e.msg
        for e in sim.network.inflight()
        if isinstance(e.msg, AppendEntries) and e.msg.dst == follower and e.msg.entries
    )
    acks = sim.network.stats.by_type["AppendResponse"]
    sim.crash(follower, CrashPoint.AFTER_WRITE)
    sim.nodes[follower].deliver(append, None)
    assert not sim.nodes[follower].alive
    assert sim.disks[follower].entry(placed[0]) is not None  # written...
    assert sim.network.stats.by_type["AppendResponse"] == acks  # ...but never acknowledged


def test_not_leader_proposals_return_none() -> None:
    sim, leader = _elected(62)
    follower = (leader + 1) % 3
    assert sim.propose(follower, [b"x"]) is None
    core = sim.nodes[follower].core
    assert core is not None and core.role is Role.FOLLOWER
    with pytest.raises(NotLeader):
        core.propose([b"x"])


# --- planted bugs: each checker can fail -------------------------------------------------


def _first_violation(spec: ScheduleSpec, seeds: range) -> InvariantViolation | None:
    for seed in seeds:
        result = run_schedule(seed, spec)
        if result.violation is not None:
            return result.violation
    return None


def test_voting_for_stale_logs_breaks_leader_completeness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RaftLog, "is_up_to_date", lambda self, index, term: True)
    found = _first_violation(ScheduleSpec(nodes=3, steps=3000, liveness=False), range(20))
    assert found is not None
    assert found.invariant in (
        v.LEADER_COMPLETENESS,
        v.COMMITTED_NEVER_LOST,
        v.STATE_MACHINE_SAFETY,
    )


def test_answering_reads_without_a_heartbeat_round_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def read_index_at_once(self: RaftCore, ctx: int) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        self._read_states.append(ReadState(ctx, self.log.commit))

    monkeypatch.setattr(RaftCore, "read_index", read_index_at_once)
    found = _first_violation(ScheduleSpec(nodes=3, steps=3000, liveness=False), range(20))
    assert found is not None and found.invariant == v.STALE_READ


def test_acknowledging_before_persisting_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    early = raft_core._SEND_BEFORE_PERSIST + (VoteResponse, AppendResponse)
    monkeypatch.setattr(raft_core, "_SEND_BEFORE_PERSIST", early)
    found = _first_violation(ScheduleSpec(nodes=3, steps=3000, liveness=False), range(20))
    assert found is not None
    assert found.invariant in (v.COMMITTED_NEVER_LOST, v.ELECTION_SAFETY, v.ONE_VOTE_PER_TERM)


def test_forgetting_the_vote_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = RaftCore._handle_vote_request

    def forgetful(self: RaftCore, m: object) -> None:
        self.vote = None
        self.leader = None
        original(self, m)  # type: ignore[arg-type]

    monkeypatch.setattr(RaftCore, "_handle_vote_request", forgetful)
    found = _first_violation(ScheduleSpec(nodes=3, steps=3000, liveness=False), range(20))
    assert found is not None
    assert found.invariant in (v.ONE_VOTE_PER_TERM, v.ELECTION_SAFETY)


def test_figure8_script_catches_counting_old_term_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bug Figure 8 of the Raft paper warns about (§5.4.2), planted and caught."""

    def commit_by_counting_any_term(self: RaftCore) -> None:
        matches = sorted([self.log.stable] + [pr.match for pr in self._progress.values()])
        self.log.commit_to(max(self.log.commit, matches[len(matches) - self.config.quorum]))

    monkeypatch.setattr(RaftCore, "_maybe_commit", commit_by_counting_any_term)
    with pytest.raises(InvariantViolation) as caught:
        play_figure8(Simulation(5, seed=70, raft_options=SCRIPT_OPTIONS))
    assert caught.value.invariant == v.LEADER_COMPLETENESS

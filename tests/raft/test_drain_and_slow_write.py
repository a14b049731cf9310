"""Draining a node, handing leadership off, a leader stepping down for a slow disk, and the
reasons of elections (issue 19; docs/operations.md, "Maintenance" and "Disk health")."""

from __future__ import annotations

import random

from eraft_trio.raft.config import RaftConfig
from eraft_trio.raft.core import RaftCore
from eraft_trio.raft.types import Message, Ready, Role
from eraft_trio.sim.harness import LabCluster, encode


def core_of(cfg: LabCluster, node: int) -> RaftCore:
    core = cfg.sim.nodes[node].core
    assert core is not None
    return core


def drain(cfg: LabCluster, node: int, drained: bool = True) -> None:
    core_of(cfg, node).set_drained(drained)
    cfg.sim.nodes[node].drive()


def test_drained_followers_never_campaign_until_undrained() -> None:
    cfg = LabCluster(3, seed=90)
    sim = cfg.sim
    leader = cfg.check_one_leader()
    others = [n for n in range(cfg.n) if n != leader]
    for node in others:
        drain(cfg, node)
    cfg.disconnect(leader)
    cfg.wait_ticks(4 * cfg.election_ticks)
    # Left alone, the two would elect one of themselves; drained, neither even pre-votes.
    cfg.check_no_leader()
    for node in others:
        assert core_of(cfg, node).elections["pre-vote"] == 0
        assert core_of(cfg, node).status()["drained"] is True
    drain(cfg, others[0], drained=False)
    assert sim.run_until(lambda: sim.leader() == others[0], 3 * cfg.election_ticks)


def test_draining_the_leader_moves_leadership_off_it_for_good() -> None:
    cfg = LabCluster(3, seed=91)
    sim = cfg.sim
    old = cfg.check_one_leader()
    term = cfg.term_of(old)
    cfg.one(1, cfg.n)
    drain(cfg, old)
    assert sim.run_until(lambda: sim.leader() not in (None, old), cfg.election_ticks)
    new = sim.leader()
    assert new is not None
    assert core_of(cfg, new).last_election == (term + 1, "transfer")
    assert core_of(cfg, new).elections["transfer"] == 1
    # It stays away, however long we wait, and the group keeps committing without it
    # leading; it still replicates (a majority of 3 needs it when another node is down).
    other = next(n for n in range(cfg.n) if n not in (old, new))
    cfg.disconnect(other)
    cfg.one(2, cfg.n - 1)
    cfg.wait_ticks(3 * cfg.election_ticks)
    assert sim.leader() == new
    cfg.connect(other)
    cfg.one(3, cfg.n)  # `other` catches up, or the drained node could not vote for it
    cfg.disconnect(new)  # only `other` may lead now: the drained node never campaigns
    assert sim.run_until(lambda: sim.leader() == other, 4 * cfg.election_ticks)
    assert sim.leader() != old


def test_a_drained_node_ignores_a_transfer_to_it() -> None:
    cfg = LabCluster(3, seed=92)
    sim = cfg.sim
    leader = cfg.check_one_leader()
    target = (leader + 1) % cfg.n
    drain(cfg, target)
    assert sim.transfer_leadership(leader, target)
    cfg.wait_ticks(2 * cfg.election_ticks)
    assert sim.leader() == leader
    assert core_of(cfg, target).elections["transfer"] == 0
    # The transfer timed out: the leader takes proposals again.
    assert sim.propose(leader, [encode(5)]) is not None


def test_hand_off_picks_the_most_up_to_date_follower() -> None:
    cfg = LabCluster(3, seed=93)
    sim = cfg.sim
    leader = cfg.check_one_leader()
    behind, current = (leader + 1) % cfg.n, (leader + 2) % cfg.n
    cfg.disconnect(behind)
    for value in range(1, 6):
        cfg.one(value, cfg.n - 1)
    cfg.connect(behind)
    assert core_of(cfg, leader).hand_off() == current
    sim.nodes[leader].drive()
    assert sim.run_until(lambda: sim.leader() == current, cfg.election_ticks)


def test_election_reasons_are_counted() -> None:
    cfg = LabCluster(3, seed=94)
    sim = cfg.sim
    first = cfg.check_one_leader()
    # The first leader won after a pre-vote round its election timer started.
    assert core_of(cfg, first).elections["pre-vote"] >= 1
    assert core_of(cfg, first).last_election == (cfg.term_of(first), "timeout")
    cfg.disconnect(first)
    assert sim.run_until(lambda: sim.leader() not in (None, first), 4 * cfg.election_ticks)
    # Cut off from its majority, the old leader stepped down by check-quorum.
    cfg.wait_ticks(cfg.election_ticks)
    assert core_of(cfg, first).elections["check-quorum"] == 1
    assert core_of(cfg, first).role is not Role.LEADER


# --- a leader whose own write hangs ---------------------------------------------------------


class ThreeCores:
    """Three cores on a perfect, instant network; node `stuck`'s driver never finishes
    the Ready it took (its disk hangs) but still sends what `take_messages` allows."""

    def __init__(self, step_down_on_slow_write: bool = True) -> None:
        peers = (0, 1, 2)
        self.cores = [
            RaftCore(
                RaftConfig(
                    id=i,
                    peers=peers,
                    election_ticks_min=30,
                    election_ticks_max=60,
                    step_down_on_slow_write=step_down_on_slow_write,
                ),
                random.Random(i),
            )
            for i in peers
        ]
        self.stuck: int | None = None
        self.held: Ready | None = None
        self.wire: list[Message] = []

    def run(self, ticks: int) -> None:
        for _ in range(ticks):
            for core in self.cores:
                core.tick()
            self.settle()

    def settle(self) -> None:
        while True:
            for i, core in enumerate(self.cores):
                if i == self.stuck:
                    self.wire += core.take_messages()
                    if self.held is None and core.has_ready():
                        self.held = core.ready()
                        self.wire += self.held.messages  # sent before the write starts
                    continue
                while core.has_ready():
                    rd = core.ready()
                    self.wire += rd.messages + rd.persisted_messages
                    core.advance(rd)
            if not self.wire:
                return
            batch, self.wire = self.wire, []
            for m in batch:
                self.cores[m.dst].step(m)

    def leader(self) -> int | None:
        leaders = [i for i, c in enumerate(self.cores) if c.role is Role.LEADER]
        return max(leaders, key=lambda i: self.cores[i].term) if leaders else None


def test_a_leader_whose_write_hangs_steps_down_for_a_healthy_node() -> None:
    group = ThreeCores()
    group.run(70)
    leader = group.leader()
    assert leader is not None
    group.cores[leader].propose([b"x"])
    group.stuck = leader
    group.settle()
    assert group.held is not None and group.held.entries  # the write that never ends
    # Its heartbeats still go out (take_messages), so followers see a live leader and
    # would never elect anyone: the leader has to step down by itself.
    group.run(29)
    assert group.leader() == leader
    group.run(2)
    old = group.cores[leader]
    assert old.role is Role.FOLLOWER
    assert old.elections["slow-disk"] == 1
    new = group.leader()
    assert new is not None and new != leader
    assert group.cores[new].last_election == (old.term, "transfer")
    # The healthy leader commits without the stuck node.
    index, _ = group.cores[new].propose([b"y"])
    group.run(1)
    assert group.cores[new].commit >= index


def test_a_leader_with_a_prompt_disk_never_steps_down() -> None:
    group = ThreeCores()
    group.run(70)
    leader = group.leader()
    assert leader is not None
    for round_ in range(20):
        group.cores[leader].propose([b"%d" % round_])
        group.run(10)
    assert group.leader() == leader
    assert group.cores[leader].elections["slow-disk"] == 0


def test_the_step_down_can_be_switched_off() -> None:
    group = ThreeCores(step_down_on_slow_write=False)
    group.run(70)
    leader = group.leader()
    assert leader is not None
    group.cores[leader].propose([b"x"])
    group.stuck = leader
    group.run(3 * 60)
    assert group.leader() == leader
    assert group.cores[leader].elections["slow-disk"] == 0


def test_a_drained_follower_lets_its_leader_lease_run_out_and_votes() -> None:
    """Regression (review): a drained node reset its election clock at every timeout, so
    it stayed "in lease" and ignored the votes the remaining voter needed; with a timeout
    of exactly election_ticks_min nobody was ever elected after the leader died."""
    for seed in range(4):
        cfg = LabCluster(3, seed=200 + seed)
        sim = cfg.sim
        leader = cfg.check_one_leader()
        cfg.one(1, cfg.n)
        drained, other = [n for n in range(cfg.n) if n != leader]
        drain(cfg, drained)
        core = core_of(cfg, drained)
        core._randomized_timeout = core.config.election_ticks_min
        cfg.crash(leader)
        elected = sim.run_until(lambda s=sim, o=other: s.leader() == o, 20 * cfg.election_ticks)
        assert elected, seed


def test_a_sole_voter_with_a_slow_disk_keeps_leading() -> None:
    """Regression (review): with nobody to hand off to, stepping down for a slow write only
    started elections (one per election timeout) that the same node won again."""
    core = RaftCore(
        RaftConfig(id=0, peers=(0,), election_ticks_min=30, election_ticks_max=60),
        random.Random(1),
    )
    core.campaign()
    while core.has_ready():
        core.advance(core.ready())
    assert core.role is Role.LEADER
    core.propose([b"x"])
    held = core.ready()  # the write that does not end
    for _ in range(3 * 60):
        core.tick()
    assert core.role is Role.LEADER
    assert core.elections["slow-disk"] == 0
    core.advance(held)


def test_a_ready_held_back_by_the_apply_queue_is_not_a_slow_disk() -> None:
    """Regression (review): the driver holds a Ready while its apply queue is full (a big
    migration install, say); those ticks counted as a slow write and moved leadership."""
    group = ThreeCores()
    group.run(70)
    leader = group.leader()
    assert leader is not None
    core = group.cores[leader]
    core.propose([b"x"])
    group.stuck = leader
    group.settle()
    core.set_waiting_on_apply(True)
    group.run(3 * 60)
    assert group.leader() == leader
    assert core.elections["slow-disk"] == 0
    core.set_waiting_on_apply(False)  # now the write itself is what takes long
    group.run(31)
    assert core.elections["slow-disk"] == 1


def test_a_drained_leader_tries_the_next_follower_when_its_favourite_refuses() -> None:
    """Regression (review): draining the follower the leader would pick, then the leader,
    made it retry that follower forever (it ignores TimeoutNow) and refuse every write
    meanwhile, while a healthy third voter was never tried."""
    for seed in range(5):
        cfg = LabCluster(3, seed=100 + seed)
        sim = cfg.sim
        leader = cfg.check_one_leader()
        cfg.one(1, cfg.n)
        favourite = core_of(cfg, leader)._most_up_to_date_follower()
        assert favourite is not None
        healthy = next(n for n in range(cfg.n) if n not in (leader, favourite))
        drain(cfg, favourite)
        drain(cfg, leader)
        moved = sim.run_until(lambda s=sim, h=healthy: s.leader() == h, 6 * cfg.election_ticks)
        assert moved, seed
        cfg.one(2, cfg.n)  # and the group takes writes again

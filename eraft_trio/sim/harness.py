"""The 6.824 lab's test harness (its config.go) on the simulator: connect, crash, start, one."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from eraft_trio.raft.types import Role
from eraft_trio.sim.faults import NO_FAULTS
from eraft_trio.sim.network import Link
from eraft_trio.sim.simulation import Simulation


def encode(cmd: int) -> bytes:
    return str(cmd).encode()


class LabCluster:
    """Servers 0..n-1 that tests connect, disconnect, crash and restart, as in the labs.

    Time is in ticks; `election_ticks` (the longest election timeout) plays the role of
    the lab's "one election timeout", so waits scale with the Raft configuration.
    Commands are ints (the lab's `interface{}` values) stored as their decimal bytes.
    Our leaders append a no-op when elected (§8), so command indices are not the
    lab's 1, 2, 3...: tests compare indices with each other, never with constants.
    """

    def __init__(
        self,
        servers: int,
        seed: int = 0,
        *,
        reliable: bool = True,
        snapshot_interval: int | None = None,
        raft_options: Mapping[str, Any] | None = None,
    ) -> None:
        # The lab's retrying `one()` may legitimately commit a command twice.
        self.sim = Simulation(
            servers,
            seed,
            faults=NO_FAULTS,
            compact_every=snapshot_interval,
            raft_options=raft_options,
            unique_commands=False,
            senders_see_cut_links=True,  # labrpc: a call to a disconnected server fails
        )
        self.n = servers
        self.rng = random.Random(self.sim.rng.getrandbits(64))
        self.connected = [True] * servers
        self._cuts: list[Link] = []
        self.set_reliable(reliable)

    @property
    def election_ticks(self) -> int:
        return self.sim.election_ticks

    # --- network and servers -----------------------------------------------------------

    def set_reliable(self, reliable: bool) -> None:
        """Unreliable as labrpc: some requests and replies lost, short random delays, reordering."""
        faults = self.sim.network.faults
        faults.drop_rate = 0.0 if reliable else 0.1
        faults.delay_max = 1 if reliable else 3
        faults.reorder = not reliable

    def set_long_reordering(self, on: bool) -> None:
        """Many messages delayed by up to a few election timeouts (labrpc's long reordering)."""
        faults = self.sim.network.faults
        faults.long_delay_rate = 0.3 if on else 0.0
        faults.long_delay_max = 3 * self.election_ticks

    def _apply_connectivity(self) -> None:
        network = self.sim.network
        for src, dst in self._cuts:
            network.heal(src, dst)
        # As in the lab, a link works only while both of its ends are connected.
        self._cuts = [
            (a, b)
            for a in range(self.n)
            for b in range(self.n)
            if a != b and not (self.connected[a] and self.connected[b])
        ]
        for src, dst in self._cuts:
            network.cut(src, dst)

    def disconnect(self, i: int) -> None:
        self.connected[i] = False
        self._apply_connectivity()

    def connect(self, i: int) -> None:
        self.connected[i] = True
        self._apply_connectivity()

    def crash(self, i: int) -> None:
        """The lab's crash1: disconnect and kill, keeping only what is on disk."""
        self.disconnect(i)
        self.sim.crash(i)

    def start(self, i: int) -> None:
        """The lab's start1: (re)boot from disk, killing a running server first.

        Like start1, this does not reconnect the server; tests call `connect`.
        """
        self.sim.crash(i)
        self.sim.restart(i)

    def alive(self, i: int) -> bool:
        return self.sim.nodes[i].alive

    def wait_ticks(self, ticks: int) -> None:
        self.sim.run_ticks(ticks)

    # --- observations ------------------------------------------------------------------

    def _leaders_by_term(self) -> dict[int, list[int]]:
        leaders: dict[int, list[int]] = {}
        for node in self.sim.nodes:
            core = node.core
            if core is not None and self.connected[node.id] and core.role is Role.LEADER:
                leaders.setdefault(core.term, []).append(node.id)
        return leaders

    def check_one_leader(self) -> int:
        """Wait for a leader among connected servers; fail on two leaders in one term."""
        et = self.election_ticks
        for _ in range(10):
            self.wait_ticks(et // 2 + self.rng.randint(0, et // 2))
            leaders = self._leaders_by_term()
            for term, ids in leaders.items():
                assert len(ids) == 1, f"term {term} has {len(ids)} (>1) leaders: {ids}"
            if leaders:
                return leaders[max(leaders)][0]
        raise AssertionError("expected one leader, got none")

    def check_terms(self) -> int:
        """All connected servers agree on the term; returns it."""
        terms = {n.core.term for n in self.sim.nodes if n.core is not None and self.connected[n.id]}
        assert len(terms) <= 1, f"servers disagree on term: {sorted(terms)}"
        return terms.pop() if terms else -1

    def check_no_leader(self) -> None:
        leaders = self._leaders_by_term()
        assert not leaders, f"expected no leader among connected servers, found {leaders}"

    def term_of(self, i: int) -> int:
        core = self.sim.nodes[i].core
        assert core is not None, f"server {i} is down"
        return core.term

    def n_committed(self, index: int) -> tuple[int, int | None]:
        """How many servers applied `index`, and the command there (None for a no-op)."""
        count, cmd = 0, None
        for disk in self.sim.disks:
            history = disk.machine.history
            if len(history) >= index:
                count += 1
                data = history[index - 1].data
                cmd = int(data) if data else None
        return count, cmd

    def log_size(self) -> int:
        """The largest number of log entries any server holds on disk."""
        return max(len(d.log) for d in self.sim.disks)

    # --- clients -----------------------------------------------------------------------

    def start_command(self, i: int, cmd: int) -> tuple[int, int] | None:
        """Raft.Start(cmd) on server i: (index, term) if it leads, else None."""
        return self.sim.propose(i, [encode(cmd)])

    def one(self, cmd: int, expected: int, retry: bool = False) -> int:
        """Submit `cmd` to whichever server leads; wait until `expected` servers applied it."""
        et = self.election_ticks
        deadline = self.sim.now + 20 * et
        starts = 0
        while self.sim.now < deadline:
            index = None
            for _ in range(self.n):
                starts = (starts + 1) % self.n
                if self.connected[starts] and self.alive(starts):
                    placed = self.start_command(starts, cmd)
                    if placed is not None:
                        index = placed[0]
                        break
            if index is None:
                self.wait_ticks(max(1, et // 4))
                continue
            settle_by = self.sim.now + 4 * et
            while self.sim.now < settle_by:
                count, got = self.n_committed(index)
                if count > 0 and count >= expected and got == cmd:
                    return index
                self.wait_ticks(1)
            if not retry:
                raise AssertionError(f"one({cmd}) failed to reach agreement")
        raise AssertionError(f"one({cmd}) failed to reach agreement")

    def wait(self, index: int, n: int, start_term: int) -> int | None:
        """Wait for `n` servers to apply `index`; None if the term moved past `start_term`."""
        wait = 1
        for _ in range(30):
            if self.n_committed(index)[0] >= n:
                break
            self.wait_ticks(wait)
            wait = min(wait * 2, self.election_ticks)
            if start_term > -1:
                for node in self.sim.nodes:
                    if node.core is not None and node.core.term > start_term:
                        return None
        count, cmd = self.n_committed(index)
        assert count >= n, f"only {count} servers decided index {index}; wanted {n}"
        return cmd


def short_or_long_pause(cfg: LabCluster) -> None:
    """The lab's pause: mostly up to 13 ms (a tick), one time in ten up to half an election timeout."""
    if cfg.rng.randrange(1000) < 100:
        cfg.wait_ticks(cfg.rng.randint(0, cfg.election_ticks // 2))
    else:
        cfg.wait_ticks(cfg.rng.randint(0, 1))


def figure8(cfg: LabCluster) -> None:
    """The lab's Figure 8 schedule: propose everywhere, crash whoever leads, keep 3+ up."""
    n = cfg.n
    cfg.one(cfg.rng.randrange(1 << 30), 1, retry=True)
    up = n
    crashed_leaders = 0
    for _ in range(1000):
        leader = None
        for i in range(n):
            if cfg.alive(i) and cfg.start_command(i, cfg.rng.randrange(1 << 30)) is not None:
                leader = i
        short_or_long_pause(cfg)
        if leader is not None:
            cfg.crash(leader)
            crashed_leaders += 1
            up -= 1
        if up < 3:
            s = cfg.rng.randrange(n)
            if not cfg.alive(s):
                cfg.start(s)
                cfg.connect(s)
                up += 1
    for i in range(n):
        if not cfg.alive(i):
            cfg.start(i)
            cfg.connect(i)
    cfg.one(cfg.rng.randrange(1 << 30), n, retry=True)
    assert crashed_leaders >= 20, "the schedule hardly ever caught a leader"

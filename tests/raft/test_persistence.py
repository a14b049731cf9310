"""Crashes, restarts and unreliable networks on the simulator: the 6.824 lab 2C tests."""

from __future__ import annotations

from eraft_trio.sim.harness import LabCluster, figure8, short_or_long_pause


def test_persist1() -> None:
    """Lab 2C TestPersist1: term, vote and log survive restarts of all, of the leader, of a follower (Figure 2)."""
    cfg = LabCluster(3, seed=20)
    n = cfg.n
    cfg.one(11, n, retry=True)
    for i in range(n):
        cfg.start(i)
    for i in range(n):
        cfg.disconnect(i)
        cfg.connect(i)
    cfg.one(12, n, retry=True)
    leader1 = cfg.check_one_leader()
    cfg.disconnect(leader1)
    cfg.start(leader1)
    cfg.connect(leader1)
    cfg.one(13, n, retry=True)
    leader2 = cfg.check_one_leader()
    cfg.disconnect(leader2)
    index = cfg.one(14, n - 1, retry=True)
    cfg.start(leader2)
    cfg.connect(leader2)
    assert cfg.wait(index, n, -1) == 14  # leader2 rejoined before the next crash
    i3 = (cfg.check_one_leader() + 1) % n
    cfg.disconnect(i3)
    cfg.one(15, n - 1, retry=True)
    cfg.start(i3)
    cfg.connect(i3)
    cfg.one(16, n, retry=True)


def test_persist2() -> None:
    """Lab 2C TestPersist2: 5 servers, rounds of partitions and restarts of a majority (Figure 2)."""
    cfg = LabCluster(5, seed=21)
    n = cfg.n
    value = 11
    for _ in range(5):
        cfg.one(value, n, retry=True)
        value += 1
        leader1 = cfg.check_one_leader()
        cfg.disconnect((leader1 + 1) % n)
        cfg.disconnect((leader1 + 2) % n)
        cfg.one(value, n - 2, retry=True)
        value += 1
        for k in (0, 3, 4):
            cfg.disconnect((leader1 + k) % n)
        for k in (1, 2):
            cfg.start((leader1 + k) % n)
            cfg.connect((leader1 + k) % n)
        cfg.wait_ticks(cfg.election_ticks)
        cfg.start((leader1 + 3) % n)
        cfg.connect((leader1 + 3) % n)
        cfg.one(value, n - 2, retry=True)
        value += 1
        cfg.connect((leader1 + 4) % n)
        cfg.connect((leader1 + 0) % n)
    cfg.one(1000, n, retry=True)


def test_persist3() -> None:
    """Lab 2C TestPersist3: a majority crashes right after committing; the entry survives (§5.4.3)."""
    cfg = LabCluster(3, seed=22)
    n = cfg.n
    cfg.one(101, 3, retry=True)
    leader = cfg.check_one_leader()
    cfg.disconnect((leader + 2) % n)
    index = cfg.one(102, 2, retry=True)
    cfg.crash(leader)
    cfg.crash((leader + 1) % n)
    cfg.connect((leader + 2) % n)
    cfg.start(leader)
    cfg.connect(leader)
    cfg.one(103, 2, retry=True)
    cfg.start((leader + 1) % n)
    cfg.connect((leader + 1) % n)
    cfg.one(104, n, retry=True)
    assert cfg.n_committed(index) == (n, 102)


def test_figure8() -> None:
    """Lab 2C TestFigure8: leaders crash at random moments; only current-term entries commit by counting (§5.4.2, Figure 8)."""
    figure8(LabCluster(5, seed=23))


def test_figure8_one_entry_per_message() -> None:
    """Figure 8 (§5.4.2) where each AppendEntries carries about one entry.

    A new leader's no-op then often trails its old-term entries on the wire, which is
    when counting replicas of an old-term entry would commit it wrongly; see
    test_simulator.py for the planted bug this schedule catches.
    """
    figure8(LabCluster(5, seed=26, raft_options={"max_msg_bytes": 12, "max_inflight": 2}))


def test_figure8_unreliable() -> None:
    """Lab 2C TestFigure8Unreliable: the same over a lossy, reordering network with long delays (§5.4.2)."""
    cfg = LabCluster(5, seed=24, reliable=False)
    n = cfg.n
    cfg.one(cfg.rng.randrange(10000), 1, retry=True)
    up = n
    for iteration in range(1000):
        if iteration == 200:
            cfg.set_long_reordering(True)
        leader = None
        for i in range(n):
            placed = cfg.start_command(i, cfg.rng.randrange(10000))
            if placed is not None and cfg.connected[i]:
                leader = i
        short_or_long_pause(cfg)
        if leader is not None and cfg.rng.randrange(1000) < 500:
            cfg.disconnect(leader)
            up -= 1
        if up < 3:
            s = cfg.rng.randrange(n)
            if not cfg.connected[s]:
                cfg.connect(s)
                up += 1
    for i in range(n):
        cfg.connect(i)
    cfg.one(cfg.rng.randrange(10000), n, retry=True)


class ChurnClient:
    """A lab churn client: Start a value on every server, then watch whether it committed."""

    def __init__(self, cfg: LabCluster, me: int) -> None:
        self.cfg = cfg
        self.me = me
        self.values: list[int] = []  # values this client saw committed
        self._next_value = me * 1_000_000
        self._pending: tuple[int, int, int] | None = None  # (index, value, give-up tick)
        self._wake = 0

    def act(self) -> None:
        cfg, now = self.cfg, self.cfg.sim.now
        if now < self._wake:
            return
        if self._pending is not None:
            index, value, give_up = self._pending
            count, got = cfg.n_committed(index)
            if count > 0 or now >= give_up:
                if count > 0 and got == value:
                    self.values.append(value)
                self._pending = None
            return
        self._next_value += 1
        value = self._next_value
        placed_at = None
        order = list(range(cfg.n))
        cfg.rng.shuffle(order)
        for i in order:
            if cfg.alive(i):
                placed = cfg.start_command(i, value)
                if placed is not None:
                    placed_at = placed[0]
        if placed_at is None:
            self._wake = now + 2 + self.me  # the lab's (79 + me*17) ms back-off
        else:
            self._pending = (placed_at, value, now + 2 * cfg.election_ticks)


def _churn(cfg: LabCluster) -> None:
    n = cfg.n
    clients = [ChurnClient(cfg, me) for me in range(3)]

    def run_with_clients(ticks: int) -> None:
        for _ in range(ticks):
            for c in clients:
                c.act()
            cfg.wait_ticks(1)

    for _ in range(20):
        if cfg.rng.randrange(1000) < 200:
            cfg.disconnect(cfg.rng.randrange(n))
        if cfg.rng.randrange(1000) < 500:
            i = cfg.rng.randrange(n)
            if not cfg.alive(i):
                cfg.start(i)
            cfg.connect(i)
        if cfg.rng.randrange(1000) < 200:
            i = cfg.rng.randrange(n)
            if cfg.alive(i):
                cfg.crash(i)
        run_with_clients(cfg.election_ticks * 7 // 10)
    run_with_clients(cfg.election_ticks)
    cfg.set_reliable(True)
    for i in range(n):
        if not cfg.alive(i):
            cfg.start(i)
        cfg.connect(i)
    cfg.wait_ticks(cfg.election_ticks)
    last = cfg.one(cfg.rng.randrange(1 << 30), n, retry=True)
    really = set()
    for index in range(1, last + 1):
        cmd = cfg.wait(index, n, -1)
        if cmd is not None:
            really.add(cmd)
    seen = [v for c in clients for v in c.values]
    assert seen, "no client ever saw a commit"
    missing = [v for v in seen if v not in really]
    assert not missing, f"values seen committed but missing from the final log: {missing}"


def test_reliable_churn() -> None:
    """Lab 2C TestReliableChurn: crashes, restarts and partitions under concurrent clients (§5)."""
    _churn(LabCluster(5, seed=25))


def test_unreliable_churn() -> None:
    """Lab 2C TestUnreliableChurn: the same over a lossy, reordering network (§5)."""
    _churn(LabCluster(5, seed=26, reliable=False))

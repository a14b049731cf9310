"""Log replication on the simulator: the 6.824 lab 2B tests."""

from __future__ import annotations

from eraft_trio.sim.harness import LabCluster


def test_basic_agree() -> None:
    """Lab 2B TestBasicAgree: each command reaches all servers, at increasing indices (§5.3)."""
    cfg = LabCluster(3, seed=10)
    last = 0
    for cmd in (100, 200, 300):
        index = cfg.one(cmd, cfg.n)
        assert index > last
        assert cfg.n_committed(index) == (cfg.n, cmd)
        last = index


def test_rpc_bytes() -> None:
    """Lab 2B TestRPCBytes: in steady state each entry is sent to each follower exactly once (§5.3)."""
    cfg = LabCluster(3, seed=11)
    sim = cfg.sim
    cfg.one(99, cfg.n)
    leader = cfg.check_one_leader()
    before = sim.network.stats.entry_bytes
    sent = 0
    for k in range(2, 11):
        command = bytes([k]) * 5000
        placed = sim.propose(leader, [command])
        assert placed is not None
        assert sim.run_until_applied(placed[0], command, 4 * cfg.election_ticks)
        sent += len(command)
    assert sim.network.stats.entry_bytes - before == (cfg.n - 1) * sent


def test_follower_failure() -> None:
    """Lab 2B TestFollowerFailure: agreement despite a lost follower; none once both are lost (§5.3)."""
    cfg = LabCluster(3, seed=12)
    n = cfg.n
    cfg.one(101, n)
    leader1 = cfg.check_one_leader()
    cfg.disconnect((leader1 + 1) % n)
    cfg.one(102, n - 1)
    cfg.wait_ticks(cfg.election_ticks)
    cfg.one(103, n - 1)
    leader2 = cfg.check_one_leader()
    cfg.disconnect((leader2 + 1) % n)
    cfg.disconnect((leader2 + 2) % n)
    placed = cfg.start_command(leader2, 104)
    assert placed is not None, "leader rejected Start()"
    cfg.wait_ticks(2 * cfg.election_ticks)
    assert cfg.n_committed(placed[0])[0] == 0, "command committed without a majority"


def test_leader_failure() -> None:
    """Lab 2B TestLeaderFailure: a new leader after the old one is lost; none once two are lost (§5.2, §5.3)."""
    cfg = LabCluster(3, seed=13)
    n = cfg.n
    cfg.one(101, n)
    leader1 = cfg.check_one_leader()
    cfg.disconnect(leader1)
    cfg.one(102, n - 1)
    cfg.wait_ticks(cfg.election_ticks)
    last = cfg.one(103, n - 1)
    leader2 = cfg.check_one_leader()
    cfg.disconnect(leader2)
    for i in range(n):
        cfg.start_command(i, 104)
    cfg.wait_ticks(2 * cfg.election_ticks)
    assert cfg.n_committed(last + 1)[0] == 0, "something committed without a majority"


def test_fail_agree() -> None:
    """Lab 2B TestFailAgree: a follower that was cut off catches up when it rejoins (§5.3)."""
    cfg = LabCluster(3, seed=14)
    n = cfg.n
    cfg.one(101, n)
    leader = cfg.check_one_leader()
    cfg.disconnect((leader + 1) % n)
    for cmd in (102, 103):
        cfg.one(cmd, n - 1)
    cfg.wait_ticks(cfg.election_ticks)
    for cmd in (104, 105):
        cfg.one(cmd, n - 1)
    cfg.connect((leader + 1) % n)
    index = cfg.one(106, n, retry=True)
    cfg.wait_ticks(cfg.election_ticks)
    assert cfg.one(107, n, retry=True) > index


def test_fail_no_agree() -> None:
    """Lab 2B TestFailNoAgree: no commit without a majority; the uncommitted entry is kept or replaced (§5.3, §5.4)."""
    cfg = LabCluster(5, seed=15)
    n = cfg.n
    first = cfg.one(10, n)
    leader = cfg.check_one_leader()
    for k in (1, 2, 3):
        cfg.disconnect((leader + k) % n)
    placed = cfg.start_command(leader, 20)
    assert placed is not None, "leader rejected Start()"
    index = placed[0]
    assert index == first + 1
    cfg.wait_ticks(2 * cfg.election_ticks)
    assert cfg.n_committed(index)[0] == 0, "committed without a majority"
    for k in (1, 2, 3):
        cfg.connect((leader + k) % n)
    leader2 = cfg.check_one_leader()
    placed2 = cfg.start_command(leader2, 30)
    assert placed2 is not None
    # After the new leader's no-op: right after 20 if it kept it, or in 20's place.
    assert placed2[0] in (index + 1, index + 2)
    cfg.one(1000, n, retry=True)


def test_concurrent_starts() -> None:
    """Lab 2B TestConcurrentStarts: commands started back to back in one term all commit (§5.3)."""
    cfg = LabCluster(3, seed=16)
    for _ in range(5):
        leader = cfg.check_one_leader()
        first = cfg.start_command(leader, 1)
        if first is None:
            continue
        term = first[1]
        placed = [cfg.start_command(leader, 100 + k) for k in range(5)]
        if any(p is None or p[1] != term for p in placed):
            continue
        cmds = []
        for p in placed:
            assert p is not None
            cmd = cfg.wait(p[0], cfg.n, term)
            if cmd is None:
                break  # the term moved on: try again, as the lab does
            cmds.append(cmd)
        else:
            assert sorted(cmds) == [100, 101, 102, 103, 104]
            return
    raise AssertionError("term changed too often")


def test_rejoin() -> None:
    """Lab 2B TestRejoin: a partitioned leader with uncommitted entries rejoins and is overruled (§5.4.1)."""
    cfg = LabCluster(3, seed=17)
    n = cfg.n
    cfg.one(101, n, retry=True)
    leader1 = cfg.check_one_leader()
    cfg.disconnect(leader1)
    for cmd in (102, 103, 104):
        cfg.start_command(leader1, cmd)
    cfg.one(103, 2, retry=True)
    leader2 = cfg.check_one_leader()
    cfg.disconnect(leader2)
    cfg.connect(leader1)
    cfg.one(104, 2, retry=True)
    cfg.connect(leader2)
    index = cfg.one(105, n, retry=True)
    # The old leader's stale 102 never reached anyone's state machine.
    applied = [int(e.data) for e in cfg.sim.checker.applied[:index] if e.data]
    assert applied == [101, 103, 104, 105]


def test_backup() -> None:
    """Lab 2B TestBackup: leaders back up quickly over divergent logs of 50 entries each (§5.3)."""
    cfg = LabCluster(5, seed=18)
    n = cfg.n
    values = iter(range(1, 1_000_000))
    cfg.one(next(values), n, retry=True)
    leader1 = cfg.check_one_leader()
    # Put the leader and one follower in a partition; give them 50 doomed entries.
    for k in (2, 3, 4):
        cfg.disconnect((leader1 + k) % n)
    for _ in range(50):
        cfg.start_command(leader1, next(values))
    cfg.wait_ticks(cfg.election_ticks // 2)
    cfg.disconnect(leader1)
    cfg.disconnect((leader1 + 1) % n)
    # The other three commit 50 entries of their own.
    for k in (2, 3, 4):
        cfg.connect((leader1 + k) % n)
    for _ in range(50):
        cfg.one(next(values), 3, retry=True)
    # Now a leader and one follower of those three; cut the follower off, 50 more doomed entries.
    leader2 = cfg.check_one_leader()
    other = (leader1 + 2) % n
    if leader2 == other:
        other = (leader2 + 1) % n
    cfg.disconnect(other)
    for _ in range(50):
        cfg.start_command(leader2, next(values))
    cfg.wait_ticks(cfg.election_ticks // 2)
    # Bring back the original leader's partition and the cut-off follower.
    for i in range(n):
        cfg.disconnect(i)
    for i in (leader1, (leader1 + 1) % n, other):
        cfg.connect(i)
    for _ in range(50):
        cfg.one(next(values), 3, retry=True)
    for i in range(n):
        cfg.connect(i)
    cfg.one(next(values), n, retry=True)


def test_count() -> None:
    """Lab 2B TestCount: bounded messages to elect, to commit 10 entries, and while idle (§5.2, §5.3).

    RPCs here are requests only (AppendEntries, Heartbeat, RequestVote, InstallSnapshot,
    TimeoutNow), as labrpc counts them.
    """
    cfg = LabCluster(3, seed=19)
    n = cfg.n
    stats = cfg.sim.network.stats
    cfg.check_one_leader()
    assert 1 <= stats.requests <= 30, f"{stats.requests} RPCs to elect the first leader"

    for _ in range(10):
        leader = cfg.check_one_leader()
        total1 = stats.requests
        first = cfg.start_command(leader, 1)
        if first is None:
            continue
        start, term = first
        placed = [cfg.start_command(leader, 100 + k) for k in range(1, 11)]
        if any(p is None or p[1] != term for p in placed):
            continue
        assert [p[0] for p in placed if p] == list(range(start + 1, start + 11))
        if any(cfg.wait(start + k, n, term) != 100 + k for k in range(1, 11)):
            continue
        total2 = stats.requests
        iters = 10
        assert total2 - total1 <= (iters + 1 + 3) * n, f"{total2 - total1} RPCs for 10 entries"
        break
    else:
        raise AssertionError("term changed too often")

    idle_ticks = 5 * cfg.election_ticks
    heartbeats = idle_ticks // cfg.sim.configs[0].heartbeat_ticks
    cfg.wait_ticks(idle_ticks)
    total3 = stats.requests
    # One heartbeat per follower per heartbeat interval, a little slack for a probe.
    assert total3 - total2 <= heartbeats * (n - 1) + n, f"{total3 - total2} RPCs while idle"

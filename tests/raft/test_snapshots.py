"""Log compaction and InstallSnapshot on the simulator: the 6.824 lab 2D tests."""

from __future__ import annotations

from eraft_trio.sim.harness import LabCluster

SNAPSHOT_INTERVAL = 10  # the lab's SnapShotInterval: compact every 10 applied entries
# The lab caps the persisted Raft state at 2000 bytes; we cap the entries kept on disk.
MAX_LOG_ENTRIES = 4 * SNAPSHOT_INTERVAL


def _value(cfg: LabCluster) -> int:
    return cfg.rng.randrange(1 << 30)


def _snap_common(seed: int, *, disconnect: bool, reliable: bool, crash: bool) -> LabCluster:
    """The lab's snapcommon: 30 rounds of cutting off a server while the log is compacted."""
    cfg = LabCluster(3, seed=seed, reliable=reliable, snapshot_interval=SNAPSHOT_INTERVAL)
    n = cfg.n
    cfg.one(_value(cfg), n, retry=True)
    leader1 = cfg.check_one_leader()
    for i in range(30):
        victim, sender = (leader1 + 1) % n, leader1
        if i % 3 == 1:
            sender, victim = (leader1 + 1) % n, leader1
        if disconnect:
            cfg.disconnect(victim)
            cfg.one(_value(cfg), n - 1, retry=True)
        if crash:
            cfg.crash(victim)
            cfg.one(_value(cfg), n - 1, retry=True)
        # Enough commands to make the others compact past what the victim has.
        for _ in range(SNAPSHOT_INTERVAL // 2 + cfg.rng.randrange(SNAPSHOT_INTERVAL)):
            cfg.start_command(sender, _value(cfg))
        if not disconnect and not crash:
            # Everyone caught up, so TestSnapshotBasic needs no InstallSnapshot.
            cfg.one(_value(cfg), n, retry=True)
        else:
            cfg.one(_value(cfg), n - 1, retry=True)
        assert cfg.log_size() < MAX_LOG_ENTRIES, f"log not compacted: {cfg.log_size()} entries"
        if disconnect:
            # The victim may be behind the leader's snapshot: it must catch up anyway.
            cfg.connect(victim)
            cfg.one(_value(cfg), n, retry=True)
            leader1 = cfg.check_one_leader()
        if crash:
            cfg.start(victim)
            cfg.connect(victim)
            cfg.one(_value(cfg), n, retry=True)
            leader1 = cfg.check_one_leader()
    assert all(d.snapshot.index > 0 for d in cfg.sim.disks)
    return cfg


def test_snapshot_basic() -> None:
    """Lab 2D TestSnapshotBasic: compaction under a healthy cluster keeps the log short (§7)."""
    cfg = _snap_common(30, disconnect=False, reliable=True, crash=False)
    assert cfg.sim.network.stats.snapshots_delivered == 0


def test_snapshot_install() -> None:
    """Lab 2D TestSnapshotInstall: a reconnected follower behind the snapshot catches up by InstallSnapshot (§7)."""
    cfg = _snap_common(31, disconnect=True, reliable=True, crash=False)
    assert cfg.sim.network.stats.snapshots_delivered > 0


def test_snapshot_install_unreliable() -> None:
    """Lab 2D TestSnapshotInstallUnreliable: the same over a lossy, reordering network (§7)."""
    cfg = _snap_common(32, disconnect=True, reliable=False, crash=False)
    assert cfg.sim.network.stats.snapshots_delivered > 0


def test_snapshot_install_crash() -> None:
    """Lab 2D TestSnapshotInstallCrash: a follower restarted from disk catches up by snapshot (§7)."""
    cfg = _snap_common(33, disconnect=False, reliable=True, crash=True)
    assert cfg.sim.network.stats.snapshots_delivered > 0


def test_snapshot_install_unreliable_crash() -> None:
    """Lab 2D TestSnapshotInstallUnCrash: crashes and a lossy network together (§7)."""
    cfg = _snap_common(34, disconnect=False, reliable=False, crash=True)
    assert cfg.sim.network.stats.snapshots_delivered > 0


def test_snapshot_all_crash() -> None:
    """Lab 2D TestSnapshotAllCrash: every server crashes after compacting; nothing is lost (§7, Figure 13)."""
    cfg = LabCluster(3, seed=35, snapshot_interval=SNAPSHOT_INTERVAL)
    n = cfg.n
    cfg.one(_value(cfg), n, retry=True)
    for _ in range(5):
        for _ in range(SNAPSHOT_INTERVAL // 2 + cfg.rng.randrange(SNAPSHOT_INTERVAL)):
            cfg.one(_value(cfg), n, retry=True)
        index1 = cfg.one(_value(cfg), n, retry=True)
        for i in range(n):
            cfg.crash(i)
        for i in range(n):
            cfg.start(i)
            cfg.connect(i)
        index2 = cfg.one(_value(cfg), n, retry=True)
        assert index2 > index1, f"index decreased from {index1} to {index2}"


def test_snapshot_init() -> None:
    """Lab 2D TestSnapshotInit: a server restarts from its snapshot, twice, and keeps working (§7)."""
    cfg = LabCluster(3, seed=36, snapshot_interval=SNAPSHOT_INTERVAL)
    n = cfg.n
    cfg.one(_value(cfg), n, retry=True)
    for _ in range(SNAPSHOT_INTERVAL + 1):
        cfg.one(_value(cfg), n, retry=True)
    snapshots = [d.snapshot.index for d in cfg.sim.disks]
    assert all(s > 0 for s in snapshots)
    for _ in range(2):
        for i in range(n):
            cfg.crash(i)
        for i in range(n):
            cfg.start(i)
            cfg.connect(i)
        # Each restarted core starts from its snapshot, not from index 1.
        for node, snap in zip(cfg.sim.nodes, snapshots, strict=True):
            assert node.core is not None and node.core.first_index > snap
        cfg.one(_value(cfg), n, retry=True)

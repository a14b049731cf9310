"""The production driver under simulation (eraft_trio/sim/cluster/): real RaftNodes and
stores under MockClock, one seed one schedule, and a planted driver bug it must catch."""

from __future__ import annotations

import dataclasses

import pytest

from eraft_trio.runtime.raft_node import RaftNode
from eraft_trio.sim.cluster.run import ClusterSpec, run_seed

SHORT = ClusterSpec(duration=6.0)


def test_a_seed_runs_clean_through_crashes_partitions_power_cuts_and_snapshots() -> None:
    results = [run_seed(seed, dataclasses.replace(SHORT, power_cuts=0.3)) for seed in (6, 8)]
    for result in results:
        assert result.violations == []
    stats = {key: sum(r.stats[key] for r in results) for key in results[0].stats}
    assert stats["ok_writes"] > 100
    assert stats["crashes"] > 0
    assert stats["torn_writes"] > 0
    assert stats["snapshots_installed"] > 0


def test_a_seed_replays_exactly() -> None:
    first, again = run_seed(3, SHORT), run_seed(3, SHORT)
    assert first.history  # something happened, and all of it happened again
    assert first.fingerprint() == again.fingerprint()
    assert run_seed(4, SHORT).fingerprint() != first.fingerprint()


def test_a_driver_that_acknowledges_writes_before_they_commit_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Planted bug: the leader answers "ok" to every proposal as soon as it enters its log,
    before a majority holds it; a crash or a lost leadership then loses acknowledged writes."""
    flush = RaftNode._flush_proposals

    def acknowledge_at_once(self: RaftNode) -> None:
        pending = [waiter for _, waiter in self._pending_proposals]
        flush(self)
        for waiter in pending:
            waiter.set({"ok": True})

    monkeypatch.setattr(RaftNode, "_flush_proposals", acknowledge_at_once)
    caught = next((seed for seed in range(10) if run_seed(seed, SHORT).violations), None)
    assert caught is not None, "no seed of 10 caught writes acknowledged before they commit"

"""Unreliable 1-3 (6.824 shardkv TestUnreliable*): the same workloads over a lossy network.

Every node process runs with ERAFT_TEST_FAULTS, so each message it sends may be
dropped, delayed or duplicated (the transport's test-only fault rules); the history
must still be linearizable with no acknowledged write lost.
"""

from __future__ import annotations

import pytest
import trio

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe
from .test_concurrent import GIDS, change_config, config_changes, run_with_nemesis

UNRELIABLE = "drop=0.05,delay_ms=0-5,duplicate=0.05,seed=11"


async def no_changes(probe: ClusterProbe, rng: object) -> None:
    await trio.sleep(1.0)  # pacing only: the network itself is the nemesis


async def test_unreliable_1_static_groups(
    cluster_factory: ClusterFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERAFT_TEST_FAULTS", UNRELIABLE)
    cluster = cluster_factory(GIDS, buckets=10, raft={"snapshot_entries": 100})
    await run_with_nemesis(cluster, seed=21, seconds=8, nemesis_step=no_changes)


async def test_unreliable_2_joins_and_leaves(
    cluster_factory: ClusterFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERAFT_TEST_FAULTS", UNRELIABLE)
    cluster = cluster_factory(GIDS, buckets=10, raft={"snapshot_entries": 100})
    await run_with_nemesis(cluster, seed=22, seconds=10, nemesis_step=config_changes)


@pytest.mark.slow
async def test_unreliable_3_heavier_loss_and_changes(
    cluster_factory: ClusterFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERAFT_TEST_FAULTS", "drop=0.15,delay_ms=0-20,duplicate=0.1,seed=13")
    cluster = cluster_factory(GIDS, buckets=10, raft={"snapshot_entries": 100})
    await run_with_nemesis(cluster, seed=23, seconds=20, nemesis_step=config_changes)


__all__ = ["change_config"]

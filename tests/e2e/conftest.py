"""Fixtures of the end-to-end tests: clusters of node processes, killed by PID at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .sharded_cluster import ShardedCluster

ClusterFactory = Callable[..., ShardedCluster]


class ClusterFactoryImpl:
    """Creates clusters in folders from `mkdir` and remembers them, so teardown kills them all."""

    def __init__(self, mkdir: Callable[[], Path]) -> None:
        self.mkdir = mkdir
        self.created: list[ShardedCluster] = []

    def __call__(
        self, gids: Iterable[int] = (1, 2), *, start: bool = True, **kw: Any
    ) -> ShardedCluster:
        cluster = ShardedCluster.create(self.mkdir(), gids, **kw)
        self.created.append(cluster)
        if start:
            cluster.start()
        return cluster

    def cleanup(self) -> None:
        for cluster in self.created:
            cluster.cleanup()


@pytest.fixture(scope="module")
def module_cluster_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterFactory]:
    """For clusters that a module's tests share (start-up costs seconds on two cores)."""
    factory = ClusterFactoryImpl(lambda: tmp_path_factory.mktemp("cluster"))
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[ClusterFactory]:
    """For a cluster of one test's own, in its tmp_path."""
    count = iter(range(1_000_000))
    factory = ClusterFactoryImpl(lambda: tmp_path / f"cluster{next(count)}")
    try:
        yield factory
    finally:
        factory.cleanup()

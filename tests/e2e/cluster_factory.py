"""ClusterFactory: makes ShardedClusters in fresh folders and kills every one of them at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .sharded_cluster import ShardedCluster


class ClusterFactory:
    """`factory(gids, buckets=..., raft=...)` creates (and by default starts) a cluster in a
    folder from `mkdir`; `cleanup()` kills the nodes of every cluster it made, by PID."""

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

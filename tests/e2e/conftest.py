"""Fixtures of the end-to-end tests: cluster factories whose clusters are killed by PID at teardown."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster_factory import ClusterFactory


@pytest.fixture(scope="module")
def module_cluster_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterFactory]:
    """For clusters that a module's tests share (start-up costs seconds on two cores).

    Module-scoped fixtures cannot be async under pytest-trio (each test is its own
    trio run), so this one only owns processes; tests talk to them via ClusterProbe.
    """
    factory = ClusterFactory(lambda: tmp_path_factory.mktemp("cluster"))
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[ClusterFactory]:
    """For a cluster of one test's own, in its tmp_path."""
    numbers = itertools.count()
    factory = ClusterFactory(lambda: tmp_path / f"cluster{next(numbers)}")
    try:
        yield factory
    finally:
        factory.cleanup()

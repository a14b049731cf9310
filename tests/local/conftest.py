"""Fixtures of the `eraft local` tests: role files on free ports, runs cleaned up by PID."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .local_run import LocalRun, copy_role_files


@pytest.fixture
def role_dir(tmp_path: Path) -> tuple[Path, tuple[str, ...]]:
    """A copy of configs/local on free ports, and its config servers."""
    directory = tmp_path / "local"
    return directory, copy_role_files(directory)


@pytest.fixture
def start_local() -> Iterator[Callable[[Path, str], LocalRun]]:
    runs: list[LocalRun] = []

    def start(directory: Path, name: str = "run") -> LocalRun:
        run = LocalRun(directory, name)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.cleanup()

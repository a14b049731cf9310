"""Fixtures of the process tests: a running 3-node config group in tmp_path on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .cluster import ProcessGroup
from .ports import free_addresses
from .role_files import GroupLayout


def config_layout(size: int = 3, **kw: object) -> GroupLayout:
    """A config group of `size` nodes on free loopback ports, default tuning."""
    return GroupLayout.config_group(free_addresses(size), **kw)  # type: ignore[arg-type]


@pytest.fixture
async def config_group(tmp_path: Path) -> AsyncIterator[ProcessGroup]:
    """Three config nodes, started, with an agreed leader; killed at teardown."""
    async with ProcessGroup(config_layout(), tmp_path) as group:
        group.start()
        await group.wait_for_leader()
        yield group

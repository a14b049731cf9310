"""[limits] in a shard role file: the default, an explicit value, and the ceiling itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from eraft_trio.runtime.role_file import (
    DEFAULT_MAX_VALUE_BYTES,
    MAX_VALUE_BYTES_CEILING,
    load_role_file,
)

from .role_file_cases import HERE, instantiate


def shard_role_with(limits: str, folder: Path) -> Path:
    """The valid shard control with `limits` appended (a [limits] section, or nothing)."""
    path = instantiate(HERE / "valid" / "shard.toml", folder)
    path.write_text(path.read_text() + limits)
    return path


def test_the_default_is_one_mebibyte(tmp_path: Path) -> None:
    assert DEFAULT_MAX_VALUE_BYTES == 1048576
    role = load_role_file(shard_role_with("", tmp_path))
    assert role.max_value_bytes == DEFAULT_MAX_VALUE_BYTES


@pytest.mark.parametrize("limit", [1, 4096, MAX_VALUE_BYTES_CEILING])
def test_an_explicit_limit_up_to_the_ceiling_loads(limit: int, tmp_path: Path) -> None:
    role = load_role_file(shard_role_with(f"\n[limits]\nmax_value_bytes = {limit}\n", tmp_path))
    assert role.max_value_bytes == limit


def test_an_empty_limits_section_keeps_the_default(tmp_path: Path) -> None:
    role = load_role_file(shard_role_with("\n[limits]\n", tmp_path))
    assert role.max_value_bytes == DEFAULT_MAX_VALUE_BYTES

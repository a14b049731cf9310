"""[raft] wal_segment_bytes: the default (32 MiB), an explicit value, and what `eraft local`
writes. The bounds are malformed-file cases of this folder (wal_segment_too_*.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from eraft_trio.cli.local_layout import LOCAL_WAL_SEGMENT_BYTES, LocalLayout
from eraft_trio.runtime.role_file import load_role_file, parse_role

from .role_file_cases import HERE, instantiate


def test_the_default_is_32_mib(tmp_path: Path) -> None:
    role = load_role_file(instantiate(HERE / "valid" / "shard.toml", tmp_path))
    assert role.wal_segment_bytes == 32 << 20


def test_an_explicit_size_loads(tmp_path: Path) -> None:
    path = instantiate(HERE / "valid" / "shard.toml", tmp_path)
    path.write_text(path.read_text().replace("[raft]\n", "[raft]\nwal_segment_bytes = 65536\n"))
    assert load_role_file(path).wal_segment_bytes == 65536


def test_eraft_local_writes_small_segments_on_every_node(tmp_path: Path) -> None:
    files = LocalLayout().role_files()
    assert len(files) == 9
    for name, text in files.items():
        role = parse_role(tomllib.loads(text), tmp_path / name)
        assert role.wal_segment_bytes == LOCAL_WAL_SEGMENT_BYTES == 4 << 20

"""[shard] session_ttl_s: the default (an hour), an explicit value, and a config node's value."""

from __future__ import annotations

from pathlib import Path

from eraft_trio.runtime.role_file import DEFAULT_SESSION_TTL_S, load_role_file

from .role_file_cases import HERE, instantiate


def shard_role_with(line: str, folder: Path) -> Path:
    """The valid shard control with `line` added to its [shard] section."""
    path = instantiate(HERE / "valid" / "shard.toml", folder)
    text = path.read_text()
    assert "[shard]\n" in text
    path.write_text(text.replace("[shard]\n", f"[shard]\n{line}\n"))
    return path


def test_the_default_is_an_hour(tmp_path: Path) -> None:
    assert DEFAULT_SESSION_TTL_S == 3600
    assert load_role_file(shard_role_with("", tmp_path)).session_ttl_s == 3600


def test_an_explicit_ttl_loads(tmp_path: Path) -> None:
    role = load_role_file(shard_role_with("session_ttl_s = 90", tmp_path))
    assert role.session_ttl_s == 90

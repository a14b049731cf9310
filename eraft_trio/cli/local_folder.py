"""The folder `eraft local` runs from: made with role files on first use, resumed after."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eraft_trio.cli.local_layout import (
    DEFAULT_BASE_PORT,
    DEFAULT_GROUPS,
    DEFAULT_REPLICAS,
    LocalLayout,
)
from eraft_trio.protocol.address import parse_address

DEFAULT_FOLDER = Path("eraft-local")
# Where `eraft local` kept its data when it ran from the repository's root by default.
EARLIER_DEFAULT_FOLDER = Path("configs") / "local"


@dataclass(frozen=True)
class ShapeFlags:
    """--groups, --replicas and --base-port as given; None when left out."""

    groups: int | None = None
    replicas: int | None = None
    base_port: int | None = None

    def layout(self) -> LocalLayout:
        return LocalLayout(
            groups=DEFAULT_GROUPS if self.groups is None else self.groups,
            replicas=DEFAULT_REPLICAS if self.replicas is None else self.replicas,
            base_port=DEFAULT_BASE_PORT if self.base_port is None else self.base_port,
        )

    def given(self) -> bool:
        return any(v is not None for v in (self.groups, self.replicas, self.base_port))


def has_role_files(directory: Path) -> bool:
    return directory.is_dir() and any(directory.glob("*.toml"))


def write_layout(directory: Path, layout: LocalLayout) -> None:
    """The layout's role files in `directory` (made if missing); raises OSError."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in layout.role_files().items():
        (directory / name).write_text(text)


def shape_of(config_servers: tuple[str, ...], shard_groups: dict[int, tuple[str, ...]]) -> str:
    """The flags that describe a folder's cluster, to name it in messages."""
    sizes = {len(config_servers), *(len(a) for a in shard_groups.values())}
    replicas = str(sizes.pop()) if len(sizes) == 1 else "(mixed)"
    base = parse_address(config_servers[0])[1]
    return f"--groups {len(shard_groups)} --replicas {replicas} --base-port {base}"


def shape_mismatch(
    flags: ShapeFlags, config_servers: tuple[str, ...], shard_groups: dict[int, tuple[str, ...]]
) -> str | None:
    """The first flag given that the folder's role files contradict, as `--flag N`, or None.

    A folder's cluster keeps its shape: its addresses are in its data (the config's groups,
    the cluster id), so the flags may only repeat it."""
    sizes = [len(config_servers), *(len(a) for a in shard_groups.values())]
    if flags.groups is not None and flags.groups != len(shard_groups):
        return f"--groups {flags.groups}"
    if flags.replicas is not None and any(size != flags.replicas for size in sizes):
        return f"--replicas {flags.replicas}"
    if flags.base_port is not None and flags.base_port != parse_address(config_servers[0])[1]:
        return f"--base-port {flags.base_port}"
    return None

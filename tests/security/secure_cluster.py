"""Node processes of a secured cluster: role files with a [security] section, started and killed by PID."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from integration.role_files import GroupLayout, TomlValue, render_toml

from eraft_trio.chaos.node_processes import NodeProcess


def write_secured_role_files(
    layout: GroupLayout, folder: Path, security: Mapping[str, TomlValue]
) -> list[Path]:
    """One role file per node of `layout`, each with the same [security] section."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for node in range(len(layout.addresses)):
        sections = {**layout.sections(node), "security": dict(security)}
        path = folder / f"{layout.name}-{node}.toml"
        path.write_text(render_toml(sections))
        paths.append(path)
    return paths


@contextmanager
def running_nodes(role_paths: list[Path]) -> Iterator[list[NodeProcess]]:
    """Every node started, each in its own process group; all killed on the way out."""
    nodes = [NodeProcess(path, path.with_suffix(".log")) for path in role_paths]
    try:
        for node in nodes:
            node.start()
        yield nodes
    finally:
        for node in nodes:
            node.cleanup()


def refusal_lines(nodes: list[NodeProcess], code: str) -> list[str]:
    """The nodes' log lines that refuse a connection for `code`, naming its address."""
    return [
        line
        for node in nodes
        for line in node.log_text().splitlines()
        if "refused connection from 127.0.0.1:" in line and code in line
    ]

"""`eraft node` refuses a data_dir holding another node's, another cluster's or foreign data."""

from __future__ import annotations

from pathlib import Path

from integration.cluster import ProcessGroup
from integration.config_writes import ConfigWriter
from integration.ports import free_addresses
from integration.role_files import GroupLayout, render_toml

from .role_file_cases import run_node_command


def role_file_with_data_dir(layout: GroupLayout, node: int, data_dir: str, path: Path) -> Path:
    """Node `node`'s role file of `layout`, but naming `data_dir` (relative to path's folder)."""
    sections = layout.sections(node)
    sections["node"]["data_dir"] = data_dir
    path.write_text(render_toml(sections))
    return path


def assert_refused(path: Path, *fragments: str) -> None:
    run = run_node_command(path)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert f"{path}: node.data_dir: " in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


async def test_data_dir_of_another_node_or_cluster_is_refused(tmp_path: Path) -> None:
    layout = GroupLayout.config_group(free_addresses(3))
    async with ProcessGroup(layout, tmp_path) as group:
        group.start()
        leader, _ = await group.wait_for_leader()
        writer = ConfigWriter(group, client_id=1)
        writer.leader = leader
        for gid in range(1, 6):
            await writer.join(gid)
        own = layout.data_dir(0)

        # While node 0 runs, not even its own role file may open its data a second time.
        assert_refused(group.role_paths[0], "in use")

        assert await group.terminate() == {0: 0, 1: 0, 2: 0}
        assert_refused(
            role_file_with_data_dir(layout, 1, own, tmp_path / "node1-on-node0.toml"),
            "another node's data",
        )
        other_cluster = GroupLayout.config_group(free_addresses(3))
        assert other_cluster.cluster != layout.cluster
        assert_refused(
            role_file_with_data_dir(other_cluster, 0, own, tmp_path / "other-cluster.toml"),
            ": cluster is ",
        )
        foreign = tmp_path / "data" / "foreign"
        foreign.mkdir()
        (foreign / "notes.txt").write_text("not a store")
        assert_refused(
            role_file_with_data_dir(layout, 0, "data/foreign", tmp_path / "foreign.toml"),
            "not an eraft store",
        )
        assert (foreign / "notes.txt").read_text() == "not a store"

        # The refusals left node 0's data as it was: the group still has its five groups.
        group.start()
        writer.leader, _ = await group.wait_for_leader()
        latest = await writer.query()
        assert set(latest["groups"]) == {"1", "2", "3", "4", "5"}

"""The test helper's role files are ones `eraft node` accepts, for both roles (no processes)."""

from __future__ import annotations

from pathlib import Path

from eraft_trio.runtime.role_file import load_role_file

from .ports import free_addresses
from .role_files import cluster_layouts, write_role_files


def test_written_role_files_load_as_their_layout_says(tmp_path: Path) -> None:
    config, shards = cluster_layouts(
        free_addresses(3),
        {1: free_addresses(3), 2: free_addresses(3)},
        raft={"heartbeat_ms": 20, "election_timeout_ms": [200, 400]},
    )
    for layout in [config, *shards]:
        for node, path in enumerate(write_role_files(layout, tmp_path)):
            role = load_role_file(path)
            assert (role.role, role.id, role.group) == (layout.role, node, layout.gid)
            assert role.peers == layout.addresses
            assert role.cluster == layout.cluster == config.cluster
            assert role.data_dir == tmp_path / layout.data_dir(node)
            assert (role.heartbeat_ms, role.election_timeout_ms) == (20, (200, 400))
            if layout.role == "shard":
                assert role.config_servers == config.addresses
    # One folder holds them all without a clash of files or data folders.
    assert len(list(tmp_path.glob("*.toml"))) == 9
    assert len({layout.data_dir(0) for layout in [config, *shards]}) == 3


def test_a_named_cluster_is_written_into_every_file(tmp_path: Path) -> None:
    config, _ = cluster_layouts(free_addresses(1), {}, cluster_name="named")
    (path,) = write_role_files(config, tmp_path)
    assert load_role_file(path).cluster == "named"

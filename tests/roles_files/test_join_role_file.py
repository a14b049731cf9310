"""`join = true` in [raft]: a node to be added to a running group names no id and its own
address in `listen`; `peers` lists members it can reach. And the id it was given is
found in its store after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from eraft_trio.runtime.role_file import RoleFileError, cluster_id_for, load_role_file
from eraft_trio.storage.node_store import NodeStore, stored_identity

JOINER = """[node]
role = "shard"
data_dir = "data/new"
{node_extra}
[raft]
peers = ["127.0.0.1:6088", "127.0.0.1:6089", "127.0.0.1:7000"]
join = true

[shard]
group = 1
config_servers = ["127.0.0.1:8088"]
"""


def write(tmp_path: Path, node_extra: str) -> Path:
    path = tmp_path / "join.toml"
    path.write_text(JOINER.format(node_extra=node_extra))
    return path


def test_a_joining_node_has_its_listen_address_and_no_id(tmp_path: Path) -> None:
    role = load_role_file(write(tmp_path, 'listen = "127.0.0.1:7000"'))
    assert role.join and role.id == -1
    assert role.address == role.listen == "127.0.0.1:7000"
    assert role.peers == ("127.0.0.1:6088", "127.0.0.1:6089")  # itself is not asked


@pytest.mark.parametrize(
    ("node_extra", "key", "problem"),
    [
        ("", "node.listen", "required with raft.join"),
        ('listen = "127.0.0.1:7000"\nid = 3', "node.id", "not allowed with raft.join"),
    ],
)
def test_a_joining_role_file_without_listen_or_with_an_id_is_refused(
    tmp_path: Path, node_extra: str, key: str, problem: str
) -> None:
    with pytest.raises(RoleFileError) as raised:
        load_role_file(write(tmp_path, node_extra))
    assert raised.value.key == key and problem in raised.value.problem


def test_a_fixed_member_still_needs_its_id(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.write_text(path.read_text().replace("join = true\n", ""))
    with pytest.raises(RoleFileError, match="node.id: missing required key"):
        load_role_file(path)


def test_the_id_a_joined_node_was_given_is_read_back_from_its_store(tmp_path: Path) -> None:
    assert stored_identity(tmp_path / "none") is None
    identity: dict[str, str | int] = {"cluster": "c", "role": "shard", "group": 1, "node": 3}
    NodeStore.open(tmp_path / "data", identity).close()
    assert stored_identity(tmp_path / "data") == identity
    NodeStore.open(tmp_path / "data", identity).close()  # and the store opens after it


def test_a_config_node_joining_on_an_original_address_keeps_the_cluster_id(
    tmp_path: Path,
) -> None:
    # A dead config node replaced by a new machine on its address lists the addresses the
    # cluster was created with, its own among them. Its own is not asked, but it still
    # counts for the cluster id: without it the id changed and every member refused the
    # node's handshake (it waited forever to be added; found by the member nemesis).
    original = ["127.0.0.1:8088", "127.0.0.1:8089", "127.0.0.1:8090"]
    path = tmp_path / "config-join.toml"
    path.write_text(
        '[node]\nrole = "config"\ndata_dir = "data/c1"\nlisten = "127.0.0.1:8089"\n'
        f'[raft]\npeers = ["{original[0]}", "{original[1]}", "{original[2]}"]\njoin = true\n'
    )
    role = load_role_file(path)
    assert role.peers == ("127.0.0.1:8088", "127.0.0.1:8090")
    assert role.cluster == cluster_id_for(tuple(original))

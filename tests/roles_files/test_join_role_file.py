"""`join = true` in [raft]: a node to be added to a running group names no id and its own
address in `listen`; `peers` lists members it can reach. And the id it was given is
found in its store after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from eraft_trio.runtime.role_file import RoleFileError, load_role_file
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

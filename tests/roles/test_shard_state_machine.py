"""Single-group rules of the shard state machine: counts, status, unassigned buckets, purity."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from roles.memory_cluster import MemoryCluster

import eraft_trio.roles.shard as shard_package
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import Delete, NewConfig, Put, encode_command
from eraft_trio.roles.shard.state_machine import ShardStateMachine
from eraft_trio.roles.shard.tables import KV
from eraft_trio.storage.view import MemoryView

NBUCKETS = 4

# The state machine's modules; the server beside them may well use trio.
PURE_MODULES = (
    "buckets",
    "commands",
    "conditions",
    "migration",
    "placement",
    "queries",
    "replies",
    "sessions",
    "state_machine",
    "tables",
    "transfer",
    "writes",
)
FORBIDDEN = {"trio", "lmdb", "socket", "time", "datetime", "random", "os", "threading", "asyncio"}
ALLOWED_PROJECT_IMPORTS = (
    "eraft_trio.roles.shard",
    "eraft_trio.protocol",  # plain data: the wire messages and error codes
    "eraft_trio.storage.view",
    "eraft_trio.runtime.state_machine",
)


def test_bucket_of_is_the_contract_crc32() -> None:
    assert bucket_of(b"", 10) == 0
    assert bucket_of(b"hello", 10) == 907060870 % 10  # zlib.crc32(b"hello"), unsigned
    assert bucket_of(b"\xff" * 8, 7) in range(7)


def test_nothing_is_served_before_the_first_config() -> None:
    machine, view = ShardStateMachine(1), MemoryView()
    assert machine.read(view, ("get", b"k")) == {"err": "wrong_group", "num": 0}
    assert machine.apply(view, 1, encode_command(Put(1, 1, b"k", b"v"))) == {
        "err": "wrong_group",
        "num": 0,
    }
    assert machine.read(view, ("config",)) == {"num": 0, "buckets": [], "groups": {}}
    assert machine.read(view, ("status",)) == {"gid": 1, "num": 0, "buckets": [], "gcs": 0}
    assert view.tables == {}


def test_status_counts_keys_without_scanning_and_retries_repeat_their_reply() -> None:
    cluster = MemoryCluster(NBUCKETS, [1])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    group = cluster.groups[1]
    for seq in range(1, 21):
        assert group.propose(Put(1, seq, f"k{seq % 10}".encode(), b"v"))["ok"] is True
    assert group.propose(Delete(1, 21, b"k1"))["deleted"] is True
    missing = group.propose(Delete(1, 22, b"missing"))
    assert missing == {"ok": True, "revision": len(group.log), "deleted": False}
    assert group.propose(Delete(1, 22, b"missing")) == missing
    status = group.read(("status",))
    assert status["num"] == 1
    assert sum(row["keys"] for row in status["buckets"]) == 9 == len(group.view.tables[KV])
    assert [row["state"] for row in status["buckets"]] == ["serving"] * NBUCKETS


def test_a_bucket_given_to_no_group_is_dropped_and_starts_empty_when_reassigned() -> None:
    """Config role never does this (it refuses to leave buckets unassigned), but if a config
    did, no group could ever pull the bucket, so holding it would block every config."""
    cluster = MemoryCluster(NBUCKETS, [1])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    key = next(k for k in (f"k{i}".encode() for i in range(50)) if bucket_of(k, NBUCKETS) == 0)
    cluster.groups[1].propose(Put(1, 1, key, b"v"))
    assert cluster.groups[1].read(("get", key)) == {"value": b"v"}
    cluster.add_config([0, 1, 1, 1])
    cluster.add_config([1, 1, 1, 1])
    cluster.settle()
    assert cluster.groups[1].read(("config",))["num"] == 3
    assert cluster.groups[1].read(("get", key)) == {"value": None}


def test_a_config_with_another_bucket_count_is_refused() -> None:
    machine, view = ShardStateMachine(1), MemoryView()
    first = {"num": 1, "buckets": [1, 1], "groups": {"1": ["a:1"]}}
    assert machine.apply(view, 1, encode_command(NewConfig(first))) == {"ok": True, "num": 1}
    other = {"num": 2, "buckets": [1, 1, 1], "groups": {"1": ["a:1"]}}
    reply = machine.apply(view, 2, encode_command(NewConfig(other)))
    assert reply["err"] == "bad_config"
    assert machine.read(view, ("config",))["num"] == 1


def test_gid_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ShardStateMachine(0)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_shard_state_machine_modules_import_nothing_impure() -> None:
    folder = Path(shard_package.__file__).parent
    for path in (folder / f"{name}.py" for name in PURE_MODULES):
        for module in imported_modules(path):
            assert module.split(".")[0] not in FORBIDDEN, (path.name, module)
            if module.startswith("eraft_trio"):
                assert module.startswith(ALLOWED_PROJECT_IMPORTS), (path.name, module)
                assert not module.endswith(("server", "requests")), (path.name, module)

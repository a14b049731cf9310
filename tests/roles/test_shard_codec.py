"""Shard commands: round trips, deterministic bytes, and refusal of anything malformed."""

from __future__ import annotations

import msgpack
import pytest

from eraft_trio.protocol.limits import MAX_KEY_BYTES
from eraft_trio.roles.shard.commands import (
    CommandDecodeError,
    Delete,
    DropBucket,
    ExpireSessions,
    GcDone,
    InstallChunk,
    NewConfig,
    Put,
    ShardCommand,
    decode_command,
    encode_command,
)
from eraft_trio.roles.shard.placement import Placement
from eraft_trio.roles.shard.state_machine import ShardStateMachine
from eraft_trio.storage.view import MemoryView

CONFIG = {"num": 3, "buckets": [1, 2, 0, 1], "groups": {"1": ["a:1", "b:2"], "2": ["c:3"]}}

COMMANDS: list[ShardCommand] = [
    Put(0, 1, b"", b""),
    Put(2**64 - 1, 7, b"key\x00\xff", b"value"),
    Delete(5, 0, b"k"),
    NewConfig(CONFIG),
    InstallChunk(4, 2**32 - 1, None, (), (), True),
    InstallChunk(4, 3, b"kabc", ((b"a", b"1"), (b"b", b"")), ((9, 3, {"ok": True}, 17),), False),
    InstallChunk(4, 3, None, (), ((9, 3, {"ok": True}, None), (10, 1, None, 0)), True),
    Put(3, 4, b"k", b"v", 1_700_000_000_123, True),
    Put(3, 4, b"k", b"v", 1_700_000_000_123, False),
    Delete(3, 5, b"k", 0, None),
    Delete(3, 5, b"k", None, False),
    Put(3, 6, b"k", b"v", 1, True, 0),  # if absent
    Put(3, 6, b"k", b"v", None, None, 2**63 - 1),  # if at that version
    Put(3, 6, b"k", b"v", 1, False, b""),  # if holding that value
    Delete(3, 7, b"k", None, None, 4),
    Delete(3, 7, b"k", 1, True, b"old"),
    ExpireSessions(1_700_000_000_123, 3_600_000),
    DropBucket(4, 1),
    GcDone(0, 0),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: type(command).__name__)
def test_every_command_round_trips(command: ShardCommand) -> None:
    assert decode_command(encode_command(command)) == command


def test_config_bytes_do_not_depend_on_group_order() -> None:
    reordered = {"num": 3, "buckets": [1, 2, 0, 1], "groups": {"2": ["c:3"], "1": ["a:1", "b:2"]}}
    assert encode_command(NewConfig(reordered)) == encode_command(NewConfig(CONFIG))
    decoded = decode_command(encode_command(NewConfig(reordered)))
    assert isinstance(decoded, NewConfig)
    assert list(decoded.config["groups"]) == ["1", "2"]


@pytest.mark.parametrize(
    "fields",
    [
        [],
        [99, 1],
        [1, -1, 1, b"k", b"v"],  # negative client id
        [1, 1.5, 1, b"k", b"v"],  # client id not an integer
        [1, 1, True, b"k", b"v"],  # a bool is not a seq
        [1, 1, 1, "k", b"v"],  # key as str, not bytes
        [2, 1, 1],  # delete without a key
        [3, 1, [1, 1], [["x", ["a:1"]]]],  # gid not a number
        [3, 1, [1, -2], []],  # negative gid in buckets
        [4, 1, 2**32, None, [], [], True],  # bucket past 4 bytes
        [4, 1, 0, None, [[b"k"]], [], True],  # row without a value
        [4, 1, 0, None, [], [[1, 1]], True],  # session without a reply
        [4, 1, 0, None, [], [], 1],  # done not a bool
        [5, 1],
        [1, 1, 1, b"k", b"v", 5],  # a write's trailing fields come in pairs
        [1, 1, 1, b"k", b"v", -5, True],  # negative stamp
        [1, 1, 1, b"k", b"v", 5, 1],  # new_session not a bool
        [2, 1, 1, b"k", 1.5, None],  # stamp not an integer
        [4, 1, 0, None, [], [[1, 1, None, -1]], True],  # negative session last use
        [1, 1, 1, b"k", b"v", 5, True, -1],  # negative compared version
        [1, 1, 1, b"k", b"v", 5, True, 2**63],  # compared version past 8 signed bytes
        [1, 1, 1, b"k", b"v", 5, True, "v"],  # compared value as str, not bytes
        [2, 1, 1, b"k", None, None, True],  # a bool is not a compared version
        [7, 1],  # expiry without a TTL
        [7, 1, "60"],
    ],
)
def test_malformed_commands_are_refused_by_the_state_machine(fields: list[object]) -> None:
    data = msgpack.packb(fields, use_bin_type=True)
    with pytest.raises(CommandDecodeError):
        decode_command(data)
    view = MemoryView()
    reply = ShardStateMachine(1).apply(view, 1, data)
    assert reply["err"] == "bad_command"
    assert view.tables == {}


def test_writes_from_before_session_expiry_still_decode() -> None:
    """Log entries written before the stamp and the new-session mark existed."""
    old_put = msgpack.packb([1, 7, 2, b"k", b"v"], use_bin_type=True)
    old_delete = msgpack.packb([2, 7, 3, b"k"], use_bin_type=True)
    assert decode_command(old_put) == Put(7, 2, b"k", b"v", None, None)
    assert decode_command(old_delete) == Delete(7, 3, b"k", None, None)
    assert encode_command(Put(7, 2, b"k", b"v")) == old_put  # unmarked writes keep the shape
    old_chunk = msgpack.packb([4, 1, 0, None, [], [[9, 3, None]], True], use_bin_type=True)
    decoded = decode_command(old_chunk)
    assert isinstance(decoded, InstallChunk)
    assert decoded.sessions == ((9, 3, None, None),)


def test_bytes_that_are_not_msgpack_are_refused() -> None:
    assert ShardStateMachine(1).apply(MemoryView(), 1, b"\xc1")["err"] == "bad_command"


def test_a_key_too_long_for_storage_is_refused() -> None:
    machine, view = ShardStateMachine(1), MemoryView()
    machine.apply(view, 1, encode_command(NewConfig({"num": 1, "buckets": [1], "groups": {}})))
    too_long = encode_command(Put(1, 1, b"k" * (MAX_KEY_BYTES + 1), b"v"))
    assert machine.apply(view, 2, too_long)["err"] == "key_too_long"
    assert machine.apply(view, 3, encode_command(Put(1, 1, b"k" * MAX_KEY_BYTES, b"v"))) == {
        "ok": True,
        "revision": 3,
        "version": 1,
    }


@pytest.mark.parametrize(
    "config",
    [
        {"num": -1, "buckets": [], "groups": {}},
        {"num": 1, "buckets": [1, "x"], "groups": {}},
        {"num": 1, "buckets": [1], "groups": {"0": ["a:1"]}},  # gid 0 is "unassigned"
        {"num": 1, "buckets": [1], "groups": {"1": "a:1"}},
        {"num": 1, "buckets": [1]},
    ],
)
def test_malformed_configs_are_refused(config: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Placement.from_json(config)
    with pytest.raises(ValueError):
        encode_command(NewConfig(config))


def test_unknown_queries_are_refused() -> None:
    machine, view = ShardStateMachine(1), MemoryView()
    for query in [
        (),
        ("nope",),
        ("get", "str key"),
        ("fetch", 1, 0, None, 0),
        "get",
        ("config", 1),
    ]:
        assert machine.read(view, query)["err"] == "bad_query"

"""Config and command encodings: round trips, determinism, the JSON contract, malformed bytes."""

from __future__ import annotations

import json

import msgpack
import pytest

from eraft_trio.roles.config.commands import (
    CommandDecodeError,
    Join,
    Leave,
    Move,
    SessionCommand,
    SetAddresses,
    decode_command,
    encode_command,
)
from eraft_trio.roles.config.model import Config


def test_config_json_matches_the_contract() -> None:
    config = Config(5, (1, 1, 2), {2: ("b:1",), 1: ("a:1", "a:2")})
    assert json.dumps(config.to_json()) == (
        '{"num": 5, "buckets": [1, 1, 2], "groups": {"1": ["a:1", "a:2"], "2": ["b:1"]}}'
    )
    assert Config.from_json(json.loads(json.dumps(config.to_json()))) == config


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"num": 1, "buckets": []},
        {"num": -1, "buckets": [], "groups": {}},
        {"num": True, "buckets": [], "groups": {}},
        {"num": 1, "buckets": [-1], "groups": {}},
        {"num": 1, "buckets": [], "groups": {"x": ["a:1"]}},
        {"num": 1, "buckets": [], "groups": {"1": "a:1"}},
        {"num": 1, "buckets": [], "groups": {"1": [1]}},
        {"num": 1, "buckets": [], "groups": {}, "extra": 1},
    ],
)
def test_config_from_json_rejects_malformed(data: object) -> None:
    with pytest.raises(ValueError):
        Config.from_json(data)


def test_config_storage_bytes_ignore_group_insertion_order() -> None:
    one = Config(3, (1, 2), {1: ("a:1",), 2: ("b:1",)})
    other = Config(3, (1, 2), {2: ("b:1",), 1: ("a:1",)})
    assert one.encode() == other.encode()
    assert Config.decode(one.encode()) == one
    assert list(other.groups) == [1, 2]


@pytest.mark.parametrize(
    "command",
    [
        Join({3: ("c:1", "c:2"), 1: ("a:1",)}),
        Join({7: ("x:9",)}, rebalance=False),
        Join({7: ("x:9",)}, rejoin=True),
        Leave((4, 2)),
        Move((0, 5, 9), 3),
        SetAddresses(4, ("d:1", "d:2", "[::1]:7000")),
    ],
)
def test_command_round_trip(command: Join | Leave | Move | SetAddresses) -> None:
    proposal = SessionCommand(2**64 - 1, 17, command)
    assert decode_command(encode_command(proposal)) == proposal


def test_join_bytes_ignore_group_insertion_order() -> None:
    one = SessionCommand(1, 1, Join({1: ("a:1",), 2: ("b:1",)}))
    other = SessionCommand(1, 1, Join({2: ("b:1",), 1: ("a:1",)}))
    assert encode_command(one) == encode_command(other)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # a byte msgpack never uses
        msgpack.packb({"a": 1}),
        msgpack.packb([1, 1]),
        msgpack.packb([-1, 1, 2, [1]]),  # negative client id
        msgpack.packb([1, -1, 2, [1]]),  # negative seq
        msgpack.packb([1, True, 2, [1]]),  # bool seq
        msgpack.packb([1, 1, 9, [1]]),  # unknown tag
        msgpack.packb([1, 1, 1, [[1, ["a:1"]]]]),  # join without rebalance flag
        msgpack.packb([1, 1, 1, [[1, ["a:1"]], [1, ["b:1"]]], True]),  # gid twice
        msgpack.packb([1, 1, 1, [[1, [5]]], True]),  # address not a string
        msgpack.packb([1, 1, 2, ["x"]]),  # leave gid not an int
        msgpack.packb([1, 1, 3, [1], "2"]),  # move gid not an int
    ],
)
def test_decode_rejects_malformed(data: bytes) -> None:
    with pytest.raises(CommandDecodeError):
        decode_command(data)

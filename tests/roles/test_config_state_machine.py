"""The config state machine over a MemoryView: sessions, refusals, reads, snapshots, balance."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eraft_trio.roles.config.commands import (
    ConfigCommand,
    Join,
    Leave,
    Move,
    SessionCommand,
    encode_command,
)
from eraft_trio.roles.config.model import Config
from eraft_trio.roles.config.state_machine import ConfigStateMachine
from eraft_trio.runtime.state_machine import StateMachine
from eraft_trio.storage.view import MemoryView


def addresses(gid: int) -> tuple[str, ...]:
    return (f"127.0.{gid}.1:6088", f"127.0.{gid}.2:6088")


def entry(client_id: int, seq: int, command: ConfigCommand) -> bytes:
    return encode_command(SessionCommand(client_id, seq, command))


def latest(machine: ConfigStateMachine, view: MemoryView) -> Config:
    return Config.from_json(machine.read(view, ("query", None)))


@pytest.fixture
def machine() -> ConfigStateMachine:
    return ConfigStateMachine(10)


def joined(machine: ConfigStateMachine, *gids: int) -> MemoryView:
    """A view where client 1 (seq 1..) joined each gid in turn."""
    view = MemoryView()
    for seq, gid in enumerate(gids, start=1):
        assert machine.apply(view, seq, entry(1, seq, Join({gid: addresses(gid)})))["ok"]
    return view


def test_is_a_runtime_state_machine() -> None:
    machine: StateMachine = ConfigStateMachine(10)  # checked by mypy
    with pytest.raises(ValueError, match="positive"):
        ConfigStateMachine(0)
    assert machine.read(MemoryView(), ("query", None))["num"] == 0


def test_config_zero_before_any_command(machine: ConfigStateMachine) -> None:
    view = MemoryView()
    assert machine.read(view, ("query", -1)) == {"num": 0, "buckets": [0] * 10, "groups": {}}
    assert machine.read(view, ("query", 0)) == machine.read(view, ("query", None))
    assert machine.read(view, ("query", 1))["code"] == "no_such_config"
    assert view.tables == {}  # reads never write


def test_stored_bucket_count_wins_over_the_constructor(machine: ConfigStateMachine) -> None:
    view = joined(machine, 1)
    other = ConfigStateMachine(64)
    assert other.apply(view, 9, entry(1, 2, Join({2: addresses(2)})))["ok"]
    assert len(latest(other, view).buckets) == 10


def test_retry_returns_first_reply_without_a_new_config(machine: ConfigStateMachine) -> None:
    """Exactly-once: the same (client, seq) applied twice creates one config."""
    view = MemoryView()
    join = entry(7, 1, Join({1: addresses(1)}))
    first = machine.apply(view, 1, join)
    tables_after_first = {name: dict(rows) for name, rows in view.tables.items()}
    assert machine.apply(view, 2, join) == first == {"ok": True, "num": 1}
    assert view.tables == tables_after_first
    assert latest(machine, view).num == 1


def test_older_seq_is_refused_and_changes_nothing(machine: ConfigStateMachine) -> None:
    view = joined(machine, 1, 2)
    before = view.copy().tables
    reply = machine.apply(view, 3, entry(1, 1, Join({3: addresses(3)})))
    assert reply["code"] == "stale_seq"
    assert view.tables == before


def test_sessions_are_per_client(machine: ConfigStateMachine) -> None:
    view = joined(machine, 1)
    assert machine.apply(view, 2, entry(2, 1, Join({2: addresses(2)}))) == {"ok": True, "num": 2}


def test_refusal_consumes_the_seq_and_a_retry_gets_the_same_refusal(
    machine: ConfigStateMachine,
) -> None:
    view = joined(machine, 1)
    bad = entry(1, 2, Leave((9,)))
    reply = machine.apply(view, 2, bad)
    assert reply["code"] == "unknown_gid"
    assert machine.apply(view, 3, bad) == reply
    # The next seq is a new command; the config chain never saw the refusal.
    assert machine.apply(view, 4, entry(1, 3, Join({2: addresses(2)}))) == {"ok": True, "num": 2}


BAD_COMMANDS: list[tuple[ConfigCommand, str]] = [
    (Join({}), "bad_request"),
    (Join({0: addresses(5)}), "bad_gid"),
    (Join({-3: addresses(5)}), "bad_gid"),
    (Join({2**63: addresses(5)}), "bad_gid"),
    (Join({1: addresses(5)}), "gid_exists"),
    (Join({5: ()}), "bad_address"),
    (Join({5: ("127.0.0.1",)}), "bad_address"),
    (Join({5: ("127.0.0.1:0",)}), "bad_address"),
    (Join({5: ("127.0.0.1:65536",)}), "bad_address"),
    (Join({5: (":6088",)}), "bad_address"),
    (Join({5: ("a b:6088",)}), "bad_address"),
    (Join({5: ("a:1", "a:1")}), "bad_address"),
    (Join({5: (addresses(1)[0],)}), "address_in_use"),
    (Join({5: ("x:1",), 6: ("x:1",)}), "address_in_use"),
    (Join({5: addresses(5), 1: addresses(1)}), "gid_exists"),  # all-or-nothing
    (Leave(()), "bad_request"),
    (Leave((2, 2)), "bad_request"),
    (Leave((9,)), "unknown_gid"),
    (Leave((2, 9)), "unknown_gid"),  # all-or-nothing
    (Leave((1, 2)), "last_group"),
    (Move((), 1), "bad_request"),
    (Move((10,), 1), "bad_bucket"),
    (Move((-1,), 1), "bad_bucket"),
    (Move((0,), 9), "unknown_gid"),
    (Move((0,), 0), "unknown_gid"),
]


@pytest.mark.parametrize(("command", "code"), BAD_COMMANDS)
def test_every_bad_input_gets_its_code_and_changes_no_config(
    machine: ConfigStateMachine, command: ConfigCommand, code: str
) -> None:
    view = joined(machine, 1, 2)
    configs_before = dict(view.tables["cfg"])
    reply = machine.apply(view, 3, entry(1, 3, command))
    assert reply["ok"] is False
    assert reply["code"] == code
    assert isinstance(reply["message"], str) and reply["message"]
    assert view.tables["cfg"] == configs_before
    assert latest(machine, view).num == 2


def test_undecodable_bytes_are_refused_without_touching_sessions(
    machine: ConfigStateMachine,
) -> None:
    view = joined(machine, 1)
    before = view.copy().tables
    assert machine.apply(view, 2, b"\x93\x01")["code"] == "bad_command"
    assert machine.apply(view, 3, msgpack.packb([1, 2, 99, []]))["code"] == "bad_command"
    assert view.tables == before


def test_leave_of_every_group_while_nothing_is_assigned_is_allowed(
    machine: ConfigStateMachine,
) -> None:
    view = MemoryView()
    assert machine.apply(view, 1, entry(1, 1, Join({1: addresses(1)}, rebalance=False)))["ok"]
    assert latest(machine, view).buckets == (0,) * 10
    assert machine.apply(view, 2, entry(1, 2, Leave((1,)))) == {"ok": True, "num": 2}
    assert latest(machine, view).groups == {}


def test_join_without_rebalance_only_registers(machine: ConfigStateMachine) -> None:
    view = joined(machine, 1)
    reply = machine.apply(view, 2, entry(1, 2, Join({2: addresses(2)}, rebalance=False)))
    assert reply == {"ok": True, "num": 2}
    config = latest(machine, view)
    assert config.buckets == (1,) * 10
    assert config.groups[2] == addresses(2)


def test_move_then_join_rebalances_evenly(machine: ConfigStateMachine) -> None:
    view = joined(machine, 1, 2)
    assert machine.apply(view, 3, entry(1, 3, Move(tuple(range(10)), 1)))["ok"]
    assert latest(machine, view).buckets == (1,) * 10
    assert machine.apply(view, 4, entry(1, 4, Join({3: addresses(3)})))["ok"]
    assert sorted(latest(machine, view).load().values()) == [3, 3, 4]


def test_next_returns_the_config_after_num(machine: ConfigStateMachine) -> None:
    view = joined(machine, 1, 2)
    assert machine.read(view, ("next", 0)) == machine.read(view, ("query", 1))
    assert machine.read(view, ["next", 1])["num"] == 2  # msgpack delivers lists
    assert machine.read(view, ("next", 2))["code"] == "no_such_config"


@pytest.mark.parametrize(
    "query",
    [
        None,
        "query",
        ("query",),
        ("query", "1"),
        ("query", True),
        ("query", -2),
        ("next", None),
        ("next", -5),
        ("drop", 1),
    ],
)
def test_bad_queries_are_refused(machine: ConfigStateMachine, query: Any) -> None:
    view = joined(machine, 1)
    assert machine.read(view, query)["code"] == "bad_query"


def test_snapshot_copy_continues_identically(machine: ConfigStateMachine) -> None:
    """A replica restored from a copy of the tables applies the rest of the log identically."""
    view = joined(machine, 1, 2, 3)
    snapshot = view.copy()
    rest = [
        entry(1, 4, Leave((2,))),
        entry(1, 4, Leave((2,))),  # a retry that spans the snapshot point
        entry(2, 1, Move((0, 1), 3)),
        entry(1, 5, Join({4: addresses(4), 5: addresses(5)})),
    ]
    restored = ConfigStateMachine(10)  # a fresh object: nothing lives outside the tables
    replies = [machine.apply(view, 10 + i, e) for i, e in enumerate(rest)]
    assert [restored.apply(snapshot, 10 + i, e) for i, e in enumerate(rest)] == replies
    assert snapshot.tables == view.tables
    assert restored.apply(snapshot, 99, entry(1, 3, Join({9: addresses(9)})))["code"] == "stale_seq"


operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("join"), st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True)
        ),
        st.tuples(
            st.just("leave"), st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True)
        ),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 17), operations)
def test_balance_after_random_joins_and_leaves(bucket_count: int, ops: list[Any]) -> None:
    """Lab 4A's balance check after every step of a random join/leave sequence."""
    machine = ConfigStateMachine(bucket_count)
    view = MemoryView()
    members: set[int] = set()
    ever_joined: set[int] = set()  # gids never alias: a left gid cannot join again
    for seq, (kind, gids) in enumerate(ops, start=1):
        command: ConfigCommand
        if kind == "join":
            command = Join({gid: (f"h{gid}:1",) for gid in gids})
            valid = not ever_joined & set(gids)
        else:
            command = Leave(tuple(gids))
            valid = set(gids) <= members and bool(members - set(gids))
        before = latest(machine, view)
        reply = machine.apply(view, seq, entry(1, seq, command))
        assert reply["ok"] is valid, reply
        after = latest(machine, view)
        if not valid:
            assert after == before
            continue
        members = members | set(gids) if kind == "join" else members - set(gids)
        ever_joined |= members
        assert after.num == before.num + 1
        assert set(after.groups) == members
        assert all(owner in members for owner in after.buckets)
        loads = after.load().values()
        assert max(loads) <= min(loads) + 1
        # Fewest moves: a bucket moves only away from a leaving or an overloaded group.
        quotient = bucket_count // len(members)
        for bucket, (old, new) in enumerate(zip(before.buckets, after.buckets, strict=True)):
            if old != new and old in members:
                assert before.load()[old] > quotient, (bucket, old, new)

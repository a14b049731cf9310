"""Transactions in the pure shard state machine: compares, branches, atomic writes,
exactly-once retries, one-bucket rule, limits, and a txn's session moving with its bucket."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from roles.memory_cluster import MemoryCluster, MemoryGroup

from eraft_trio.protocol.txn import TxnCompare, TxnOp
from eraft_trio.protocol.txn_limits import MAX_READ_BYTES
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import (
    CommandDecodeError,
    Put,
    decode_command,
    encode_command,
)
from eraft_trio.roles.shard.tables import Entry
from eraft_trio.roles.shard.txn import holds
from eraft_trio.roles.shard.txn_command import Txn

NBUCKETS = 4


def serving_group(replicas: int = 2) -> MemoryGroup:
    cluster = MemoryCluster(NBUCKETS, [1], replicas=replicas)
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    return cluster.groups[1]


def two_keys_in_two_buckets() -> tuple[bytes, bytes]:
    first = b"a"
    for n in range(100):
        other = b"b%d" % n
        if bucket_of(other, NBUCKETS) != bucket_of(first, NBUCKETS):
            return first, other
    raise AssertionError("no second bucket found")


def put(key: bytes, value: bytes) -> TxnOp:
    return TxnOp("put", key, value)


def get(key: bytes) -> TxnOp:
    return TxnOp("get", key)


def delete(key: bytes) -> TxnOp:
    return TxnOp("delete", key)


def txn(
    seq: int,
    compares: list[TxnCompare],
    success: list[TxnOp],
    failure: list[TxnOp] = (),  # type: ignore[assignment]
    client_id: int = 7,
) -> Txn:
    return Txn(client_id, seq, tuple(compares), tuple(success), tuple(failure), 1000, True)


def versioned(group: MemoryGroup, key: bytes) -> tuple[Any, ...]:
    reply = group.read(("get_versioned", key))
    return reply["value"], reply["version"], reply["mod_revision"]


def test_the_command_round_trips_and_refuses_bad_shapes() -> None:
    command = txn(
        3,
        [TxnCompare(b"u{1}a", "version", ">", 2), TxnCompare(b"u{1}b", "value", "==", b"x")],
        [put(b"u{1}a", b"v"), delete(b"u{1}b"), get(b"u{1}c")],
        [get(b"u{1}a")],
    )
    assert decode_command(encode_command(command)) == command
    for body in (
        [8, 1, 1, None, None, [[b"k", "size", "==", 1]], [], []],  # unknown target
        [8, 1, 1, None, None, [[b"k", "version", "==", b"1"]], [], []],  # bytes for a version
        [8, 1, 1, None, None, [], [["put", b"k", None]], []],  # a put without a value
        [8, 1, 1, None, None, [], [["get", b"k", b"v"]], []],  # a get with one
        [8, 1, 1, None, None, [], [["append", b"k", b"v"]], []],
        [8, 1, 1, None, None, [], []],  # a field short
    ):
        with pytest.raises(CommandDecodeError):
            decode_command(msgpack.packb(body, use_bin_type=True))


def test_success_runs_when_every_compare_holds_and_writes_share_one_revision() -> None:
    group = serving_group()
    group.propose(Put(1, 1, b"u{1}a", b"old"))
    reply = group.propose(
        txn(
            1,
            [TxnCompare(b"u{1}a", "value", "==", b"old"), TxnCompare(b"u{1}b", "version", "==", 0)],
            [put(b"u{1}a", b"new"), put(b"u{1}b", b"fresh"), get(b"u{1}a"), delete(b"u{1}c")],
            [get(b"u{1}a")],
        )
    )
    revision = len(group.log)
    assert reply == {
        "ok": True,
        "succeeded": True,
        "revision": revision,
        "results": [
            {"op": "put", "version": 2},
            {"op": "put", "version": 1},
            # a get sees the writes before it in its list
            {"op": "get", "value": b"new", "version": 2, "mod_revision": revision},
            {"op": "delete", "deleted": False},
        ],
    }
    assert versioned(group, b"u{1}a") == (b"new", 2, revision)
    assert versioned(group, b"u{1}b") == (b"fresh", 1, revision)
    status = group.read(("status",))
    bucket = bucket_of(b"u{1}a", NBUCKETS)
    assert [b["keys"] for b in status["buckets"] if b["bucket"] == bucket] == [2]
    assert group.replicas[0].tables == group.replicas[1].tables


def test_failure_runs_when_a_compare_fails_and_the_success_ops_write_nothing() -> None:
    group = serving_group()
    group.propose(Put(1, 1, b"u{1}a", b"old"))
    written = len(group.log)
    reply = group.propose(
        txn(
            1,
            [TxnCompare(b"u{1}a", "version", "==", 5)],
            [put(b"u{1}a", b"never"), delete(b"u{1}a")],
            [get(b"u{1}a"), put(b"u{1}flag", b"lost")],
        )
    )
    assert reply["succeeded"] is False
    assert reply["results"] == [
        {"op": "get", "value": b"old", "version": 1, "mod_revision": written},
        {"op": "put", "version": 1},
    ]
    assert versioned(group, b"u{1}a") == (b"old", 1, written)
    assert versioned(group, b"u{1}flag")[0] == b"lost"


def test_deleting_in_a_txn_counts_the_bucket_down() -> None:
    group = serving_group()
    group.propose(Put(1, 1, b"u{1}a", b"x"))
    reply = group.propose(txn(1, [], [delete(b"u{1}a")]))
    assert reply["results"] == [{"op": "delete", "deleted": True}]
    assert versioned(group, b"u{1}a") == (None, 0, 0)
    assert all(b["keys"] == 0 for b in group.read(("status",))["buckets"])


@pytest.mark.parametrize(
    ("compare", "expected"),
    [
        (TxnCompare(b"k", "version", "==", 3), True),
        (TxnCompare(b"k", "version", "!=", 3), False),
        (TxnCompare(b"k", "version", "<", 4), True),
        (TxnCompare(b"k", "version", ">", 3), False),
        (TxnCompare(b"k", "mod_revision", ">", 9), True),
        (TxnCompare(b"k", "mod_revision", "<", 10), False),
        (TxnCompare(b"k", "value", "==", b"b"), True),
        (TxnCompare(b"k", "value", "<", b"c"), True),
        (TxnCompare(b"k", "value", ">", b"ba"), False),
        (TxnCompare(b"k", "value", "!=", b"b"), False),
    ],
)
def test_compares_of_a_stored_key(compare: TxnCompare, expected: bool) -> None:
    assert holds(compare, Entry(b"b", 3, 10)) is expected


def test_an_absent_key_has_version_and_revision_zero_and_no_value_to_compare() -> None:
    assert holds(TxnCompare(b"k", "version", "==", 0), None)
    assert holds(TxnCompare(b"k", "mod_revision", "<", 1), None)
    assert not holds(TxnCompare(b"k", "value", "==", b""), None)
    assert not holds(TxnCompare(b"k", "value", "!=", b"x"), None)


def test_a_retried_txn_gets_its_first_answer_and_is_not_applied_twice() -> None:
    group = serving_group()
    counter = txn(1, [TxnCompare(b"n", "version", "==", 0)], [put(b"n", b"1")], [get(b"n")])
    first = group.propose(counter)
    assert first["succeeded"] is True
    again = group.propose(counter)  # the same seq: the same answer, not a failed compare
    assert again == first
    assert versioned(group, b"n")[:2] == (b"1", 1)
    # An older seq than the session's latest changes nothing.
    group.propose(txn(2, [], [put(b"n", b"2")]))
    assert group.propose(counter) == {"ok": True}
    assert versioned(group, b"n")[:2] == (b"2", 2)


def test_a_txn_across_buckets_is_refused_naming_them_and_writes_nothing() -> None:
    group = serving_group()
    first, second = two_keys_in_two_buckets()
    reply = group.propose(txn(1, [TxnCompare(first, "version", "==", 0)], [put(second, b"v")]))
    assert reply["err"] == "cross_bucket"
    for key in (first, second):
        assert f"bucket {bucket_of(key, NBUCKETS)}" in reply["message"]
    assert versioned(group, second) == (None, 0, 0)
    # Refused, not remembered: the same seq may still apply once fixed.
    assert group.propose(txn(1, [], [put(second, b"v")]))["succeeded"] is True


def test_hash_tags_put_differently_named_keys_in_one_txn() -> None:
    group = serving_group()
    reply = group.propose(txn(1, [], [put(b"user{42}:name", b"ann"), put(b"user{42}:mail", b"@")]))
    assert reply["succeeded"] is True


def test_gets_reading_more_than_the_cap_refuse_the_txn_and_write_nothing() -> None:
    group = serving_group(replicas=1)
    big = b"x" * (MAX_READ_BYTES // 2 + 1)
    group.propose(Put(1, 1, b"u{1}a", big))
    group.propose(Put(1, 2, b"u{1}b", big))
    reply = group.propose(txn(1, [], [put(b"u{1}c", b"c"), get(b"u{1}a"), get(b"u{1}b")]))
    assert reply["err"] == "value_too_large"
    assert versioned(group, b"u{1}c") == (None, 0, 0)


def test_a_bucket_not_served_here_answers_wrong_group() -> None:
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    owners = [1] * NBUCKETS
    owners[bucket_of(b"moving", NBUCKETS)] = 2
    cluster.add_config(owners)
    cluster.settle()
    reply = cluster.groups[1].propose(txn(1, [], [put(b"moving", b"v")]))
    assert reply["err"] == "wrong_group"


def test_a_txn_session_moves_with_its_bucket_so_a_retry_there_is_not_applied_again() -> None:
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    g1, g2 = cluster.groups[1], cluster.groups[2]
    increment = txn(1, [TxnCompare(b"c", "version", "==", 0)], [put(b"c", b"1")], [get(b"c")])
    first = g1.propose(increment)
    owners = [1] * NBUCKETS
    owners[bucket_of(b"c", NBUCKETS)] = 2
    cluster.add_config(owners)
    cluster.settle()
    assert g2.propose(increment) == first  # the retry reaches the new owner
    assert versioned(g2, b"c")[:2] == (b"1", 1)


def test_a_txn_retried_after_its_session_expired_is_refused() -> None:
    group = serving_group()
    retry = Txn(9, 1, (), (put(b"k", b"v"),), (), 1000, False)
    assert group.propose(retry)["err"] == "session_expired"
    assert versioned(group, b"k") == (None, 0, 0)

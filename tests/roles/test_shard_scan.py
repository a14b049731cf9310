"""The scan query in the pure shard state machine: prefix ranges (the 0xff edge included),
after cursors, pages bounded by rows and by bytes, big values, keys only, buckets not
served here, and malformed queries."""

from __future__ import annotations

from typing import Any

import pytest
from roles.memory_cluster import MemoryClerk, MemoryCluster, MemoryGroup

from eraft_trio.protocol.errors import ErrorCode
from eraft_trio.protocol.scan import MAX_SCAN_BYTES, MAX_SCAN_ROWS, KvScan, ScanCursor, ScanPage
from eraft_trio.roles.shard import scan, tables
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import Put

BIG = 1 << 20


def one_bucket_group(keys: list[bytes], value: bytes = b"v") -> MemoryGroup:
    """A group serving the only bucket, holding `keys` (each written once)."""
    cluster = MemoryCluster(1, [1])
    cluster.add_config([1])
    cluster.settle()
    clerk = MemoryClerk(cluster, 7)
    for key in keys:
        clerk.put(key, value)
    return cluster.groups[1]


def page(
    group: MemoryGroup,
    prefix: bytes = b"",
    after: bytes | None = None,
    *,
    buckets: tuple[int, ...] = (0,),
    rows: int = 100,
    max_bytes: int = 1 << 20,
    keys_only: bool = False,
) -> dict[str, Any]:
    reply: dict[str, Any] = group.read(
        ("scan", [(b, after) for b in buckets], prefix, rows, max_bytes, keys_only)
    )
    return reply


def keys_of(reply: dict[str, Any], bucket: int = 0) -> list[bytes]:
    for number, rows, _ in reply["pages"]:
        if number == bucket:
            return [row[0] for row in rows]
    raise AssertionError(f"no page of bucket {bucket} in {reply}")


def more_of(reply: dict[str, Any], bucket: int = 0) -> bool:
    return next(more for number, _, more in reply["pages"] if number == bucket)


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        (b"", None),
        (b"a", b"b"),
        (b"a\xff", b"b"),
        (b"a\xfe", b"a\xff"),
        (b"\xff", None),
        (b"\xff\xff", None),
        (b"a\xff\xff", b"b"),
        (b"\x00", b"\x01"),
    ],
)
def test_prefix_end_is_the_smallest_string_past_every_key_with_the_prefix(
    prefix: bytes, end: bytes | None
) -> None:
    assert scan.prefix_end(prefix) == end


def test_a_prefix_is_a_range_within_its_bucket_and_the_after_key_cuts_it() -> None:
    base = tables.u32(5)
    assert scan.key_range(5, b"ab", None) == (base + b"ab", base + b"ac")
    assert scan.key_range(5, b"", None) == (base, tables.u32(6))
    assert scan.key_range(5, b"\xff", None) == (base + b"\xff", tables.u32(6))
    assert scan.key_range(2**32 - 1, b"", None) == (tables.u32(2**32 - 1), None)
    assert scan.key_range(5, b"ab", b"abc") == (base + b"abc\x00", base + b"ac")
    assert scan.key_range(5, b"ab", b"a") == (base + b"ab", base + b"ac")  # after below it


def test_a_prefix_scan_returns_exactly_the_keys_with_the_prefix_in_order() -> None:
    keys = [b"a", b"ab", b"abc", b"ab\xff", b"ac", b"b", b"\xff", b"\xff\x00", b"\xff\xff\x01"]
    group = one_bucket_group(keys)
    assert keys_of(page(group)) == sorted(keys)
    assert keys_of(page(group, b"ab")) == [b"ab", b"abc", b"ab\xff"]
    assert keys_of(page(group, b"ab\xff")) == [b"ab\xff"]
    # The 0xff edge: no key above the prefix's range exists in the bucket, so the range
    # runs to the bucket's end, and keys of the next bucket never leak in.
    assert keys_of(page(group, b"\xff")) == [b"\xff", b"\xff\x00", b"\xff\xff\x01"]
    assert keys_of(page(group, b"\xff\xff")) == [b"\xff\xff\x01"]
    assert keys_of(page(group, b"zz")) == []
    assert more_of(page(group, b"zz")) is False


def test_the_0xff_prefix_stops_at_its_bucket_end() -> None:
    cluster = MemoryCluster(4, [1])
    cluster.add_config([1] * 4)
    cluster.settle()
    clerk = MemoryClerk(cluster, 7)
    keys = [bytes([0xFF]) * n + b"%d" % i for n in (1, 2, 3) for i in range(10)]
    for key in keys:
        clerk.put(key, b"v")
    group = cluster.groups[1]
    for bucket in range(4):
        found = keys_of(page(group, b"\xff", buckets=(bucket,)), bucket)
        assert found == sorted(k for k in keys if bucket_of(k, 4) == bucket)


def test_after_resumes_past_the_key_whether_or_not_it_exists() -> None:
    keys = [b"k%02d" % n for n in range(10)]
    group = one_bucket_group(keys)
    assert keys_of(page(group, b"k", b"k04")) == keys[5:]
    assert keys_of(page(group, b"k", b"k04x")) == keys[5:]  # not a key: the next one
    assert keys_of(page(group, b"k", b"a")) == keys  # below the prefix: from its start
    assert keys_of(page(group, b"k", b"z")) == []  # above the prefix's range
    assert keys_of(page(group, b"", b"k09")) == []


def test_rows_carry_versions_and_revisions_and_keys_only_leaves_values_out() -> None:
    group = one_bucket_group([b"a", b"b"])
    rewritten = group.propose(Put(99, 1, b"a", b"again"))
    rows = page(group)["pages"][0][1]
    assert rows[0] == [b"a", b"again", 2, rewritten["revision"]]
    assert rows[1][:3] == [b"b", b"v", 1]
    keys_only = page(group, keys_only=True)["pages"][0][1]
    assert [row[1] for row in keys_only] == [None, None]
    assert [row[2:] for row in keys_only] == [row[2:] for row in rows]


def test_max_rows_caps_each_bucket_and_more_says_whether_rows_follow() -> None:
    keys = [b"k%02d" % n for n in range(10)]
    group = one_bucket_group(keys)
    first = page(group, rows=4)
    assert keys_of(first) == keys[:4] and more_of(first)
    exact = page(group, after=b"k05", rows=4)
    assert keys_of(exact) == keys[6:] and not more_of(exact)  # exactly 4 left: no more


def test_max_bytes_bounds_the_page_but_a_page_holds_at_least_one_row() -> None:
    value = b"x" * 1000
    keys = [b"k%02d" % n for n in range(10)]
    group = one_bucket_group(keys, value)
    cost = 3 + len(value) + scan.ROW_OVERHEAD
    three = page(group, max_bytes=3 * cost)
    assert keys_of(three) == keys[:3] and more_of(three)
    one = page(group, max_bytes=1)  # smaller than any row: the first still comes
    assert keys_of(one) == keys[:1] and more_of(one)


def test_a_page_full_before_a_bucket_answers_it_empty_with_more() -> None:
    cluster = MemoryCluster(4, [1])
    cluster.add_config([1] * 4)
    cluster.settle()
    clerk = MemoryClerk(cluster, 7)
    for n in range(40):
        clerk.put(b"k%02d" % n, b"v" * 100)
    group = cluster.groups[1]
    reply = page(group, buckets=(0, 1, 2, 3), rows=100, max_bytes=150)
    assert [len(rows) for _, rows, _ in reply["pages"]] == [1, 0, 0, 0]
    assert [more for _, _, more in reply["pages"]] == [True, True, True, True]


def test_values_of_a_mebibyte_come_one_per_page_and_all_arrive() -> None:
    keys = [b"big%d" % n for n in range(4)]
    group = one_bucket_group(keys, b"\x01" * BIG)
    seen: list[bytes] = []
    after = None
    while True:
        reply = page(group, b"big", after, max_bytes=BIG)
        rows = reply["pages"][0][1]
        assert len(rows) == 1 and len(rows[0][1]) == BIG
        seen.append(rows[0][0])
        after = rows[0][0]
        if not more_of(reply):
            break
    assert seen == keys


def test_buckets_not_served_here_are_listed_as_moved_with_the_config_number() -> None:
    cluster = MemoryCluster(4, [1, 2])
    num = cluster.add_config([1, 1, 2, 2])
    cluster.settle()
    reply = page(cluster.groups[1], buckets=(0, 2, 1, 3))
    assert [bucket for bucket, _, _ in reply["pages"]] == [0, 1]
    assert reply["moved"] == [2, 3] and reply["num"] == num
    fresh = MemoryCluster(4, [1])  # no config yet: nothing is served
    assert page(fresh.groups[1], buckets=(0,))["moved"] == [0]


@pytest.mark.parametrize(
    "args",
    [
        [],
        [[(0, None)], b"", 10, 100],
        [[(0, None)], "text", 10, 100, False],
        [[(0, None)], b"", 0, 100, False],
        [[(0, None)], b"", 10, True, False],
        [[(0, "after")], b"", 10, 100, False],
        [[(-1, None)], b"", 10, 100, False],
        [[0], b"", 10, 100, False],
        [None, b"", 10, 100, False],
    ],
)
def test_a_malformed_scan_query_is_a_bad_query(args: list[Any]) -> None:
    group = one_bucket_group([])
    reply = group.read(("scan", *args))
    assert reply["err"] == ErrorCode.BAD_QUERY


def request(cursors: list[ScanCursor], prefix: bytes = b"", rows: int = 10) -> KvScan:
    return KvScan(cursors, prefix, rows, 1000)


def test_a_node_refuses_scans_it_cannot_serve_before_reading() -> None:
    assert scan.request_refusal(request([ScanCursor(0)])) is None
    cases = {
        ErrorCode.KEY_TOO_LONG: [
            request([ScanCursor(0)], b"p" * 501),
            request([ScanCursor(0, b"a" * 501)]),
        ],
        ErrorCode.BAD_REQUEST: [
            request([]),
            request([ScanCursor(0), ScanCursor(0)]),
            request([ScanCursor(-1)]),
            request([ScanCursor(0)], rows=0),
        ],
    }
    for code, requests in cases.items():
        for bad in requests:
            refusal = scan.request_refusal(bad)
            assert refusal is not None and refusal.code is code, bad


def test_the_query_caps_what_a_client_asks_and_the_reply_is_typed() -> None:
    huge = KvScan([ScanCursor(0)], b"", 10**9, 10**12)
    assert scan.query_of(huge)[3:5] == (MAX_SCAN_ROWS, MAX_SCAN_BYTES)
    group = one_bucket_group([b"a"])
    reply = scan.to_scan_page(group.read(scan.query_of(request([ScanCursor(0)]))))
    assert isinstance(reply, ScanPage)
    assert reply.pages[0].rows == [(b"a", b"v", 1, reply.pages[0].rows[0][3])]

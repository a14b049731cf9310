"""The client's k-way merge of scan pages (pure), alone and driven against in-memory shard
groups: global key order, pagination, limits, and a bucket moving mid-scan."""

from __future__ import annotations

import random
from typing import Any

import pytest
from roles.memory_cluster import MemoryClerk, MemoryCluster

from eraft_trio.client.scan_merge import ScanItem, ScanMerge
from eraft_trio.errors import EraftError
from eraft_trio.protocol.scan import ScanBucketPage, ScanCursor
from eraft_trio.roles.shard import scan
from eraft_trio.roles.shard.buckets import bucket_of

NBUCKETS = 8


def drain(merge: ScanMerge, fetch: Any, limit: int | None = None) -> list[ScanItem]:
    """What a client driver does: fetch every wanted bucket, then take the smallest."""
    items: list[ScanItem] = []
    while limit is None or len(items) < limit:
        while wanted := merge.wanted():
            fetch(wanted)
        item = merge.pop()
        if item is None:
            break
        items.append(item)
    return items


def test_pages_of_many_buckets_merge_into_one_key_order() -> None:
    rng = random.Random(16)
    data = {b: sorted({rng.randbytes(rng.randint(1, 4)) for _ in range(30)}) for b in range(5)}
    fetches = 0

    def fetch(wanted: list[ScanCursor]) -> None:
        nonlocal fetches
        fetches += 1
        for cursor in wanted:
            rest = [k for k in data[cursor.bucket] if cursor.after is None or k > cursor.after]
            rows = [(k, b"v" + k, 1, 9) for k in rest[:3]]
            merge.add(ScanBucketPage(cursor.bucket, rows, len(rest) > 3))

    merge = ScanMerge(data, None)
    items = drain(merge, fetch)
    assert [i.key for i in items] == sorted(k for keys in data.values() for k in keys)
    assert items[0] == ScanItem(items[0].key, b"v" + items[0].key, 1, 9)
    assert fetches > 10  # a page at a time, never the whole bucket

    merge = ScanMerge(data, None)
    assert len(drain(merge, fetch, limit=7)) == 7


def test_an_empty_page_without_more_closes_the_bucket_and_an_empty_one_with_more_is_asked_again() -> (
    None
):
    merge = ScanMerge([0, 1], b"a")
    assert merge.wanted() == [ScanCursor(0, b"a"), ScanCursor(1, b"a")]
    assert merge.add(ScanBucketPage(0, [], False)) is True  # finished
    assert merge.add(ScanBucketPage(1, [], True)) is False  # not reached: no progress
    assert merge.wanted() == [ScanCursor(1, b"a")]
    merge.add(ScanBucketPage(1, [(b"b", None, 1, 1)], False))
    assert merge.wanted() == []
    assert merge.pop() == ScanItem(b"b", None, 1, 1)
    assert merge.pop() is None


def test_a_page_out_of_key_order_or_behind_the_cursor_is_refused() -> None:
    merge = ScanMerge([0], b"m")
    with pytest.raises(EraftError):
        merge.add(ScanBucketPage(0, [(b"a", b"", 1, 1)], True))  # behind the cursor
    merge = ScanMerge([0], None)
    with pytest.raises(EraftError):
        merge.add(ScanBucketPage(0, [(b"b", b"", 1, 1), (b"a", b"", 1, 1)], True))
    with pytest.raises(EraftError):
        merge.add(ScanBucketPage(5, [], False))  # a bucket not asked for


def test_a_scan_across_a_bucket_move_returns_every_key_once() -> None:
    """Pages come from whichever group serves each bucket now; between two pages half the
    buckets move, and each resumes at its new owner from its cursor: every key comes
    exactly once, in order."""
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    clerk = MemoryClerk(cluster, 3)
    keys = sorted(b"key%03d" % n for n in range(200))
    for key in keys:
        clerk.put(key, b"v")
    pages = 0

    def fetch(wanted: list[ScanCursor]) -> None:
        nonlocal pages
        pages += 1
        if pages == 3:  # mid-scan: buckets 0-3 move to group 2 (pulled, then served)
            cluster.add_config([2] * 4 + [1] * 4)
            cluster.settle()
        for cursor in wanted:
            owner = cluster.groups[cluster.owner_of_bucket(cursor.bucket)]
            query = ("scan", [(cursor.bucket, cursor.after)], b"key", 5, 1 << 20, False)
            reply = scan.to_scan_page(owner.read(query))
            assert not isinstance(reply, Exception) and not getattr(reply, "moved", None)
            for bucket_page in reply.pages:  # type: ignore[union-attr]
                merge.add(bucket_page)

    merge = ScanMerge(range(NBUCKETS), None)
    items = drain(merge, fetch)
    assert [i.key for i in items] == keys
    assert pages > 3
    assert {bucket_of(k, NBUCKETS) for k in keys} == set(range(NBUCKETS))

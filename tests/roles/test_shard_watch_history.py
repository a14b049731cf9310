"""Per-bucket revisions and the watch history in the pure shard state machine: append,
read from a revision, trim with a compacted answer, and both moving with a bucket."""

from __future__ import annotations

from typing import Any

import pytest
from roles.memory_cluster import MemoryClerk, MemoryCluster, MemoryGroup

from eraft_trio.roles.shard import watch_events
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import Delete, InstallChunk, Put, encode_command

NBUCKETS = 4


def keys_in(bucket: int, count: int, prefix: bytes = b"k") -> list[bytes]:
    keys = []
    n = 0
    while len(keys) < count:
        key = prefix + b"%d" % n
        if bucket_of(key, NBUCKETS) == bucket:
            keys.append(key)
        n += 1
    return keys


def one_group() -> MemoryGroup:
    cluster = MemoryCluster(NBUCKETS, [1], replicas=2)
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    return cluster.groups[1]


def watch(
    group: MemoryGroup,
    bucket: int,
    start: int,
    match: bytes = b"",
    prefix: bool = True,
    max_events: int = 1000,
) -> list[Any]:
    reply = group.read(("watch", [[bucket, start]], match, prefix, max_events, 1 << 20))
    (page,) = reply["buckets"]
    assert page[0] == bucket
    return list(page[1:])


def test_puts_and_deletes_are_recorded_in_revision_order_with_versions() -> None:
    group = one_group()
    key = keys_in(0, 1)[0]
    first = group.propose(Put(1, 1, key, b"a"))["revision"]
    second = group.propose(Put(1, 2, key, b"b"))["revision"]
    third = group.propose(Delete(1, 3, key))["revision"]
    assert first < second < third
    status, next_revision, events = watch(group, 0, 1)
    assert status == "ok" and next_revision == third + 1
    assert events == [
        [first, watch_events.PUT, key, b"a", 1],
        [second, watch_events.PUT, key, b"b", 2],
        [third, watch_events.DELETE, key, None, 0],
    ]
    assert watch(group, 0, second)[2] == events[1:]  # from a revision: that one on
    assert group.replicas[0].tables == group.replicas[1].tables


def test_a_key_filter_skips_other_keys_but_moves_next_on() -> None:
    group = one_group()
    watched, other = keys_in(0, 2)
    group.propose(Put(1, 1, other, b"x"))
    revision = group.propose(Put(1, 2, watched, b"y"))["revision"]
    last = group.propose(Put(1, 3, other, b"z"))["revision"]
    status, next_revision, events = watch(group, 0, 1, watched, prefix=False)
    assert events == [[revision, watch_events.PUT, watched, b"y", 1]]
    assert next_revision == last + 1


def test_from_now_answers_no_events_and_the_next_revision() -> None:
    group = one_group()
    key = keys_in(0, 1)[0]
    revision = group.propose(Put(1, 1, key, b"a"))["revision"]
    assert watch(group, 0, 0) == ["ok", revision + 1, []]


def test_a_page_stops_at_the_event_limit_and_resumes_where_it_stopped() -> None:
    group = one_group()
    key = keys_in(0, 1)[0]
    revisions = [group.propose(Put(1, n, key, b"%d" % n))["revision"] for n in range(1, 6)]
    status, next_revision, events = watch(group, 0, 1, max_events=2)
    assert [e[0] for e in events] == revisions[:2] and next_revision == revisions[1] + 1
    status, next_revision, events = watch(group, 0, next_revision, max_events=10)
    assert [e[0] for e in events] == revisions[2:]


def test_a_bucket_not_served_here_is_wrong_group_alone() -> None:
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1, 1, 2, 2])
    cluster.settle()
    reply = cluster.groups[1].read(("watch", [[0, 1], [2, 1]], b"", True, 10, 1000))
    assert reply["buckets"] == [[0, "ok", 1, []], [2, "wrong_group", 1, []]]


@pytest.mark.parametrize(
    "query",
    [
        ("watch",),
        ("watch", [], b"", True, 10, 10),
        ("watch", [[0, -1]], b"", True, 10, 10),
        ("watch", [[0, 1]], "text", True, 10, 10),
        ("watch", [[0, 1]], b"", True, 0, 10),
    ],
)
def test_a_malformed_watch_query_is_bad_query(query: tuple[Any, ...]) -> None:
    assert one_group().read(query)["err"] == "bad_query"


def test_the_history_is_trimmed_past_its_limit_and_old_revisions_answer_compacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watch_events, "MAX_EVENTS", 10)
    group = one_group()
    key = keys_in(0, 1)[0]
    revisions = [group.propose(Put(1, n, key, b"v"))["revision"] for n in range(1, 16)]
    head = watch_events.head(group.view, 0)
    assert head is not None and head.count <= 10
    status, first_kept, events = watch(group, 0, 1)
    assert status == "compacted" and first_kept == head.compacted + 1
    status, _, events = watch(group, 0, first_kept)
    assert status == "ok"
    assert [e[0] for e in events] == [r for r in revisions if r >= first_kept]
    assert events[-1][0] == revisions[-1]  # the newest is always kept


def test_the_byte_limit_trims_too_and_keeps_the_newest_even_when_it_alone_is_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watch_events, "MAX_EVENT_BYTES", 100)
    group = one_group()
    key = keys_in(0, 1)[0]
    group.propose(Put(1, 1, key, b"x" * 60))
    last = group.propose(Put(1, 2, key, b"y" * 200))["revision"]
    head = watch_events.head(group.view, 0)
    assert head is not None and head.count == 1 and head.compacted == last - 1
    assert watch(group, 0, last)[2] == [[last, watch_events.PUT, key, b"y" * 200, 2]]


@pytest.mark.parametrize("chunk_bytes", [1 << 16, 40])  # one chunk; an entry per chunk
def test_revisions_keep_growing_across_a_bucket_move_and_the_history_moves_along(
    chunk_bytes: int,
) -> None:
    cluster = MemoryCluster(NBUCKETS, [1, 2], replicas=2)
    cluster.add_config([1, 1, 1, 1])
    cluster.settle()
    clerk = MemoryClerk(cluster, 7)
    key = keys_in(0, 1)[0]
    # Many writes in group 1 so that its revisions run far ahead of group 2's log.
    before = [clerk.put(key, b"%d" % n)["revision"] for n in range(30)]
    cluster.add_config([2, 1, 1, 1])
    cluster.settle(max_bytes=chunk_bytes)
    g2 = cluster.groups[2]
    assert g2.replicas[0].tables == g2.replicas[1].tables
    g1 = cluster.groups[1].view
    assert watch_events.head(g1, 0) is None  # dropped with the bucket
    assert list(watch_events.events_from(g1, 0, 0)) == []
    after = clerk.put(key, b"moved")["revision"]
    # max(g2's log index, the moved last revision + 1): with one chunk g2's log is the
    # shorter, and the moved revision decides.
    assert after == max(len(g2.log), before[-1] + 1)
    assert chunk_bytes < 1 << 16 or after == before[-1] + 1
    status, _, events = watch(g2, 0, 1)
    assert status == "ok"
    assert [e[0] for e in events] == [*before, after]
    assert clerk.get_versioned(key)["mod_revision"] == after


def test_one_entry_s_changes_share_its_revision_with_ordinals() -> None:
    # What a transaction does: several changes of one log entry in one bucket.
    group = one_group()
    view = group.view
    a, b = keys_in(0, 2)
    first = watch_events.revision_for(view, 0, 50)
    watch_events.record(view, 0, first, watch_events.PUT, a, b"1", 1)
    again = watch_events.revision_for(view, 0, 50)
    watch_events.record(view, 0, again, watch_events.DELETE, b, None, 0)
    assert first == again == 50
    assert watch_events.revision_for(view, 0, 51) == 51
    rows = list(watch_events.events_from(view, 0, 50))
    assert [watch_events.split_event_key(row)[1:] for row, _ in rows] == [(50, 0), (50, 1)]


def test_a_page_never_splits_one_revision() -> None:
    group = one_group()
    view = group.view
    keys = keys_in(0, 3)
    for revision in (10, 11):
        watch_events.revision_for(view, 0, revision)
        for key in keys:
            watch_events.record(view, 0, revision, watch_events.PUT, key, b"v", 1)
    status, next_revision, events = watch(group, 0, 1, max_events=1)
    assert [e[0] for e in events] == [10, 10, 10] and next_revision == 11


def test_a_bucket_with_keys_from_before_watches_is_watched_from_now_on() -> None:
    group = one_group()
    key = keys_in(0, 1)[0]
    group.propose(Put(1, 1, key, b"old"))
    # As if written before watches existed: no head, no history.
    for replica in group.replicas:
        replica.tables.pop(watch_events.HEADS, None)
        replica.tables.pop(watch_events.EVENTS, None)
    status, start, events = watch(group, 0, 0)  # from now, before the first write here
    assert status == "ok" and events == []
    revision = group.propose(Put(1, 2, key, b"new"))["revision"]
    assert watch(group, 0, start) == ["ok", revision + 1, [[revision, 1, key, b"new", 2]]]


def test_an_old_format_install_chunk_still_decodes_and_takes_the_rows_last_revision() -> None:
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1, 1, 1, 1])
    cluster.settle()
    cluster.add_config([2, 1, 1, 1])
    cluster.offer_next_config(1)
    cluster.offer_next_config(2)
    key = keys_in(0, 1)[0]
    record = (3).to_bytes(8, "big") + (900).to_bytes(8, "big") + b"v"
    old_shape = encode_command(InstallChunk(2, 0, None, ((key, record),), (), True))
    assert len(__import__("msgpack").unpackb(old_shape)) == 7  # tag + the six old fields
    assert cluster.groups[2].propose(old_shape)["applied"] is True
    head = watch_events.head(cluster.groups[2].view, 0)
    assert head is not None and head.last_revision == 900 and head.compacted == 900
    assert MemoryClerk(cluster, 1).put(key, b"next")["revision"] == 901


def test_a_txn_s_writes_share_one_revision_in_the_history() -> None:
    from eraft_trio.protocol.txn import TxnOp
    from eraft_trio.roles.shard.txn_command import Txn

    group = one_group()
    a, b = keys_in(0, 2, prefix=b"t")
    group.propose(Put(1, 1, b, b"old"))
    ops = (TxnOp("put", a, b"1"), TxnOp("delete", b, None))
    reply = group.propose(Txn(1, 2, (), ops, ()))
    revision = reply["revision"]
    assert reply["succeeded"]
    changes = watch(group, 0, revision)[2]
    assert sorted(changes, key=lambda e: e[1]) == [
        [revision, watch_events.PUT, a, b"1", 1],
        [revision, watch_events.DELETE, b, None, 0],
    ]


def test_a_revoked_lease_s_keys_are_deleted_in_the_history() -> None:
    from eraft_trio.roles.shard.lease_commands import GrantLease, LeasePut, RevokeLease

    group = one_group()
    key = keys_in(0, 1, prefix=b"l")[0]
    lease = group.propose(GrantLease(1, 1, key, 60_000, 1, True))["lease"]
    put = group.propose(LeasePut(1, 2, key, b"v", lease, 2, True))
    revoked = group.propose(RevokeLease(1, 3, lease, 3, True))
    assert revoked["deleted"] == 1 and revoked["revision"] > put["revision"]
    assert watch(group, 0, put["revision"])[2] == [
        [put["revision"], watch_events.PUT, key, b"v", 1],
        [revoked["revision"], watch_events.DELETE, key, None, 0],
    ]

"""Versions, mod revisions and compare-and-set in the pure shard state machine."""

from __future__ import annotations

from roles.memory_cluster import MemoryCluster, MemoryGroup

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.replies import CompareFailed, VersionedValue, Written
from eraft_trio.roles.shard import conditions, replies, tables
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import Delete, InstallChunk, Put

NBUCKETS = 4


def serving_group() -> MemoryGroup:
    cluster = MemoryCluster(NBUCKETS, [1], replicas=2)
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    return cluster.groups[1]


def versioned(group: MemoryGroup, key: bytes) -> tuple[bytes | None, int, int]:
    reply = group.read(("get_versioned", key))
    return reply["value"], reply["version"], reply["mod_revision"]


def test_versions_count_writes_since_creation_and_a_delete_resets_them() -> None:
    group = serving_group()
    assert versioned(group, b"k") == (None, 0, 0)
    for n in range(1, 4):
        reply = group.propose(Put(1, n, b"k", b"v%d" % n))
        assert reply == {"ok": True, "revision": len(group.log), "version": n}
        assert versioned(group, b"k") == (b"v%d" % n, n, len(group.log))
    assert group.read(("get", b"k")) == {"value": b"v3"}  # the plain get: the value alone

    assert group.propose(Delete(1, 4, b"k")) == {
        "ok": True,
        "revision": len(group.log),
        "deleted": True,
    }
    assert versioned(group, b"k") == (None, 0, 0)
    assert group.propose(Put(1, 5, b"k", b"again"))["version"] == 1
    assert group.replicas[0].tables == group.replicas[1].tables


def test_a_compare_and_set_applies_only_when_its_comparison_holds() -> None:
    group = serving_group()
    assert group.propose(Put(1, 1, b"k", b"a", condition=0)) == {  # if absent
        "ok": True,
        "revision": len(group.log),
        "version": 1,
        "succeeded": True,
    }
    created = len(group.log)
    failed = {"ok": True, "succeeded": False, "value": b"a", "version": 1, "mod_revision": created}
    assert group.propose(Put(1, 2, b"k", b"b", condition=0)) == failed
    assert group.propose(Put(1, 3, b"k", b"b", condition=2)) == failed
    assert group.propose(Put(1, 4, b"k", b"b", condition=b"not a")) == failed
    assert group.propose(Delete(1, 5, b"k", condition=7)) == failed
    assert versioned(group, b"k") == (b"a", 1, created)  # nothing written

    assert group.propose(Put(1, 6, b"k", b"b", condition=1))["succeeded"] is True
    assert group.propose(Put(1, 7, b"k", b"c", condition=b"b"))["version"] == 3
    assert group.propose(Delete(1, 8, b"k", condition=b"c"))["deleted"] is True
    absent = {"ok": True, "succeeded": False, "value": None, "version": 0, "mod_revision": 0}
    assert group.propose(Put(1, 9, b"k", b"d", condition=1)) == absent
    assert group.propose(Put(1, 10, b"k", b"d", condition=b"")) == absent  # absent holds no value
    status = group.read(("status",))
    assert sum(row["keys"] for row in status["buckets"]) == 0


def test_a_retried_compare_and_set_repeats_its_answer_and_is_not_applied_again() -> None:
    group = serving_group()
    group.propose(Put(1, 1, b"lock", b"free"))
    take = Put(2, 1, b"lock", b"mine", condition=1)
    first = group.propose(take)
    assert first["succeeded"] is True
    group.propose(Put(3, 1, b"lock", b"theirs"))  # version 3 now
    # The retry of the succeeded CAS (its answer was lost) does not compare again.
    assert group.propose(take) == first
    assert versioned(group, b"lock")[:2] == (b"theirs", 3)

    # A failed CAS whose retry would now succeed is still the failure it was.
    attempt = Put(4, 1, b"lock", b"late", condition=4)
    refused = group.propose(attempt)
    assert refused["succeeded"] is False and refused["version"] == 3
    group.propose(Put(3, 2, b"lock", b"theirs again"))  # version 4: the comparison would hold
    assert group.propose(attempt) == refused
    assert versioned(group, b"lock")[:2] == (b"theirs again", 4)


def test_a_moved_key_keeps_its_version_and_revision_and_counts_on() -> None:
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    g1, g2 = cluster.groups[1], cluster.groups[2]
    key = b"moving"
    for seq in range(1, 4):
        g1.propose(Put(1, seq, key, b"v%d" % seq))
    before = versioned(g1, key)
    assert before == (b"v3", 3, len(g1.log))
    owners = [1] * NBUCKETS
    owners[bucket_of(key, NBUCKETS)] = 2
    cluster.add_config(owners)
    cluster.settle(max_bytes=32)
    # The old group's revision: revisions are per group (reference.md, versions).
    assert versioned(g2, key) == before
    assert g2.propose(Put(1, 4, key, b"cas", condition=3)) == {
        "ok": True,
        "revision": len(g2.log),
        "version": 4,
        "succeeded": True,
    }


def test_a_chunk_row_that_is_no_versioned_record_is_refused() -> None:
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    cluster.add_config([2] + [1] * (NBUCKETS - 1))
    assert cluster.offer_next_config(1)["ok"] and cluster.offer_next_config(2)["ok"]
    key = next(k for k in (b"k%d" % n for n in range(100)) if bucket_of(k, NBUCKETS) == 0)
    short = b"\x00" * (tables.RECORD_HEAD_BYTES - 1)
    reply = cluster.groups[2].propose(InstallChunk(2, 0, None, ((key, short),), (), True))
    assert reply["err"] == "bad_chunk"
    assert "versioned record" in reply["message"]
    assert cluster.groups[2].view.tables.get(tables.KV, {}) == {}


def test_a_request_states_one_condition_at_most() -> None:
    assert conditions.from_request(None, None) is None
    assert conditions.from_request(0, None) == 0
    assert conditions.from_request(None, b"") == b""
    for if_version, if_value in [(1, b"v"), (-1, None), (True, None), ("1", None), (None, "v")]:
        refusal = conditions.from_request(if_version, if_value)
        assert isinstance(refusal, ErrorReply), (if_version, if_value)
        assert refusal.code == ErrorCode.BAD_REQUEST, (if_version, if_value)


def test_write_and_read_results_become_typed_replies() -> None:
    """What the state machine stores and answers (writes.py, queries.py) as sent."""
    put = {"ok": True, "revision": 7, "version": 2}
    assert replies.to_written(put) == Written(7, 2)
    assert replies.to_written({**put, "succeeded": True}) == Written(7, 2)
    deleted = {"ok": True, "revision": 8, "deleted": True, "succeeded": True}
    assert replies.to_written(deleted) == Written(8, deleted=True)
    stale = replies.ok()  # a late duplicate of a seq below its session's: nothing applied
    assert replies.to_written(stale) == Written(0)
    failed = {"ok": True, "succeeded": False, "value": b"a", "version": 2, "mod_revision": 7}
    assert replies.to_written(failed) == CompareFailed(b"a", 2, 7)
    got = {"value": None, "version": 0, "mod_revision": 0}
    assert replies.to_versioned_value(got) == VersionedValue(None, 0, 0)
    refused = replies.to_versioned_value(replies.refusal(replies.WRONG_GROUP, 3))
    assert refused == ErrorReply(ErrorCode.WRONG_GROUP, num=3)

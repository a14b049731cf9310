"""The MIT 6.824 shardkv tests (test_test.go), carried over to the pure shard state machine.

Groups are MemoryCluster groups: the test decides when configs are offered, chunks
pulled and garbage collected, so every interleaving below is exact, not timing-based.
"""

from __future__ import annotations

from roles.memory_cluster import MemoryClerk, MemoryCluster

from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import DropBucket, InstallChunk, NewConfig, Put
from eraft_trio.roles.shard.tables import KV, SESSIONS, u32

NBUCKETS = 10  # the lab's NShards


def keys_of_bucket(bucket: int, count: int) -> list[bytes]:
    found: list[bytes] = []
    index = 0
    while len(found) < count:
        key = f"key-{index}".encode()
        if bucket_of(key, NBUCKETS) == bucket:
            found.append(key)
        index += 1
    return found


def rows_of_bucket(view_tables: dict[str, dict[bytes, bytes]], table: str, bucket: int) -> int:
    return sum(1 for key in view_tables.get(table, {}) if key[:4] == u32(bucket))


def test_static_shards() -> None:
    """TestStaticShards: each group serves exactly its buckets; others get wrong_group."""
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * 5 + [2] * 5)
    cluster.settle()
    clerk = MemoryClerk(cluster, client_id=7)
    keys = [f"k{i}".encode() for i in range(40)]
    for key in keys:
        assert clerk.put(key, b"v-" + key)["ok"] is True

    for key in keys:
        bucket = bucket_of(key, NBUCKETS)
        mine, other = (1, 2) if bucket < 5 else (2, 1)
        assert cluster.groups[mine].read(("get", key)) == {"value": b"v-" + key}
        assert cluster.groups[other].read(("get", key)) == {"err": "wrong_group", "num": 1}
        refused = cluster.groups[other].propose(Put(99, 1, key, b"x"))
        assert refused == {"err": "wrong_group", "num": 1}
    assert cluster.groups[1].read(("get", b"k0")) != {"value": b"x"}
    for gid, buckets in ((1, range(5)), (2, range(5, 10))):
        kv = cluster.groups[gid].view.tables[KV]
        assert {int.from_bytes(row[:4], "big") for row in kv} <= set(buckets)


def test_join_then_leave_moves_data_with_the_bucket() -> None:
    """TestJoinLeave: data written before a join, and before a leave, is read back after it."""
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    clerk = MemoryClerk(cluster, client_id=1)
    values = {f"k{i}".encode(): f"v{i}".encode() for i in range(60)}
    for key, value in values.items():
        clerk.put(key, value)

    cluster.add_config([1] * 5 + [2] * 5)  # group 2 joins
    cluster.settle()
    for key, value in values.items():
        assert clerk.get(key) == value
        values[key] = value + b"+"
        clerk.put(key, values[key])

    cluster.add_config([2] * NBUCKETS)  # group 1 leaves
    cluster.settle()
    for key, value in values.items():
        assert clerk.get(key) == value
    assert cluster.groups[1].view.tables.get(KV, {}) == {}
    assert cluster.groups[1].read(("status",))["buckets"] == []
    assert len(cluster.groups[2].view.tables[KV]) == len(values)


def test_retried_put_after_its_bucket_moved_is_not_applied_twice() -> None:
    """TestUnreliable's exactly-once, across a move: the session moved with the bucket."""
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    key = keys_of_bucket(3, 1)[0]
    first = Put(client_id=5, seq=1, key=key, value=b"first")
    reply = cluster.groups[1].propose(first)  # applied; say the reply was lost
    assert reply == {"ok": True, "revision": len(cluster.groups[1].log), "version": 1}
    MemoryClerk(cluster, client_id=6).put(key, b"second")

    owners = [1] * NBUCKETS
    owners[3] = 2
    cluster.add_config(owners)
    cluster.settle()
    assert cluster.groups[1].propose(first) == {"err": "wrong_group", "num": 2}
    assert cluster.groups[2].propose(first) == reply  # the first reply, again
    assert cluster.groups[2].read(("get", key)) == {"value": b"second"}
    older = Put(client_id=5, seq=0, key=key, value=b"ancient")
    assert cluster.groups[2].propose(older) == {"ok": True}  # nothing to repeat: a plain ok
    assert cluster.groups[2].read(("get", key)) == {"value": b"second"}


def test_next_config_waits_for_migrations_and_order() -> None:
    """Configs apply one after another, each only once the last one's migrations finished."""
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * NBUCKETS)
    cluster.add_config([1] * 5 + [2] * 5)
    cluster.add_config([2] * NBUCKETS)
    g1 = cluster.groups[1]
    skipped = g1.propose(NewConfig(cluster.configs[2]))
    assert skipped == {"err": "not_ready", "num": 0}
    assert cluster.offer_next_config(1) == {"ok": True, "num": 1}
    assert cluster.offer_next_config(1) == {"ok": True, "num": 2}  # buckets 5-9: HANDOFF
    before = g1.view.copy().tables
    assert cluster.offer_next_config(1) == {"err": "not_ready", "num": 2}
    assert g1.propose(NewConfig(cluster.configs[1])) == {"err": "not_ready", "num": 2}  # stale
    assert g1.view.tables == before

    assert cluster.offer_next_config(2) == {"ok": True, "num": 1}
    assert cluster.offer_next_config(2) == {"ok": True, "num": 2}  # PULLING from group 1
    assert cluster.offer_next_config(2) == {"err": "not_ready", "num": 2}
    assert cluster.pull_once(2, max_bytes=1 << 16) == 5
    assert cluster.offer_next_config(1) == {"err": "not_ready", "num": 2}  # not yet dropped
    assert cluster.collect_garbage(2) == 5
    assert cluster.offer_next_config(1) == {"ok": True, "num": 3}
    assert cluster.offer_next_config(2) == {"ok": True, "num": 3}


def test_group_that_missed_configs_applies_them_in_order() -> None:
    """TestMissChange: a group offline for several configs catches up one config at a time."""
    cluster = MemoryCluster(NBUCKETS, [1, 2, 3])
    clerk = MemoryClerk(cluster, client_id=1)
    cluster.add_config([1] * NBUCKETS)
    cluster.add_config([1] * 5 + [2] * 5)
    cluster.add_config([2] * 5 + [1] * 5)
    cluster.settle(gids=[1, 2])  # group 3 is down
    for i in range(30):
        clerk.put(f"k{i}".encode(), f"v{i}".encode())
    cluster.add_config([1] * NBUCKETS)
    cluster.settle(gids=[1, 2])
    assert cluster.groups[3].read(("config",))["num"] == 0

    cluster.add_config([3] * 3 + [2] * 2 + [1] * 5)
    applied = []
    while (reply := cluster.offer_next_config(3)) is not None and reply.get("ok"):
        applied.append(reply["num"])
    assert applied == [1, 2, 3, 4, 5]
    cluster.settle()
    for i in range(30):
        assert clerk.get(f"k{i}".encode()) == f"v{i}".encode()
    assert {row["bucket"] for row in cluster.groups[3].read(("status",))["buckets"]} == {0, 1, 2}


def test_buckets_not_involved_keep_serving_during_a_migration() -> None:
    """TestChallenge2Unaffected and TestChallenge2Partial: only moving buckets pause."""
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * 5 + [2] * 5)
    cluster.settle()
    clerk = MemoryClerk(cluster, client_id=1)
    moving = {0: keys_of_bucket(0, 3), 1: keys_of_bucket(1, 3)}
    for keys in moving.values():
        for key in keys:
            clerk.put(key, b"old")
    cluster.add_config([2, 2] + [1] * 3 + [2] * 5)
    assert cluster.offer_next_config(1)["ok"] and cluster.offer_next_config(2)["ok"]

    for bucket in range(2, NBUCKETS):  # every bucket that does not move still serves
        key = keys_of_bucket(bucket, 1)[0]
        owner = cluster.groups[1 if bucket < 5 else 2]
        assert owner.propose(Put(9, bucket + 1, key, b"during"))["ok"] is True
        assert owner.read(("get", key)) == {"value": b"during"}
    for gid in (1, 2):
        assert cluster.groups[gid].read(("get", moving[0][0])) == {
            "err": "wrong_group",
            "num": 2,
        }

    # Partial: bucket 0 arrives first and is served while bucket 1 is still pulling.
    g2 = cluster.groups[2]
    pull = next(p for p in g2.read(("pulls",)) if p["bucket"] == 0)
    chunk = cluster.groups[1].read(("fetch", 2, 0, None, 1 << 16))
    assert g2.propose(MemoryCluster.install_command(pull, chunk))["done"]
    assert g2.read(("get", moving[0][0])) == {"value": b"old"}
    assert g2.read(("get", moving[1][0])) == {"err": "wrong_group", "num": 2}


def test_old_owner_deletes_a_bucket_once_the_new_owner_has_it() -> None:
    """TestChallenge1Delete: after the move and its GC, the old owner keeps nothing of it."""
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    clerk = MemoryClerk(cluster, client_id=1)
    for key in keys_of_bucket(4, 50):
        clerk.put(key, b"x" * 100)
    owners = [1] * NBUCKETS
    owners[4] = 2
    cluster.add_config(owners)
    for gid in (1, 2):
        cluster.offer_next_config(gid)
    cluster.pull_once(2, max_bytes=1 << 20)
    g1 = cluster.groups[1].view.tables
    assert rows_of_bucket(g1, KV, 4) == 50  # frozen copy kept until the new owner has it
    assert cluster.groups[2].read(("gcs",)) == [
        {"bucket": 4, "num": 2, "gid": 1, "addresses": cluster.groups[1].addresses}
    ]

    assert cluster.collect_garbage(2) == 1
    assert rows_of_bucket(g1, KV, 4) == 0
    assert rows_of_bucket(g1, SESSIONS, 4) == 0
    assert cluster.groups[2].read(("gcs",)) == []
    assert rows_of_bucket(cluster.groups[2].view.tables, KV, 4) == 50
    assert rows_of_bucket(cluster.groups[2].view.tables, SESSIONS, 4) == 1
    # A late duplicate drop, or one for an older config, deletes nothing and is ok.
    assert cluster.groups[1].propose(DropBucket(2, 4))["ok"]
    assert cluster.groups[1].propose(DropBucket(3, 4)) == {"err": "not_ready", "num": 2}


def test_a_stale_install_is_ignored() -> None:
    """An install for a config or cursor that is not the expected one changes nothing."""
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * NBUCKETS)
    cluster.add_config([2] + [1] * (NBUCKETS - 1))
    for gid in (1, 2):
        cluster.offer_next_config(gid)
        cluster.offer_next_config(gid)
    g2 = cluster.groups[2]
    before = g2.view.copy().tables
    for command in (
        InstallChunk(1, 0, None, (), (), True),  # an older config
        InstallChunk(2, 5, None, (), (), True),  # a bucket not being pulled
        InstallChunk(2, 0, b"kfoo", (), (), True),  # a cursor ahead of ours
    ):
        assert g2.propose(command) == {"ok": True, "applied": False, "num": 2}
    assert g2.view.tables == before

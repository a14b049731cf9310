"""Bucket transfer: bounded chunks, resumable from the replicated cursor, duplicates ignored."""

from __future__ import annotations

from typing import Any

import msgpack
from roles.memory_cluster import MemoryCluster, MemoryGroup

from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import InstallChunk, Put
from eraft_trio.roles.shard.tables import KV, SESSIONS

NBUCKETS = 4
BUCKET = 2


def keys_of_bucket(count: int, size: int = 8) -> list[bytes]:
    found: list[bytes] = []
    index = 0
    while len(found) < count:
        key = f"{index:0{size}d}".encode()
        if bucket_of(key, NBUCKETS) == BUCKET:
            found.append(key)
        index += 1
    return found


def cluster_with_handoff(rows: int, clients: int = 1, replicas: int = 1) -> MemoryCluster:
    """Group 1 holds BUCKET (rows keys, `clients` sessions) and has handed it to group 2."""
    cluster = MemoryCluster(NBUCKETS, [1, 2], replicas=replicas)
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    keys = keys_of_bucket(rows)
    for index, key in enumerate(keys):
        client = index % clients
        cluster.groups[1].propose(Put(client, index + 1, key, b"v" * 50))
    owners = [1] * NBUCKETS
    owners[BUCKET] = 2
    cluster.add_config(owners)
    assert cluster.offer_next_config(1) == {"ok": True, "num": 2}
    assert cluster.offer_next_config(2) == {"ok": True, "num": 2}
    return cluster


def fetch(cluster: MemoryCluster, cursor: bytes | None, max_bytes: int) -> dict[str, Any]:
    reply: dict[str, Any] = cluster.groups[1].read(("fetch", 2, BUCKET, cursor, max_bytes))
    return reply


def the_pull(group: MemoryGroup) -> dict[str, Any]:
    (pull,) = group.read(("pulls",))
    assert pull["bucket"] == BUCKET
    result: dict[str, Any] = pull
    return result


def test_a_big_bucket_moves_in_bounded_chunks() -> None:
    cluster = cluster_with_handoff(rows=300)
    g2 = cluster.groups[2]
    max_bytes = 1000
    chunks = 0
    while True:
        pull = the_pull(g2)
        chunk = fetch(cluster, pull["cursor"], max_bytes)
        size = sum(len(key) + len(value) for key, value in chunk["rows"])
        assert 0 < size <= max_bytes or chunk["done"]
        assert len(msgpack.packb(chunk)) <= 2 * max_bytes  # with framing, still bounded
        reply = g2.propose(MemoryCluster.install_command(pull, chunk))
        assert reply["applied"]
        chunks += 1
        if chunk["done"]:
            break
    assert chunks >= 300 * 58 // max_bytes
    assert g2.read(("pulls",)) == []
    assert g2.view.tables[KV] == cluster.groups[1].view.tables[KV]
    status = g2.read(("status",))["buckets"]
    assert status == [{"bucket": BUCKET, "state": "serving", "keys": 300, "num": 0, "gid": 0}]


def test_pull_resumes_from_the_replicated_cursor_and_ignores_duplicates() -> None:
    """A leader change mid-pull: the new leader continues from the cursor in the tables,
    and the old leader's late re-proposal of a chunk already installed is ignored."""
    cluster = cluster_with_handoff(rows=120, replicas=3)
    g2 = cluster.groups[2]
    installed: list[InstallChunk] = []
    for _ in range(3):  # the first leader installs three chunks, then loses leadership
        pull = the_pull(g2)
        command = MemoryCluster.install_command(pull, fetch(cluster, pull["cursor"], 600))
        assert g2.propose(command)["applied"]
        installed.append(command)

    # Every replica holds the same cursor, so whichever becomes leader resumes from it.
    cursors = {g2.machine.read(view, ("pulls",))[0]["cursor"] for view in g2.replicas}
    assert len(cursors) == 1
    before = g2.view.copy().tables
    for stale in installed:
        assert g2.propose(stale) == {"ok": True, "applied": False, "num": 2}
    assert g2.view.tables == before

    while the_pull_or_none(g2) is not None:
        pull = the_pull(g2)
        assert g2.propose(MemoryCluster.install_command(pull, fetch(cluster, pull["cursor"], 600)))[
            "applied"
        ]
    assert g2.view.tables[KV] == cluster.groups[1].view.tables[KV]
    assert all(replica.tables == g2.view.tables for replica in g2.replicas)


def the_pull_or_none(group: MemoryGroup) -> dict[str, Any] | None:
    pulls = group.read(("pulls",))
    return pulls[0] if pulls else None


def test_many_sessions_stream_in_chunks_after_the_rows() -> None:
    cluster = cluster_with_handoff(rows=400, clients=400)
    g2 = cluster.groups[2]
    chunks_with_sessions = 0
    while (pull := the_pull_or_none(g2)) is not None:
        chunk = fetch(cluster, pull["cursor"], 500)
        assert len(msgpack.packb(chunk["sessions"])) <= 1000
        chunks_with_sessions += bool(chunk["sessions"])
        assert g2.propose(MemoryCluster.install_command(pull, chunk))["applied"]
    assert chunks_with_sessions > 5
    assert g2.view.tables[SESSIONS] == cluster.groups[1].view.tables[SESSIONS]
    assert len(g2.view.tables[SESSIONS]) == 400


def test_a_row_bigger_than_the_budget_travels_alone() -> None:
    cluster = cluster_with_handoff(rows=0)
    big_key = keys_of_bucket(1)[0]
    g1 = cluster.groups[1]
    # Write straight into the frozen bucket's table: only a test can do this.
    g1.view.put(KV, BUCKET.to_bytes(4, "big") + big_key, b"x" * 5000)
    chunk = fetch(cluster, None, 100)
    assert chunk["rows"] == [[big_key, b"x" * 5000]]


def test_an_empty_bucket_moves_in_one_chunk() -> None:
    cluster = cluster_with_handoff(rows=0)
    assert fetch(cluster, None, 100) == {"rows": [], "sessions": [], "done": True}
    cluster.settle()
    assert cluster.groups[2].read(("status",))["buckets"][0]["state"] == "serving"


def test_fetch_waits_until_the_old_owner_froze_the_bucket() -> None:
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    cluster.add_config([2] + [1] * (NBUCKETS - 1))
    assert cluster.groups[1].read(("fetch", 2, 0, None, 100)) == {"err": "not_ready", "num": 1}
    cluster.offer_next_config(1)
    assert cluster.groups[1].read(("fetch", 2, 0, None, 100))["done"] is True
    assert cluster.groups[1].read(("fetch", 2, 1, None, 100)) == {"err": "not_ready", "num": 2}


def test_a_chunk_that_does_not_fit_the_stream_is_refused_and_writes_nothing() -> None:
    cluster = cluster_with_handoff(rows=3)
    g2 = cluster.groups[2]
    inside = keys_of_bucket(3)
    outside = next(
        key for key in (f"o{i}".encode() for i in range(100)) if bucket_of(key, NBUCKETS) != BUCKET
    )
    before = g2.view.copy().tables
    for rows in (
        ((inside[1], b"v"), (inside[0], b"v")),  # out of order
        ((inside[0], b"v"), (inside[0], b"v")),  # repeated
        ((outside, b"v"),),  # another bucket's key
    ):
        reply = g2.propose(InstallChunk(2, BUCKET, None, rows, (), True))
        assert reply["err"] == "bad_chunk"
    reply = g2.propose(
        InstallChunk(2, BUCKET, None, (), ((2, 1, None, None), (1, 1, None, None)), True)
    )
    assert reply["err"] == "bad_chunk"
    assert g2.view.tables == before

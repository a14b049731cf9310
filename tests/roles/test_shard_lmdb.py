"""The shard state machine over real LMDB tables behaves exactly as over MemoryView."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb
from roles.memory_cluster import MemoryCluster, MemoryGroup

from eraft_trio.protocol.limits import MAX_KEY_BYTES
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import Put
from eraft_trio.storage.lmdb_view import LmdbTableView
from eraft_trio.storage.state_env import open_sub_dbs

NBUCKETS = 3


class LmdbReplica:
    """One replica on LMDB: each log entry applied in its own write transaction."""

    def __init__(self, path: Path, group: MemoryGroup) -> None:
        self.env = lmdb.open(str(path), max_dbs=8, map_size=1 << 26)
        self.dbs = open_sub_dbs(self.env)
        self.group = group
        self.applied = 0

    def catch_up(self) -> None:
        for entry in self.group.log[self.applied :]:
            self.applied += 1
            with self.env.begin(write=True) as txn:
                view = LmdbTableView(txn, self.dbs.sm, writable=True)
                self.group.machine.apply(view, self.applied, entry)

    @contextmanager
    def reading(self) -> Iterator[LmdbTableView]:
        with self.env.begin() as txn:
            yield LmdbTableView(txn, self.dbs.sm, writable=False)

    def tables(self) -> dict[str, dict[bytes, bytes]]:
        tables: dict[str, dict[bytes, bytes]] = {}
        with self.env.begin() as txn:
            for key, value in txn.cursor(db=self.dbs.sm):
                name, _, row = bytes(key).partition(b"\x00")
                tables.setdefault(name.decode(), {})[row] = bytes(value)
        return tables

    def read(self, query: Any) -> Any:
        with self.reading() as view:
            return self.group.machine.read(view, query)


def non_empty(tables: dict[str, dict[bytes, bytes]]) -> dict[str, dict[bytes, bytes]]:
    return {name: rows for name, rows in tables.items() if rows}


def test_a_migration_on_lmdb_matches_memory(tmp_path: Path) -> None:
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    replicas = {gid: LmdbReplica(tmp_path / f"g{gid}", cluster.groups[gid]) for gid in (1, 2)}
    # The longest key a Put accepts still fits LMDB with the table prefix and bucket.
    assert replicas[1].env.max_key_size() >= len(b"kv\x00") + 4 + MAX_KEY_BYTES
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    longest = next(
        key
        for key in (bytes([65 + i % 26]) * MAX_KEY_BYTES for i in range(100))
        if bucket_of(key, NBUCKETS) == 0
    )
    cluster.groups[1].propose(Put(1, 1, longest, b"long"))
    for index in range(200):
        cluster.groups[1].propose(Put(2, index + 1, f"k{index}".encode(), b"v" * index))
    cluster.add_config([2, 1, 1])
    cluster.offer_next_config(1)
    cluster.offer_next_config(2)
    for replica in replicas.values():
        replica.catch_up()
        assert replica.tables() == non_empty(replica.group.view.tables)

    # The old owner's fetches from a read-only LMDB view equal the in-memory ones.
    cursor = None
    while True:
        query = ("fetch", 2, 0, cursor, 700)
        chunk = replicas[1].read(query)
        assert chunk == cluster.groups[1].read(query)
        pull = cluster.groups[2].read(("pulls",))[0]
        cluster.groups[2].propose(MemoryCluster.install_command(pull, chunk))
        if chunk["done"]:
            break
        cursor = cluster.groups[2].read(("pulls",))[0]["cursor"]
    cluster.settle()
    for replica in replicas.values():
        replica.catch_up()
        assert replica.tables() == non_empty(replica.group.view.tables)
    assert replicas[2].read(("get", longest)) == {"value": b"long"}
    assert replicas[1].read(("get", longest)) == {"err": "wrong_group", "num": 2}
    assert replicas[1].read(("status",))["buckets"][0]["bucket"] == 1

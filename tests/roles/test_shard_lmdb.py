"""The shard state machine over real LMDB tables behaves exactly as over MemoryView."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb
from roles.memory_cluster import MemoryCluster, MemoryGroup

from eraft_trio.protocol.limits import MAX_KEY_BYTES
from eraft_trio.protocol.txn import TxnOp
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import Put
from eraft_trio.roles.shard.lease_commands import ExpireLeases, GrantLease, LeasePut
from eraft_trio.roles.shard.txn_command import Txn
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


def longest_keys(prefix: bytes, count: int) -> list[bytes]:
    """`count` keys of MAX_KEY_BYTES bytes in the bucket of `prefix`'s hash tag."""
    return [prefix + (b"%d" % n).rjust(MAX_KEY_BYTES - len(prefix), b"x") for n in range(count)]


def test_every_write_kind_takes_the_longest_key_on_lmdb(tmp_path: Path) -> None:
    """Leased puts, txn puts and compare-and-sets of 500-byte keys apply on LMDB as in
    memory: no table's row key outgrows LMDB's 511 bytes (issue 16, finding 2)."""
    cluster = MemoryCluster(NBUCKETS, [1], replicas=1)
    replica = LmdbReplica(tmp_path / "g1", cluster.groups[1])
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    group = cluster.groups[1]
    leased, in_txn, cas = longest_keys(b"{t}", 3)
    lease = group.propose(GrantLease(1, 1, leased, 5000, 1000, True))["lease"]
    assert group.propose(LeasePut(1, 2, leased, b"v", lease, 1000, True))["ok"]
    assert group.propose(LeasePut(1, 3, cas, b"v", lease, 1000, True, 0))["ok"]
    txn = Txn(1, 4, (), (TxnOp("put", in_txn, b"t"),), (), 1000, True)
    assert group.propose(txn)["ok"]
    assert group.propose(Put(1, 5, cas, b"w", 1000, True, 1))["ok"]
    assert group.propose(Put(1, 6, in_txn, b"u", 1000, True, b"t"))["ok"]
    replica.catch_up()
    assert replica.tables() == non_empty(group.view.tables)
    assert group.propose(ExpireLeases(10_000))["expired"] == 1
    replica.catch_up()
    assert replica.read(("get", leased)) == {"value": None}
    assert replica.read(("get", cas)) == {"value": b"w"}  # detached by the plain CAS
    assert replica.tables() == non_empty(group.view.tables)

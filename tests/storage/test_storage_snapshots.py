"""A snapshot streamed from one store and installed into another gives the same tables."""

from __future__ import annotations

import msgpack
import pytest

from eraft_trio.raft.types import HardState, SnapshotMeta
from eraft_trio.storage.errors import InvalidBatchError, SnapshotError
from eraft_trio.storage.node_store import NodeStore
from eraft_trio.storage.view import TableView

from .conftest import IDENTITY, StoreOpener, make_entries
from .write_batch import WriteBatch, write_batch


def all_rows(store: NodeStore) -> dict[str, list[tuple[bytes, bytes]]]:
    with store.read_view() as view:
        return {table: list(view.scan(table)) for table in ("kv", "sessions", "config")}


def filled_leader(open_store: StoreOpener, rows: int = 300) -> NodeStore:
    leader = open_store()
    write_batch(leader, WriteBatch(entries=make_entries(1, 1, 5) + make_entries(2, 6, 7)))

    def apply(view: TableView) -> list[object]:
        for i in range(rows):
            view.put("kv", b"key%05d" % i, b"value-%d" % i * 3)
        view.put("sessions", b"client-1", b"\x00\x01")
        view.put("config", b"num", b"7")
        view.delete("kv", b"key00003")
        return []

    write_batch(leader, WriteBatch(apply=apply, applied_index=6, applied_term=2))
    return leader


def test_a_streamed_snapshot_installs_identical_tables_and_position(
    open_store: StoreOpener,
) -> None:
    leader = filled_leader(open_store)
    follower = open_store(
        data_dir=leader.path.parent / "follower", identity={**IDENTITY, "node": 1}
    )
    write_batch(follower, WriteBatch(entries=make_entries(1, 1, 3)))

    def stale(view: TableView) -> list[object]:
        view.put("kv", b"stale", b"row")
        return []

    write_batch(follower, WriteBatch(apply=stale, applied_index=2, applied_term=1))

    with leader.open_snapshot(chunk_bytes=2048) as reader:
        stager = follower.begin_staging(reader.meta)
        chunks = list(reader)
        for chunk in chunks:
            stager.add_chunk(chunk)
        assert (stager.rows_staged, stager.checksum) == (reader.rows_read, reader.checksum)
    assert len(chunks) > 1
    write_batch(
        follower,
        WriteBatch(
            install_snapshot=stager.meta,
            entries=make_entries(2, 7, 8),
            hard_state=HardState(term=2, vote=None, commit=6),
        ),
    )
    follower.close()

    reopened = open_store(
        data_dir=leader.path.parent / "follower", identity={**IDENTITY, "node": 1}
    )
    assert all_rows(reopened) == all_rows(leader)
    loaded = reopened.load()
    assert (loaded.applied, loaded.applied_term) == (6, 2)
    assert loaded.snapshot == SnapshotMeta(index=6, term=2)
    assert loaded.entries == make_entries(2, 7, 8)
    assert stager.rows_staged == sum(len(rows) for rows in all_rows(leader).values())


def test_chunks_respect_the_byte_budget_except_for_a_single_large_row(
    open_store: StoreOpener,
) -> None:
    leader = filled_leader(open_store)

    def big_row(view: TableView) -> list[object]:
        view.put("kv", b"zz-big", b"x" * 5000)
        return []

    write_batch(leader, WriteBatch(apply=big_row, applied_index=7, applied_term=2))

    with leader.open_snapshot(chunk_bytes=1024) as reader:
        assert reader.meta == SnapshotMeta(index=7, term=2)
        chunks = list(reader)

    decoded = [msgpack.unpackb(chunk) for chunk in chunks]
    oversized = [rows for chunk, rows in zip(chunks, decoded, strict=True) if len(chunk) > 1024]
    assert oversized == [[[b"kv\x00zz-big", b"x" * 5000]]]
    keys = [key for rows in decoded for key, _ in rows]
    assert keys == sorted(keys)
    assert len(keys) == 300 - 1 + 2 + 1


def test_a_snapshot_reads_one_consistent_state_while_writes_continue(
    open_store: StoreOpener,
) -> None:
    leader = filled_leader(open_store, rows=10)
    reader = leader.open_snapshot(chunk_bytes=64)
    first = reader.next_chunk()

    def overwrite(view: TableView) -> list[object]:
        for key, _ in list(view.scan("kv")):
            view.delete("kv", key)
        view.put("kv", b"new", b"row")
        return []

    write_batch(leader, WriteBatch(apply=overwrite, applied_index=7, applied_term=2))
    rest = list(reader)
    reader.close()

    keys = [key for chunk in [first, *rest] for key, _ in msgpack.unpackb(chunk)]
    assert b"kv\x00new" not in keys
    assert len(keys) == 9 + 2
    assert reader.meta == SnapshotMeta(index=6, term=2)


def test_installing_without_a_matching_staging_is_refused(open_store: StoreOpener) -> None:
    store = open_store()
    store.begin_staging(SnapshotMeta(index=10, term=3))

    with pytest.raises(SnapshotError, match="no complete staging"):
        write_batch(store, WriteBatch(install_snapshot=SnapshotMeta(index=11, term=3)))
    assert store.load().applied == 0


def test_a_new_staging_makes_the_older_stager_stale(open_store: StoreOpener) -> None:
    leader = filled_leader(open_store, rows=10)
    follower = open_store(data_dir=leader.path.parent / "f", identity={**IDENTITY, "node": 1})
    with leader.open_snapshot() as reader:
        (chunk,) = list(reader)
        meta = reader.meta
    old = follower.begin_staging(meta)
    new = follower.begin_staging(meta)
    new.add_chunk(chunk)

    with pytest.raises(SnapshotError, match="superseded"):
        old.add_chunk(chunk)

    write_batch(follower, WriteBatch(install_snapshot=meta))
    assert all_rows(follower) == all_rows(leader)
    with pytest.raises(SnapshotError, match="superseded or installed"):
        new.add_chunk(chunk)


def test_a_discarded_staging_cannot_be_installed_and_spares_a_newer_one(
    open_store: StoreOpener,
) -> None:
    leader = filled_leader(open_store, rows=10)
    follower = open_store(data_dir=leader.path.parent / "f", identity={**IDENTITY, "node": 1})
    with leader.open_snapshot() as reader:
        (chunk,) = list(reader)
        meta = reader.meta
    refused = follower.begin_staging(meta)
    refused.add_chunk(chunk)
    refused.discard()

    with pytest.raises(SnapshotError, match="no complete staging"):
        write_batch(follower, WriteBatch(install_snapshot=meta))

    old = follower.begin_staging(meta)
    new = follower.begin_staging(meta)
    new.add_chunk(chunk)
    old.discard()  # superseded: leaves the newer staging alone
    write_batch(follower, WriteBatch(install_snapshot=meta))
    assert all_rows(follower) == all_rows(leader)


def test_a_snapshot_behind_the_applied_index_is_refused(open_store: StoreOpener) -> None:
    store = filled_leader(open_store, rows=1)
    meta = SnapshotMeta(index=3, term=1)
    store.begin_staging(meta)

    with pytest.raises(InvalidBatchError, match="behind the applied index"):
        write_batch(store, WriteBatch(install_snapshot=meta))


@pytest.mark.parametrize(
    "chunk",
    [b"\xc1", msgpack.packb({"a": 1}), msgpack.packb([[b"k"]]), msgpack.packb([["k", "v"]])],
)
def test_a_corrupt_chunk_is_refused_before_writing(open_store: StoreOpener, chunk: bytes) -> None:
    store = open_store()
    stager = store.begin_staging(SnapshotMeta(index=1, term=1))
    fsyncs = store.statistics()["fsyncs"]

    with pytest.raises(SnapshotError, match="snapshot chunk"):
        stager.add_chunk(chunk)
    assert store.statistics()["fsyncs"] == fsyncs

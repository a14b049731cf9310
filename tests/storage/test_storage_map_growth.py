"""A full LMDB map grows and the batch is retried whole; at the maximum size the write fails cleanly."""

from __future__ import annotations

import pytest

from eraft_trio.raft.types import Entry
from eraft_trio.storage.errors import SnapshotError, StorageFullError
from eraft_trio.storage.view import TableView

from .conftest import StoreOpener, make_entries
from .write_batch import WriteBatch, write_batch

SMALL_MAP = 256 << 10


def big_entries(first: int, last: int, size: int = 2048) -> list[Entry]:
    return [Entry(term=1, index=i, data=bytes([i % 256]) * size) for i in range(first, last + 1)]


def rows_of(count: int, size: int = 2048) -> WriteBatch:
    """An apply writing `count` rows of `size` bytes, as applied index 1."""

    def apply(view: TableView) -> list[object]:
        for row in range(count):
            view.put("big", b"%05d" % row, bytes([row % 256]) * size)
        return [count]

    return WriteBatch(apply=apply, applied_index=1, applied_term=1)


def test_one_batch_larger_than_the_map_is_stored_after_growing(open_store: StoreOpener) -> None:
    store = open_store(map_size=SMALL_MAP)
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 1)))
    write_batch(store, rows_of(1000))  # about 2 MiB into a 256 KiB map
    store.close()

    reopened = open_store(map_size=SMALL_MAP)
    with reopened.read_view() as view:
        assert sum(1 for _ in view.scan("big")) == 1000
    stats = reopened.statistics()
    assert stats["map_size"] > SMALL_MAP
    assert stats["used_bytes"] <= stats["map_size"]


def test_many_batches_grow_the_map_and_apply_runs_again_on_retry(
    open_store: StoreOpener,
) -> None:
    store = open_store(map_size=SMALL_MAP)
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 40)))
    calls: list[int] = []

    for index in range(1, 41):

        def apply(view: TableView, index: int = index) -> list[object]:
            calls.append(index)
            for row in range(20):
                view.put("kv", b"%02d-%02d" % (index, row), b"v" * 512)
            return [index]

        assert write_batch(store, WriteBatch(apply=apply, applied_index=index, applied_term=1)) == [
            index
        ]

    stats = store.statistics()
    assert stats["map_growths"] >= 1
    assert len(calls) == 40 + stats["map_full_retries"]  # each retry re-ran one apply
    assert stats["applied_index"] == 40
    with store.read_view() as view:
        assert sum(1 for _ in view.scan("kv")) == 800


def test_a_batch_beyond_the_maximum_map_size_fails_and_writes_nothing(
    open_store: StoreOpener,
) -> None:
    store = open_store(map_size=SMALL_MAP, max_map_size=2 * SMALL_MAP)
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 2)))
    before = store.load()

    with pytest.raises(StorageFullError, match="maximum size"):
        write_batch(store, rows_of(1000))

    assert store.load() == before
    with store.read_view() as view:
        assert list(view.scan("big")) == []
    write_batch(store, rows_of(4))  # small writes still fit
    assert store.load().applied == 1


def test_growth_invalidates_an_open_snapshot_stream(open_store: StoreOpener) -> None:
    store = open_store(map_size=SMALL_MAP)
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 1)))

    def apply(view: TableView) -> list[object]:
        for row in range(50):
            view.put("kv", b"%03d" % row, b"v" * 100)
        return []

    write_batch(store, WriteBatch(apply=apply, applied_index=1, applied_term=1))
    reader = store.open_snapshot(chunk_bytes=1000)
    assert reader.next_chunk() is not None

    def apply_big_rows(view: TableView) -> list[object]:
        for row in range(1000):
            view.put("big", b"%04d" % row, b"v" * 2048)
        return []

    # Growth of the log's environment leaves the state's readers alone; the state's own does not.
    write_batch(store, WriteBatch(entries=big_entries(2, 1000)))
    assert reader.next_chunk() is not None
    write_batch(store, WriteBatch(apply=apply_big_rows, applied_index=2, applied_term=1))

    assert store.statistics()["map_growths"] >= 2
    with pytest.raises(SnapshotError, match="invalidated"):
        reader.next_chunk()
    reader.close()
    with store.open_snapshot(chunk_bytes=1000) as fresh:
        assert sum(1 for _ in fresh) >= 5

"""Reads on the event-loop thread run while a write transaction is open in a worker thread."""

from __future__ import annotations

import threading

import pytest
import trio

from eraft_trio.storage.durable_writer import MapGate
from eraft_trio.storage.node_store import NodeStore
from eraft_trio.storage.view import TableView

from .conftest import StoreOpener, make_entries
from .write_batch import WriteBatch, write_batch

# A guard against a hang if the code under test is broken, never a synchronisation.
HANG_GUARD_S = 10


def put_value(value: bytes, index: int) -> WriteBatch:
    def apply(view: TableView) -> list[object]:
        view.put("kv", b"k", value)
        return []

    return WriteBatch(apply=apply, applied_index=index, applied_term=1)


def test_a_read_view_sees_the_last_commit_while_a_write_is_open(open_store: StoreOpener) -> None:
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 2)))
    write_batch(store, put_value(b"old", 1))
    inside_write = threading.Event()
    finish_write = threading.Event()

    def slow_apply(view: TableView) -> list[object]:
        view.put("kv", b"k", b"new")
        inside_write.set()
        assert finish_write.wait(HANG_GUARD_S)
        return []

    writer = threading.Thread(
        target=write_batch,
        args=(
            store,
            WriteBatch(apply=slow_apply, applied_index=2, applied_term=1),
        ),
    )
    writer.start()
    try:
        assert inside_write.wait(HANG_GUARD_S)
        with store.read_view() as view:
            seen_during = view.get("kv", b"k")
        applied_during = store.load().applied
    finally:
        finish_write.set()
        writer.join(HANG_GUARD_S)

    assert (seen_during, applied_during) == (b"old", 1)
    with store.read_view() as view:
        assert view.get("kv", b"k") == b"new"
    assert store.load().applied == 2


async def test_trio_reads_interleave_with_writes_in_worker_threads(
    open_store: StoreOpener,
) -> None:
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 30)))
    seen: list[tuple[int, bytes | None]] = []

    async def writer() -> None:
        for index in range(1, 31):
            await trio.to_thread.run_sync(write_batch, store, put_value(b"%d" % index, index))

    async def reader(done: trio.Event) -> None:
        while not done.is_set():
            with store.read_view() as view:
                value = view.get("kv", b"k")
            seen.append((store.load().applied, value))
            await trio.lowlevel.checkpoint()

    done = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader, done)
        await writer()
        done.set()

    with store.read_view() as view:
        assert view.get("kv", b"k") == b"30"
    # Reads only move forward: a reader never sees a committed write undone.
    assert seen
    numbers = [int(value) for _, value in seen if value is not None]
    assert numbers == sorted(numbers)
    applied = [index for index, _ in seen]
    assert applied == sorted(applied)


def test_a_read_view_is_read_only(open_store: StoreOpener) -> None:
    store = open_store()

    with store.read_view() as view, pytest.raises(Exception, match="read-only"):
        view.put("kv", b"k", b"v")


def test_remap_waits_for_a_read_in_use() -> None:
    gate = MapGate()
    reading = threading.Event()
    remap_started = threading.Event()
    state = {"in_read": False, "read_open_at_remap": None}

    def change() -> None:
        state["read_open_at_remap"] = state["in_read"]

    def remapper() -> None:
        assert reading.wait(HANG_GUARD_S)
        remap_started.set()
        gate.remap(change)

    thread = threading.Thread(target=remapper)
    thread.start()
    with gate.reading():
        state["in_read"] = True
        reading.set()
        assert remap_started.wait(HANG_GUARD_S)
        state["in_read"] = False
    thread.join(HANG_GUARD_S)

    assert state["read_open_at_remap"] is False


def test_closing_the_store_invalidates_an_open_snapshot(open_store: StoreOpener) -> None:
    store: NodeStore = open_store()
    reader = store.open_snapshot()
    store.close()

    with pytest.raises(Exception, match="invalidated"):
        reader.next_chunk()

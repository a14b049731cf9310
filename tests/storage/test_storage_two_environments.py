"""The log and the tables kept apart: restarts in between, and stores of older formats."""

from __future__ import annotations

from pathlib import Path

import lmdb
import msgpack

from eraft_trio.raft.types import HardState, SnapshotMeta
from eraft_trio.storage import log_table, meta_table
from eraft_trio.storage.node_store import NodeStore
from eraft_trio.storage.snapshot_chunks import encode_chunk
from eraft_trio.storage.view import TableView
from eraft_trio.storage.write_batch import LogWrite, WriteBatch

from .conftest import IDENTITY, StoreOpener, make_entries


def stage(store: NodeStore, meta: SnapshotMeta, rows: list[tuple[bytes, bytes]]) -> None:
    store.begin_staging(meta).add_chunk(encode_chunk(rows))


def test_apply_and_log_writes_are_independent_transactions(open_store: StoreOpener) -> None:
    store = open_store()
    store.write_log(LogWrite(entries=make_entries(1, 1, 3), hard_state=HardState(1, 0, 3)))

    def apply(view: TableView) -> list[object]:
        view.put("kv", b"k", b"v")
        return ["done"]

    assert store.apply(apply, 2, 1) == ["done"]
    store.write_log(LogWrite(entries=make_entries(1, 4, 5)))  # the log goes on by itself
    stats = store.statistics()
    assert (stats["applied_index"], stats["last_index"]) == (2, 5)
    assert stats["state_commits"] >= 1 and stats["fsyncs"] >= 2

    loaded = store.load()
    assert (loaded.applied, len(loaded.entries), loaded.hard_state.commit) == (2, 5, 3)


def test_a_restart_between_snapshot_install_and_log_reset_drops_a_log_that_does_not_lead_there(
    open_store: StoreOpener,
) -> None:
    store = open_store()
    store.write_log(LogWrite(entries=make_entries(1, 1, 3), hard_state=HardState(1, 0, 2)))
    snapshot = SnapshotMeta(index=10, term=2)
    stage(store, snapshot, [(b"kv\x00k", b"from the snapshot")])
    store.install_snapshot(snapshot)  # ...and the node stops before write_log(reset_to=...)
    store.close()

    reopened = open_store()
    loaded = reopened.load()
    assert (loaded.snapshot, loaded.entries, loaded.applied) == (snapshot, [], 10)
    assert loaded.hard_state == HardState(1, 0, 2)  # the core takes commit = applied
    assert reopened.statistics()["first_index"] == 11  # the stale log is gone for good
    with reopened.read_view() as view:
        assert view.get("kv", b"k") == b"from the snapshot"


def test_a_log_that_does_lead_to_the_installed_snapshot_is_kept(open_store: StoreOpener) -> None:
    store = open_store()
    store.write_log(LogWrite(entries=make_entries(2, 1, 12)))
    snapshot = SnapshotMeta(index=10, term=2)
    stage(store, snapshot, [])
    store.install_snapshot(snapshot)

    loaded = store.load()
    assert loaded.snapshot == SnapshotMeta()  # the log still starts at 1
    assert [e.index for e in loaded.entries] == list(range(1, 13))
    assert loaded.applied == 10


def test_a_format_1_store_is_moved_to_two_environments_on_open(
    open_store: StoreOpener, tmp_path: Path
) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    env = lmdb.open(str(folder), max_dbs=8, map_size=64 << 20)
    meta, log, sm = env.open_db(b"meta"), env.open_db(b"log"), env.open_db(b"sm")
    with env.begin(write=True) as txn:
        txn.put(b"format", msgpack.packb(1), db=meta)
        txn.put(b"identity", msgpack.packb(IDENTITY), db=meta)
        meta_table.put_hard_state(txn, meta, HardState(term=3, vote=1, commit=6))
        meta_table.put_snapshot(txn, meta, SnapshotMeta(index=4, term=2))
        meta_table.put_applied(txn, meta, SnapshotMeta(index=5, term=3))
        log_table.append(txn, log, make_entries(3, 5, 7))
        txn.put(b"kv\x00key", b"value", db=sm)
    env.close()

    store = open_store(folder)
    loaded = store.load()
    assert loaded.hard_state == HardState(term=3, vote=1, commit=6)
    assert loaded.snapshot == SnapshotMeta(index=4, term=2)
    assert loaded.entries == make_entries(3, 5, 7)
    assert (loaded.applied, loaded.applied_term) == (5, 3)
    with store.read_view() as view:
        assert view.get("kv", b"key") == b"value"
    store.write_batch(WriteBatch(entries=make_entries(3, 8, 8)))
    store.close()

    again = open_store(folder)  # now format 2: opened as is
    assert [e.index for e in again.load().entries] == [5, 6, 7, 8]


def test_a_format_2_store_moves_its_log_environment_into_the_write_ahead_log(
    open_store: StoreOpener, tmp_path: Path
) -> None:
    folder = tmp_path / "v2"
    folder.mkdir()
    env = lmdb.open(str(folder), max_dbs=8, map_size=64 << 20)
    meta, sm = env.open_db(b"meta"), env.open_db(b"sm")
    with env.begin(write=True) as txn:
        txn.put(b"format", msgpack.packb(2), db=meta)
        txn.put(b"identity", msgpack.packb(IDENTITY), db=meta)
        meta_table.put_applied(txn, meta, SnapshotMeta(index=6, term=3))
        txn.put(b"kv\x00key", b"value", db=sm)
    env.close()
    log_env = lmdb.open(str(folder / "raft-log"), max_dbs=8, map_size=64 << 20)
    log_meta, log = log_env.open_db(b"meta"), log_env.open_db(b"log")
    with log_env.begin(write=True) as txn:
        meta_table.put_hard_state(txn, log_meta, HardState(term=3, vote=2, commit=7))
        meta_table.put_snapshot(txn, log_meta, SnapshotMeta(index=4, term=2))
        log_table.append(txn, log, make_entries(3, 5, 8))
    log_env.close()

    store = open_store(folder)
    loaded = store.load()
    assert loaded.hard_state == HardState(term=3, vote=2, commit=7)
    assert (loaded.snapshot, loaded.entries) == (
        SnapshotMeta(index=4, term=2),
        make_entries(3, 5, 8),
    )
    assert (loaded.applied, loaded.applied_term) == (6, 3)
    assert not (folder / "raft-log").exists()
    store.close()

    again = open_store(folder)
    assert again.load().entries == make_entries(3, 5, 8)

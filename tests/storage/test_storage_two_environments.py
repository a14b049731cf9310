"""The log and the tables kept apart: restarts in between, and stores of older formats refused."""

from __future__ import annotations

from pathlib import Path

import lmdb
import msgpack
import pytest

from eraft_trio.raft.types import HardState, SnapshotMeta
from eraft_trio.storage.errors import StorageError
from eraft_trio.storage.log_write import LogWrite
from eraft_trio.storage.node_store import NodeStore
from eraft_trio.storage.snapshot import encode_chunk
from eraft_trio.storage.view import TableView

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


@pytest.mark.parametrize("old_format", [1, 2, 3])
def test_a_store_of_a_development_format_is_refused_naming_it(
    open_store: StoreOpener, tmp_path: Path, old_format: int
) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    env = lmdb.open(str(folder), max_dbs=8, map_size=64 << 20)
    meta, sm = env.open_db(b"meta"), env.open_db(b"sm")
    with env.begin(write=True) as txn:
        txn.put(b"format", msgpack.packb(old_format), db=meta)
        txn.put(b"identity", msgpack.packb(IDENTITY), db=meta)
        txn.put(b"kv\x00key", b"value", db=sm)
    env.close()

    with pytest.raises(StorageError, match=f"store format {old_format}.*reads format 4 only"):
        open_store(folder)

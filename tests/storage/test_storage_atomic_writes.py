"""Each write is all or nothing: a failed log write or state commit leaves the old state."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import lmdb
import pytest

from eraft_trio.raft.types import HardState
from eraft_trio.storage import wal
from eraft_trio.storage.errors import StorageError, StorageFullError
from eraft_trio.storage.node_store import NodeStore
from eraft_trio.storage.view import TableView

from .conftest import IDENTITY, StoreOpener, make_entries
from .write_batch import WriteBatch, write_batch


def put_rows(count: int, value: bytes = b"v") -> WriteBatch:
    def apply(view: TableView) -> list[object]:
        for i in range(count):
            view.put("kv", b"k%04d" % i, value)
        return [count]

    return WriteBatch(apply=apply, applied_index=count, applied_term=1)


def test_apply_result_is_returned_and_tables_move_with_the_applied_index(
    open_store: StoreOpener,
) -> None:
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 3)))

    assert write_batch(store, put_rows(3)) == [3]
    store.close()

    reopened = open_store()
    with reopened.read_view() as view:
        assert [key for key, _ in view.scan("kv")] == [b"k0000", b"k0001", b"k0002"]
    assert (reopened.load().applied, reopened.load().applied_term) == (3, 1)


def test_a_batch_whose_apply_raises_writes_nothing(open_store: StoreOpener) -> None:
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 2)))
    before = store.load()

    def failing_apply(view: TableView) -> list[object]:
        view.put("kv", b"half", b"done")
        raise RuntimeError("state machine bug")

    with pytest.raises(RuntimeError, match="state machine bug"):
        write_batch(
            store,
            WriteBatch(
                entries=make_entries(1, 3, 5),
                hard_state=HardState(term=1, vote=0, commit=5),
                apply=failing_apply,
                applied_index=2,
                applied_term=1,
            ),
        )

    assert store.load() == before
    with store.read_view() as view:
        assert view.get("kv", b"half") is None
        assert list(view.scan("kv")) == []


def test_a_failed_log_write_raises_storage_full_and_keeps_the_old_state(
    open_store: StoreOpener, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 2)))
    before = store.load()

    def fdatasync_on_a_full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wal.os, "fdatasync", fdatasync_on_a_full_disk)
    with pytest.raises(StorageFullError, match="disk is full"):
        write_batch(store, WriteBatch(entries=make_entries(2, 3, 4)))
    monkeypatch.undo()

    assert store.load() == before
    write_batch(store, WriteBatch(entries=make_entries(2, 3, 4)))  # recovers once space returns
    assert len(store.load().entries) == 4
    store.close()
    assert len(open_store().load().entries) == 4  # and the log replays past the failure


def test_a_failed_state_commit_raises_storage_full_and_keeps_the_old_state(
    open_store: StoreOpener, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 2)))

    def commit_on_a_full_disk(txn: lmdb.Transaction) -> None:
        txn.abort()  # what LMDB does when mdb_txn_commit fails
        raise lmdb.DiskError("mdb_txn_commit: No space left on device")

    monkeypatch.setattr(store._state_writer, "_commit", commit_on_a_full_disk)
    with pytest.raises(StorageFullError, match="disk is full"):
        write_batch(store, put_rows(2))
    monkeypatch.undo()

    assert store.load().applied == 0
    assert write_batch(store, put_rows(2)) == [2]


def test_an_os_error_other_than_enospc_is_a_storage_error(
    open_store: StoreOpener, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()

    def fdatasync_with_io_error(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(wal.os, "fdatasync", fdatasync_with_io_error)
    with pytest.raises(StorageError, match="write failed") as caught:
        write_batch(store, WriteBatch(hard_state=HardState(term=3)))

    assert not isinstance(caught.value, StorageFullError)


@pytest.fixture
def tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, so LMDB meets a real ENOSPC (needs root; skipped otherwise)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root?)")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_real_full_disk_fails_the_batch_and_keeps_the_old_state(
    tiny_filesystem: Path,
) -> None:
    store = NodeStore.open(tiny_filesystem / "node", IDENTITY, map_size=64 << 20)
    try:
        write_batch(store, WriteBatch(entries=make_entries(1, 1, 2)))
        before = store.load()
        big = [type(e)(term=1, index=e.index, data=b"x" * 4096) for e in make_entries(1, 3, 700)]

        with pytest.raises(StorageFullError, match="disk is full"):
            write_batch(store, WriteBatch(entries=big))
        assert store.load() == before

        remount = ["mount", "-o", "remount,size=16m", str(tiny_filesystem)]
        subprocess.run(remount, check=True)
        write_batch(store, WriteBatch(entries=big))
        assert len(store.load().entries) == 700
    finally:
        store.close()

"""One node's LMDB environment: Raft log, hard state and state-machine tables, written together."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb

from eraft_trio.raft.types import SnapshotMeta

from . import log_table, meta_table
from .batch_txn import write_batch_in_txn
from .data_dir import DataDirOwnerLock, check_identity, prepare_data_dir, sync_directory
from .durable_writer import DurableWriter
from .errors import StorageError, StorageIdentityError
from .lmdb_view import LmdbTableView
from .loaded_state import LoadedState
from .map_gate import MapGate
from .snapshot import SnapshotReader, SnapshotStager
from .sub_dbs import ALL_DB_NAMES, META_DB, SubDbs, open_sub_dbs
from .write_batch import WriteBatch

INITIAL_MAP_SIZE = 64 << 20
MAX_MAP_SIZE = 1 << 40  # address space only: without writemap the file grows as pages are written
MAX_READERS = 1024  # read views and snapshot streams each hold a reader slot while open
MAX_DBS = 8


class NodeStore:
    """The storage of one node. Synchronous: a trio driver calls the writing methods
    through trio.to_thread.run_sync, one at a time, while any thread may read.
    """

    def __init__(
        self,
        path: Path,
        env: lmdb.Environment,
        dbs: SubDbs,
        owner_lock: DataDirOwnerLock,
        max_map_size: int,
    ) -> None:
        """Use NodeStore.open."""
        self.path = path
        self._env = env
        self._dbs = dbs
        self._owner_lock = owner_lock
        self._gate = MapGate()
        self._writer = DurableWriter(env, self._gate, max_map_size)
        self._closed = False

    # --- opening and closing ------------------------------------------------------------

    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str],
        identity: Mapping[str, str | int],
        *,
        map_size: int = INITIAL_MAP_SIZE,
        max_map_size: int = MAX_MAP_SIZE,
    ) -> NodeStore:
        """Open the store in `data_dir`, creating it (and recording `identity`) if new.

        Raises StorageIdentityError if the folder holds another node's store or something
        that is not a store, StorageInUseError if another open store owns it.
        """
        path = Path(data_dir)
        new_dir = prepare_data_dir(path)
        owner_lock = DataDirOwnerLock.acquire(path)
        try:
            env = _open_env(path, map_size, new_dir)
        except BaseException:
            owner_lock.release()
            raise
        try:
            store = cls(path, env, _open_checked_sub_dbs(env, path), owner_lock, max_map_size)
            store._claim(dict(identity))
        except BaseException:
            env.close()
            owner_lock.release()
            raise
        return store

    def close(self) -> None:
        """Wait for a write in progress, invalidate open snapshot readers, close LMDB."""
        if self._closed:
            return
        self._closed = True
        self._writer.close(self._release)

    def __enter__(self) -> NodeStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Raft persistence ------------------------------------------------------------

    def load(self) -> LoadedState:
        """Everything a restarting node needs, read in one transaction."""
        with self._reading() as txn:
            snapshot = meta_table.get_snapshot(txn, self._dbs.meta)
            applied = meta_table.get_applied(txn, self._dbs.meta)
            return LoadedState(
                hard_state=meta_table.get_hard_state(txn, self._dbs.meta),
                snapshot=snapshot,
                entries=log_table.entries_after(txn, self._dbs.log, snapshot.index),
                applied=applied.index,
                applied_term=applied.term,
            )

    def write_batch(self, batch: WriteBatch) -> list[Any]:
        """Write the batch in one transaction and one durable commit; return apply's result.

        On StorageError (StorageFullError for a full disk or map at its maximum) or an
        exception from `batch.apply`, nothing of the batch is stored.
        """
        return self._writer.run(lambda txn: write_batch_in_txn(txn, self._dbs, batch))

    # --- reading the tables ---------------------------------------------------------

    @contextmanager
    def read_view(self) -> Iterator[LmdbTableView]:
        """A read-only TableView on a fresh read transaction; usable from any thread,
        while a write is in progress. Keep it short: do not await inside.
        """
        with self._reading() as txn:
            yield LmdbTableView(txn, self._dbs.sm, writable=False)

    # --- snapshots -------------------------------------------------------------------

    def open_snapshot(self, chunk_bytes: int = 1 << 20) -> SnapshotReader:
        """A consistent stream of every table row plus the applied position they describe."""
        self._check_open()
        return SnapshotReader(self._env, self._gate, self._dbs, chunk_bytes)

    def begin_staging(self, meta: SnapshotMeta) -> SnapshotStager:
        """Start receiving the snapshot `meta`, discarding any earlier staging."""
        return SnapshotStager(self._writer, self._dbs, meta)

    # --- statistics ------------------------------------------------------------------

    def statistics(self) -> dict[str, Any]:
        with self._reading() as txn:
            snapshot = meta_table.get_snapshot(txn, self._dbs.meta)
            applied = meta_table.get_applied(txn, self._dbs.meta)
            stored_last = log_table.last_index(txn, self._dbs.log)
            log_entries = txn.stat(self._dbs.log)["entries"]
            info = self._env.info()
            page_size = self._env.stat()["psize"]
        stats = self._writer.stats
        return {
            "first_index": snapshot.index + 1,
            "last_index": snapshot.index if stored_last is None else stored_last,
            "log_entries": log_entries,
            "snapshot_index": snapshot.index,
            "snapshot_term": snapshot.term,
            "applied_index": applied.index,
            "applied_term": applied.term,
            "map_size": info["map_size"],
            "used_bytes": (info["last_pgno"] + 1) * page_size,
            "map_growths": stats.map_growths,
            "map_full_retries": stats.retries,
            "fsyncs": stats.commits,
            "commit_latency_last_ms": stats.last_latency_s * 1000.0,
            "commit_latency_mean_ms": stats.mean_latency_s * 1000.0,
        }

    # --- internals -------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[lmdb.Transaction[bytes]]:
        self._check_open()
        with self._gate.reading():
            try:
                txn = self._env.begin()
            except lmdb.Error as exc:
                raise StorageError(f"cannot begin an LMDB read transaction: {exc}") from exc
            try:
                yield txn
            finally:
                txn.abort()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"the store in {self.path} is closed")

    def _claim(self, identity: dict[str, str | int]) -> None:
        with self._reading() as txn:
            stored = meta_table.get_identity(txn, self._dbs.meta)
            stored_format = meta_table.get_format(txn, self._dbs.meta)
        if stored is None:
            self._writer.run(lambda txn: _record_identity(txn, self._dbs, identity))
            sync_directory(self.path)
            return
        if stored_format != meta_table.FORMAT_VERSION:
            raise StorageError(
                f"data_dir {self.path} holds store format {stored_format}; "
                f"this version reads format {meta_table.FORMAT_VERSION}"
            )
        check_identity(self.path, stored, identity)

    def _release(self) -> None:
        self._gate.remap(self._env.close)  # no read in use; open snapshot streams invalidated
        self._owner_lock.release()


def _open_env(path: Path, map_size: int, new_dir: bool) -> lmdb.Environment:
    try:
        return lmdb.open(
            str(path),
            subdir=True,
            map_size=map_size,
            max_dbs=MAX_DBS,
            max_readers=MAX_READERS,
            lock=True,
            sync=True,
            metasync=True,
        )
    except lmdb.Error as exc:
        if new_dir:
            raise StorageError(f"cannot create an LMDB environment in {path}: {exc}") from exc
        raise StorageIdentityError(
            f"data_dir {path} holds a data.mdb that is not an LMDB environment: {exc}"
        ) from exc


def _open_checked_sub_dbs(env: lmdb.Environment, path: Path) -> SubDbs:
    """Open the sub-dbs, refusing an LMDB environment that some other program made."""
    with env.begin() as txn:
        names = {bytes(key) for key, _ in txn.cursor()}
    # An empty main db is a store whose first open stopped before its first commit.
    if names and (META_DB not in names or not names <= set(ALL_DB_NAMES)):
        raise StorageIdentityError(
            f"data_dir {path} holds an LMDB environment that is not an eraft store"
        )
    try:
        return open_sub_dbs(env)
    except lmdb.Error as exc:
        raise StorageIdentityError(
            f"data_dir {path} holds an LMDB environment that is not an eraft store: {exc}"
        ) from exc


def _record_identity(
    txn: lmdb.Transaction[bytes], dbs: SubDbs, identity: dict[str, str | int]
) -> None:
    meta_table.put_format(txn, dbs.meta)
    meta_table.put_identity(txn, dbs.meta, identity)

"""One node's storage: the Raft log and hard state in a write-ahead log, the state-machine
tables in LMDB, so that appending to the log never waits behind applying to the tables.

The write-ahead log (data_dir/raft-wal) is durable at every write, with one fdatasync:
nothing is acknowledged before its entries and hard state are. The state environment
(data_dir) commits with one flush and no meta-page sync (LMDB's MDB_NOMETASYNC:
integrity kept, a power cut may undo its last transactions): it is rebuilt from the
log on restart, since `applied` is written with the tables and compaction first
flushes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb

from eraft_trio.raft.membership import Membership
from eraft_trio.raft.types import Entry, HardState, SnapshotMeta

from . import state_env
from .data_dir import (
    DATA_FILE,
    DataDirOwnerLock,
    check_identity,
    prepare_data_dir,
    sync_directory,
)
from .durable_writer import DurableWriter, MapGate
from .errors import StorageError, StorageIdentityError
from .lmdb_view import LmdbTableView
from .log_write import ApplyFunction, LogWrite
from .snapshot import SnapshotReader, SnapshotStager
from .state_env import (
    ALL_DB_NAMES,
    META_DB,
    SubDbs,
    apply_in_txn,
    install_snapshot_in_txn,
    open_sub_dbs,
)
from .wal import SEGMENT_BYTES as WAL_SEGMENT_BYTES
from .wal import WriteAheadLog

WAL_DIR = "raft-wal"
INITIAL_MAP_SIZE = 64 << 20
MAX_MAP_SIZE = 1 << 40  # address space only: without writemap the file grows as pages are written
MAX_READERS = 1024  # read views and snapshot streams each hold a reader slot while open
MAX_DBS = 8


@dataclass(frozen=True, slots=True)
class LoadedState:
    """The persisted Raft state plus the position the state-machine tables are at.

    `entries` are the stored entries after `snapshot.index`; `applied`/`applied_term`
    describe the tables, so a restart resumes applying from `applied + 1` without replay.
    """

    hard_state: HardState = field(default_factory=HardState)
    snapshot: SnapshotMeta = field(default_factory=SnapshotMeta)
    entries: list[Entry] = field(default_factory=list)
    applied: int = 0
    applied_term: int = 0


class NodeStore:
    """The storage of one node. Synchronous: a trio driver calls the log writes from one
    thread and the state writes (apply, install) from one thread, while any thread may read.
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
        self._env = env  # the state environment
        self._dbs = dbs
        self._owner_lock = owner_lock
        self._gate = MapGate()
        self._state_writer = DurableWriter(env, self._gate, max_map_size)
        self._wal: WriteAheadLog | None = None  # opened by _claim, once the folder is ours
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
        wal_segment_bytes: int = WAL_SEGMENT_BYTES,
    ) -> NodeStore:
        """Open the store in `data_dir`, creating it (and recording `identity`) if new.

        Raises StorageIdentityError if the folder holds another node's store or something
        that is not a store, StorageInUseError if another open store owns it.
        """
        path = Path(data_dir)
        new_dir = prepare_data_dir(path)
        owner_lock = DataDirOwnerLock.acquire(path)
        env: lmdb.Environment | None = None
        try:
            env = _open_env(path, map_size, new_dir)
            store = cls(path, env, _open_checked_sub_dbs(env, path), owner_lock, max_map_size)
            store._claim(dict(identity), wal_segment_bytes)
        except BaseException:
            if env is not None:
                env.close()
            owner_lock.release()
            raise
        return store

    def close(self) -> None:
        """Wait for writes in progress, invalidate open snapshot readers, close LMDB."""
        if self._closed:
            return
        self._closed = True
        if self._wal is not None:
            self._wal.close()
        self._state_writer.close(self._release)

    def __enter__(self) -> NodeStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Raft persistence ------------------------------------------------------------

    def load(self) -> LoadedState:
        """Everything a restarting node needs.

        The state may be ahead of the log's start after a snapshot install that stopped
        between its two transactions (the state's first): then the log, which no longer
        leads to the state's position, is dropped, as the install would have done. The
        hard state's commit may then be behind the applied index; the core takes the larger.
        """
        wal = self._log()
        with self._reading() as txn:
            applied = state_env.get_applied(txn, self._dbs.meta)
        base = wal.state.base
        if applied.index < base.index:
            raise StorageError(
                f"the log is compacted to {base.index} but the state is applied only to "
                f"{applied.index}: entries in between are lost"
            )
        if applied.index > base.index and wal.state.term_at(applied.index) != applied.term:
            wal.write(reset_to=applied)
        state = wal.state
        # The first load takes what the open read; any later one reads the disk again.
        entries = wal.take_entries() if state.entries is not None else wal.read_entries()
        return LoadedState(
            hard_state=state.hard_state,
            snapshot=state.base,
            entries=entries,
            applied=applied.index,
            applied_term=applied.term,
        )

    def write_log(self, write: LogWrite) -> None:
        """One durable write of the log: one fdatasync.

        Compaction first flushes the state environment, so everything it drops is held
        by durable state.
        """
        wal = self._log()
        durable_applied = 0
        if write.compact_to is not None:
            # Read first, then flush: the flush makes this position (and any commit
            # after it) durable.
            with self._reading() as txn:
                durable_applied = state_env.get_applied(txn, self._dbs.meta).index
            self._flush_state()
        wal.write(
            reset_to=write.reset_to,
            entries=write.entries,
            hard_state=write.hard_state,
            compact_to=write.compact_to,
            durable_applied=durable_applied,
        )

    def apply(
        self,
        apply: ApplyFunction | None,
        index: int,
        term: int,
        membership: Membership | None = None,
    ) -> list[Any]:
        """Run `apply` on the tables and record (index, term) as applied, with the group's
        `membership` at `index` (None: the one it was started with), in one transaction;
        return its result. `apply` may run more than once (see DurableWriter)."""
        target = SnapshotMeta(index=index, term=term, membership=membership)
        return self._state_writer.run(lambda txn: apply_in_txn(txn, self._dbs, apply, target))

    def install_snapshot(self, meta: SnapshotMeta) -> None:
        """Replace the tables with the staged snapshot `meta`; then `write_log` must get
        `LogWrite(reset_to=meta)` (a restart in between does that itself)."""
        self._state_writer.run(lambda txn: install_snapshot_in_txn(txn, self._dbs, meta))
        self._flush_state()

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
        return SnapshotStager(self._state_writer, self._dbs, meta)

    # --- statistics ------------------------------------------------------------------

    def statistics(self) -> dict[str, Any]:
        with self._reading() as txn:
            applied = state_env.get_applied(txn, self._dbs.meta)
            info = self._env.info()
            page_size = self._env.stat()["psize"]
        wal = self._log()
        snapshot = wal.state.base
        state_stats = self._state_writer.stats
        return {
            "first_index": snapshot.index + 1,
            "last_index": wal.state.last_index,
            "log_entries": len(wal.state.terms),
            "snapshot_index": snapshot.index,
            "snapshot_term": snapshot.term,
            "applied_index": applied.index,
            "applied_term": applied.term,
            "map_size": info["map_size"],
            "used_bytes": (info["last_pgno"] + 1) * page_size,
            "map_growths": state_stats.map_growths,
            "map_full_retries": state_stats.retries,
            "fsyncs": wal.fsyncs,  # of the log: one per Ready that persists something
            "commit_latency_last_ms": wal.last_sync_s * 1000.0,
            "commit_latency_mean_ms": wal.total_sync_s / wal.fsyncs * 1000.0 if wal.fsyncs else 0.0,
            "state_commits": state_stats.commits,
            "state_commit_latency_mean_ms": state_stats.mean_latency_s * 1000.0,
            # Disk health (docs/operations.md): every log fsync and every state commit.
            "log_fsync_seconds": wal.sync_latency.describe(),
            "state_commit_seconds": state_stats.latency.describe(),
            **{f"wal_{key}": value for key, value in wal.statistics().items()},
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

    def _log(self) -> WriteAheadLog:
        self._check_open()
        assert self._wal is not None, "NodeStore.open claims the folder before use"
        return self._wal

    def _flush_state(self) -> None:
        """Make every committed state transaction durable (they skip the meta-page sync)."""
        try:
            self._env.sync(True)
        except lmdb.Error as exc:
            raise StorageError(f"cannot flush the state environment: {exc}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"the store in {self.path} is closed")

    def _claim(self, identity: dict[str, str | int], wal_segment_bytes: int) -> None:
        with self._reading() as txn:
            stored = state_env.get_identity(txn, self._dbs.meta)
            stored_format = state_env.get_format(txn, self._dbs.meta)
        if stored is None:
            self._state_writer.run(lambda txn: _record_identity(txn, self._dbs, identity))
            self._wal = WriteAheadLog(self.path / WAL_DIR, wal_segment_bytes)
            sync_directory(self.path)
            return
        check_identity(self.path, stored, identity)
        if stored_format != state_env.FORMAT_VERSION:
            raise StorageError(
                f"data_dir {self.path} holds store format {stored_format}, made by an "
                f"older build; this version reads format {state_env.FORMAT_VERSION} "
                "only (start the node on an empty data_dir: it catches up from its group)"
            )
        self._wal = WriteAheadLog(self.path / WAL_DIR, wal_segment_bytes)

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
            metasync=False,  # see the module's docstring
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
    state_env.put_format(txn, dbs.meta)
    state_env.put_identity(txn, dbs.meta, identity)


def stored_identity(data_dir: str | os.PathLike[str]) -> dict[str, str | int] | None:
    """The identity recorded in `data_dir`'s store, None when it holds none (yet): how a
    node that joined a group finds, after a restart, the id the group gave it. Reads
    only; call it before the store is opened in this process."""
    path = Path(data_dir)
    if not (path / DATA_FILE).exists():
        return None
    try:
        env = lmdb.open(str(path), subdir=True, readonly=True, max_dbs=MAX_DBS, lock=False)
    except lmdb.Error:
        return None
    try:
        with env.begin() as txn:
            meta = env.open_db(META_DB, txn=txn, create=False)
            return state_env.get_identity(txn, meta)
    except lmdb.Error:
        return None
    finally:
        env.close()

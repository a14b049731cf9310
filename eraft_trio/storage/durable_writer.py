"""Runs write transactions one at a time, each with one durable commit, growing a full map,
and the gate that lets it remap only while no read transaction is in use.
"""

from __future__ import annotations

import errno
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import lmdb

from .disk_faults import DISK_FAULTS
from .errors import StorageError, StorageFullError
from .latency_histogram import LatencyHistogram


class LongReader(Protocol):
    """A read transaction held open between uses (a snapshot being streamed)."""

    def invalidate(self) -> None:
        """Abort the transaction; called with the gate held and the reader not in use."""
        ...


class MapGate:
    """Counts read transactions in use, so that `remap` can wait for none.

    LMDB's set_mapsize replaces the memory map under every open transaction. Short
    readers (a read_view, one snapshot chunk) are counted while in use and remap waits
    for them; readers never wait for a pending remap, so a thread that nests read views
    cannot deadlock. Long readers (snapshot streams, idle between chunks) are not waited
    for: remap invalidates them, because a write must not stall behind a follower's slow
    download, and Raft retries a failed snapshot transfer anyway.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_use = 0
        self._long_readers: set[LongReader] = set()

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._changed:
            self._in_use += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= 1
                if self._in_use == 0:
                    self._changed.notify_all()

    def add_long_reader(self, reader: LongReader) -> None:
        with self._changed:
            self._long_readers.add(reader)

    def discard_long_reader(self, reader: LongReader) -> None:
        with self._changed:
            self._long_readers.discard(reader)

    def remap(self, change: Callable[[], None]) -> None:
        """Run `change` (a set_mapsize, or closing the environment) once no read is in use."""
        with self._changed:
            self._changed.wait_for(lambda: self._in_use == 0)
            self._invalidate_long_readers_locked()
            change()

    def _invalidate_long_readers_locked(self) -> None:
        for reader in list(self._long_readers):
            reader.invalidate()
        self._long_readers.clear()


T = TypeVar("T")

# Grow before a write once the map's high-water mark passes this fraction, so big
# batches rarely fill the map mid-transaction and have to be run again.
GROW_AHEAD_FRACTION = 0.5
# Below this much free space, a failed write is reported as a full disk: LMDB turns a
# write cut short by ENOSPC into EIO, so the errno alone does not tell.
DISK_FULL_MARGIN = 1 << 20


@dataclass(slots=True)
class CommitStats:
    """Durable commits (each waits for LMDB's data and meta page flush) and their latency."""

    commits: int = 0
    map_growths: int = 0
    retries: int = 0  # transactions aborted on a full map and run again
    last_latency_s: float = 0.0
    total_latency_s: float = 0.0

    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def record(self, latency_s: float) -> None:
        self.latency.record(latency_s)
        self.commits += 1
        self.last_latency_s = latency_s
        self.total_latency_s += latency_s

    @property
    def mean_latency_s(self) -> float:
        return self.total_latency_s / self.commits if self.commits else 0.0


class DurableWriter:
    """The only way the store writes: `run(body)` is one LMDB write transaction.

    The map is doubled ahead of need once half of it is in use. A body may still be run
    more than once: when the map fills anyway, the transaction is aborted, the map
    doubled and the body run again from the start, so bodies must depend only on what
    they read in their transaction.
    """

    def __init__(self, env: lmdb.Environment, gate: MapGate, max_map_size: int) -> None:
        self._env = env
        self._gate = gate
        self._max_map_size = max_map_size
        # Serialises writers and keeps set_mapsize away from any open write transaction.
        self._lock = threading.Lock()
        self._closed = False
        self._page_size = env.stat()["psize"]
        self._path = Path(env.path())
        self.stats = CommitStats()

    def run(self, body: Callable[[lmdb.Transaction[bytes]], T]) -> T:
        with self._lock:
            if self._closed:
                raise StorageError("the store is closed")
            self._grow_ahead()
            while True:
                try:
                    return self._run_once(body)
                except lmdb.MapFullError:
                    self.stats.retries += 1
                    self._grow()

    def close(self, release: Callable[[], None]) -> None:
        """Wait for the write in progress, then run `release` with writes refused from now on."""
        with self._lock:
            if not self._closed:
                self._closed = True
                release()

    def _run_once(self, body: Callable[[lmdb.Transaction[bytes]], T]) -> T:
        try:
            txn = self._env.begin(write=True)
        except lmdb.Error as exc:
            raise StorageError(f"cannot begin an LMDB write transaction: {exc}") from exc
        try:
            result = body(txn)
            started = time.perf_counter()
            DISK_FAULTS.before_sync(self._path)
            self._commit(txn)
            self.stats.record(time.perf_counter() - started)
            return result
        except lmdb.MapFullError:
            txn.abort()
            raise
        except (lmdb.Error, OSError) as exc:
            txn.abort()
            raise self._failure(exc) from exc
        except BaseException:
            # The body's own failure (a state machine bug, an invalid batch): roll back and
            # let it through unchanged. Aborting an already finished txn is a no-op.
            txn.abort()
            raise

    def _failure(self, exc: lmdb.Error | OSError) -> StorageError:
        free = _free_bytes(self._env.path())
        if (
            isinstance(exc, lmdb.DiskError)
            or getattr(exc, "errno", None) == errno.ENOSPC
            or (free is not None and free < DISK_FULL_MARGIN)
        ):
            return StorageFullError(
                f"the disk is full ({free} bytes free); the write was not stored: {exc}"
            )
        return StorageError(f"LMDB write failed and was rolled back: {exc}")

    def _commit(self, txn: lmdb.Transaction[bytes]) -> None:
        txn.commit()

    def _grow_ahead(self) -> None:
        info = self._env.info()
        used = (info["last_pgno"] + 1) * self._page_size
        if used > info["map_size"] * GROW_AHEAD_FRACTION and info["map_size"] < self._max_map_size:
            self._grow()

    def _grow(self) -> None:
        current = self._env.info()["map_size"]
        if current >= self._max_map_size:
            raise StorageFullError(
                f"the LMDB map is full at its maximum size of {current} bytes; "
                "the write was not stored"
            )
        new_size = min(current * 2, self._max_map_size)
        try:
            self._gate.remap(lambda: self._env.set_mapsize(new_size))
        except lmdb.Error as exc:
            raise StorageError(f"cannot grow the LMDB map to {new_size} bytes: {exc}") from exc
        self.stats.map_growths += 1


def _free_bytes(path: str) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None

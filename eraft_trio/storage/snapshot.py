"""Snapshots as streams: a reader over one read transaction, a stager that receives chunks,
and the wire form of a chunk (msgpack of a list of [key, value] rows of the `sm` sub-db).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator, Sequence
from types import TracebackType

import lmdb
import msgpack

from eraft_trio.raft.types import SnapshotMeta

from . import state_env
from .durable_writer import DurableWriter, MapGate
from .errors import SnapshotError, StorageError
from .state_env import SubDbs

# msgpack framing per row (array header, two bin headers) and per chunk (array header),
# counted so a chunk stays within its byte budget.
ROW_OVERHEAD = 11
CHUNK_OVERHEAD = 5


def row_size(key: bytes, value: bytes) -> int:
    return len(key) + len(value) + ROW_OVERHEAD


def encode_chunk(rows: Sequence[tuple[bytes, bytes]]) -> bytes:
    packed: bytes = msgpack.packb([[key, value] for key, value in rows], use_bin_type=True)
    return packed


def decode_chunk(chunk: bytes) -> list[tuple[bytes, bytes]]:
    """Rows of a chunk; SnapshotError when it is not a list of [bytes, bytes] pairs."""
    try:
        decoded = msgpack.unpackb(chunk, raw=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise SnapshotError(f"snapshot chunk is not valid msgpack: {exc}") from exc
    if not isinstance(decoded, list):
        raise SnapshotError(f"snapshot chunk is a {type(decoded).__name__}, not a list of rows")
    rows: list[tuple[bytes, bytes]] = []
    for number, row in enumerate(decoded):
        if (
            not isinstance(row, list)
            or len(row) != 2
            or not isinstance(row[0], bytes)
            or not isinstance(row[1], bytes)
            or not row[0]
        ):
            raise SnapshotError(f"snapshot chunk row {number} is not a [key, value] pair of bytes")
        rows.append((row[0], row[1]))
    return rows


class SnapshotReader:
    """Every row of the state machine as of one read transaction, in chunks of about
    `chunk_bytes` (a single larger row makes a chunk of its own).

    `meta` is the applied position the rows describe; `rows_read` and `checksum` (the
    CRC-32 of every chunk so far, in order) are what a receiver's stager must end up
    with. One consumer at a time; it may call `next_chunk` from any thread. If the store's map has to grow (or the store
    closes) meanwhile, the reader is invalidated and the next call raises SnapshotError:
    open a new one.
    """

    def __init__(self, env: lmdb.Environment, gate: MapGate, dbs: SubDbs, chunk_bytes: int) -> None:
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be positive, not {chunk_bytes}")
        self._gate = gate
        self._chunk_bytes = chunk_bytes
        self._invalidated = False
        self._closed = False
        self._lock = threading.Lock()
        self.rows_read = 0
        self.bytes_read = 0
        self.checksum = 0
        with gate.reading():
            try:
                txn = env.begin()
            except lmdb.Error as exc:
                raise StorageError(f"cannot open a snapshot read transaction: {exc}") from exc
            try:
                applied = state_env.get_applied(txn, dbs.meta)
                self._cursor = txn.cursor(db=dbs.sm)
                self._has_row = self._cursor.first()
            except BaseException:
                txn.abort()
                raise
            self._txn: lmdb.Transaction[bytes] | None = txn
            self._meta = applied
            # Registered while still counted as in use, so no remap can slip in between.
            gate.add_long_reader(self)

    @property
    def meta(self) -> SnapshotMeta:
        return self._meta

    def next_chunk(self) -> bytes | None:
        """The next chunk, or None once every row has been read."""
        with self._gate.reading(), self._lock:
            if self._invalidated:
                raise SnapshotError(
                    "snapshot reader was invalidated (the map grew or the store closed); "
                    "open a new snapshot"
                )
            if self._closed:
                raise SnapshotError("snapshot reader is closed")
            return self._read_chunk()

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self.next_chunk()) is not None:
            yield chunk

    def close(self) -> None:
        with self._gate.reading(), self._lock:
            self._closed = True
            self._release()
        self._gate.discard_long_reader(self)

    def invalidate(self) -> None:
        with self._lock:
            self._invalidated = True
            self._release()

    def __enter__(self) -> SnapshotReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _read_chunk(self) -> bytes | None:
        rows: list[tuple[bytes, bytes]] = []
        size = CHUNK_OVERHEAD
        while self._has_row:
            key, value = self._cursor.item()
            size_of_row = row_size(key, value)
            if rows and size + size_of_row > self._chunk_bytes:
                break
            rows.append((key, value))
            size += size_of_row
            self._has_row = self._cursor.next()
        if not rows:
            self._release()
            return None
        chunk = encode_chunk(rows)
        self.rows_read += len(rows)
        self.bytes_read += len(chunk)
        self.checksum = zlib.crc32(chunk, self.checksum)
        return chunk

    def _release(self) -> None:
        if self._txn is not None:
            self._txn.abort()
            self._txn = None
            self._has_row = False


class SnapshotStager:
    """Receives a snapshot's chunks into the `staging` sub-db, one small transaction each.

    Beginning a new staging clears the area and makes every older stager stale, so a
    late chunk of an abandoned transfer can never mix into a newer one. `rows_staged`
    and `checksum` count what was staged as a SnapshotReader counts what it read, so
    the receiver can tell a complete transfer from a partial one. Installing is
    NodeStore.install_snapshot(meta), then write_log(LogWrite(reset_to=meta)).
    """

    def __init__(self, writer: DurableWriter, dbs: SubDbs, meta: SnapshotMeta) -> None:
        self._writer = writer
        self._dbs = dbs
        self._meta = meta
        self.rows_staged = 0
        self.bytes_staged = 0
        self.checksum = 0
        self._generation = writer.run(self._begin)

    @property
    def meta(self) -> SnapshotMeta:
        return self._meta

    def add_chunk(self, chunk: bytes) -> int:
        """Durably stage the rows of one chunk; returns how many rows it held."""
        rows = decode_chunk(chunk)

        def stage(txn: lmdb.Transaction[bytes]) -> None:
            if not self._owns_staging(txn):
                raise SnapshotError(
                    f"staging of snapshot {self._meta} was superseded or installed; "
                    "begin a new staging"
                )
            for key, value in rows:
                txn.put(key, value, db=self._dbs.staging)

        self._writer.run(stage)
        self.rows_staged += len(rows)
        self.bytes_staged += len(chunk)
        self.checksum = zlib.crc32(chunk, self.checksum)
        return len(rows)

    def discard(self) -> None:
        """Empty the staging area, unless a newer stager (or an install) owns it by now.

        Afterwards `meta` cannot be installed: a refused transfer leaves nothing behind.
        """

        def drop(txn: lmdb.Transaction[bytes]) -> None:
            if self._owns_staging(txn):
                txn.drop(self._dbs.staging, delete=False)
                state_env.delete_staging(txn, self._dbs.meta)

        self._writer.run(drop)

    def _owns_staging(self, txn: lmdb.Transaction[bytes]) -> bool:
        marker = state_env.get_staging(txn, self._dbs.meta)
        # The marker keeps the position only (the membership travels with the meta).
        return (
            marker is not None
            and marker.generation == self._generation
            and (marker.meta.index, marker.meta.term) == (self._meta.index, self._meta.term)
        )

    def _begin(self, txn: lmdb.Transaction[bytes]) -> int:
        txn.drop(self._dbs.staging, delete=False)
        generation = state_env.next_staging_generation(txn, self._dbs.meta)
        state_env.put_staging(txn, self._dbs.meta, state_env.StagingMarker(self._meta, generation))
        return generation

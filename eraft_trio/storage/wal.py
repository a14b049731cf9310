"""The Raft log and hard state as an append-only write-ahead log: one fdatasync per write.

An LMDB durable commit flushes twice (its data pages, then its meta page) and
rewrites B-tree pages; appending a record to a file and calling fdatasync once is
what etcd's WAL does, and on the machine of BENCHMARKS.md it costs about a fifth.
The node never reads old entries back from disk (the core keeps every entry after
the last compaction in memory), so the log only has to be appended and replayed.

On disk: `raft-wal/<16 hex digits>.wal` segments, numbered in order. A record is
a header (4-byte length, 4-byte CRC-32 of the body, both big-endian) and a msgpack
body `[kind, ...]`:

    ENTRIES     [1, first index, [[term, kind, data], ...]]  replaces the log from there
    HARD_STATE  [2, term, vote, commit]
    BASE        [3, index, term]    entries up to here are compacted: drop them
    RESET       [4, index, term]    a snapshot was installed: drop every entry
    CHECKPOINT  [5, base index, base term, term, vote, commit, [[term, kind, data], ...]]
                everything live, the first record of every segment

One segment is live at a time. Once it passes SEGMENT_BYTES, the next write starts a
new segment with one CHECKPOINT record of the whole live state (after compaction, a
few thousand entries at most), then the old segment is deleted; a crash in between
leaves two, and replay reads both in order. Replay stops at the first record that is
cut short, fails its CRC or has length 0: only the newest segment may end that way,
because a write is acknowledged only after its fdatasync. After such a torn tail, or
with more than one segment, the node starts a fresh segment, never writing over a tear.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from eraft_trio.raft.types import Entry, EntryKind, HardState, SnapshotMeta

from .data_dir import sync_directory
from .errors import InvalidBatchError, StorageError, StorageFullError

ENTRIES, HARD_STATE, BASE, RESET, CHECKPOINT = 1, 2, 3, 4, 5
HEADER = struct.Struct(">II")
SEGMENT_BYTES = 64 << 20  # a new segment once the current one is this large
SUFFIX = ".wal"


@dataclass
class WalState:
    """What the log holds: the compacted position, the hard state and the entries after it."""

    base: SnapshotMeta = field(default_factory=SnapshotMeta)
    hard_state: HardState = field(default_factory=HardState)
    entries: list[Entry] = field(default_factory=list)

    @property
    def last_index(self) -> int:
        return self.entries[-1].index if self.entries else self.base.index

    def term_at(self, index: int) -> int | None:
        if index == self.base.index:
            return self.base.term
        offset = index - self.base.index - 1
        if 0 <= offset < len(self.entries):
            return self.entries[offset].term
        return None

    def apply(self, body: list[Any]) -> None:
        kind = body[0]
        if kind == ENTRIES:
            first = body[1]
            del self.entries[max(0, first - self.base.index - 1) :]
            self.entries.extend(_entries(first, body[2]))
        elif kind == HARD_STATE:
            self.hard_state = HardState(term=body[1], vote=body[2], commit=body[3])
        elif kind == BASE:
            index = body[1]
            del self.entries[: max(0, index - self.base.index)]
            self.base = SnapshotMeta(index=index, term=body[2])
        elif kind == RESET:
            self.entries.clear()
            self.base = SnapshotMeta(index=body[1], term=body[2])
        elif kind == CHECKPOINT:
            base = self.base = SnapshotMeta(index=body[1], term=body[2])
            self.hard_state = HardState(term=body[3], vote=body[4], commit=body[5])
            self.entries = _entries(base.index + 1, body[6])
        else:
            raise StorageError(f"unknown write-ahead log record kind {kind}")


def _rows(entries: Sequence[Entry]) -> list[list[Any]]:
    return [[e.term, int(e.kind), e.data] for e in entries]


def _entries(first: int, rows: list[list[Any]]) -> list[Entry]:
    return [
        Entry(term=t, index=first + i, data=d, kind=EntryKind(k))
        for i, (t, k, d) in enumerate(rows)
    ]


def encode_record(body: list[Any]) -> bytes:
    payload: bytes = msgpack.packb(body, use_bin_type=True)
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


class WriteAheadLog:
    """The log of one node. Not thread-safe: one writer thread at a time."""

    def __init__(self, folder: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.folder = folder
        self.segment_bytes = segment_bytes
        self.state = WalState()
        self.fsyncs = 0
        self.total_sync_s = 0.0
        self.last_sync_s = 0.0
        self._segment: Path | None = None
        self._needs_new_segment = False
        self._fd: int | None = None
        self._offset = 0
        folder.mkdir(parents=True, exist_ok=True)
        paths = sorted(p for p in folder.iterdir() if p.suffix == SUFFIX)
        torn = self._replay(paths)
        if torn or len(paths) != 1:
            self._start_segment(paths)
        else:
            self._segment = paths[0]
            self._fd = os.open(paths[0], os.O_RDWR)

    # --- writing ------------------------------------------------------------------------

    def write(
        self,
        *,
        reset_to: SnapshotMeta | None = None,
        entries: Sequence[Entry] = (),
        hard_state: HardState | None = None,
        compact_to: SnapshotMeta | None = None,
        durable_applied: int = 0,
    ) -> None:
        """Check, append and fdatasync the records of one write; nothing on a refusal."""
        bodies: list[list[Any]] = []
        state = self.state
        base = state.base if reset_to is None else reset_to
        last = state.last_index if reset_to is None else reset_to.index
        if reset_to is not None:
            bodies.append([RESET, reset_to.index, reset_to.term])
        if entries:
            first = entries[0].index
            if first > last + 1:
                raise InvalidBatchError(
                    f"entries start at {first}, leaving a gap after the last entry {last}"
                )
            if first <= base.index:
                raise InvalidBatchError(
                    f"entries start at {first}, replacing compacted entries (up to {base.index})"
                )
            bodies.append([ENTRIES, first, _rows(entries)])
        if hard_state is not None:
            bodies.append([HARD_STATE, hard_state.term, hard_state.vote, hard_state.commit])
        if compact_to is not None and compact_to.index > base.index:
            if compact_to.index > durable_applied:
                raise InvalidBatchError(
                    f"cannot compact to {compact_to.index}: only {durable_applied} is durably "
                    "applied, and the state must hold every compacted entry"
                )
            stored_term = self._term_after(reset_to, entries, compact_to.index)
            if stored_term != compact_to.term:
                raise InvalidBatchError(
                    f"compaction term {compact_to.term} differs from the term {stored_term} "
                    f"of entry {compact_to.index}"
                )
            bodies.append([BASE, compact_to.index, compact_to.term])
        if not bodies:
            return
        if self._needs_new_segment:
            assert self._segment is not None
            self._start_segment([self._segment])
        self._append(b"".join(encode_record(body) for body in bodies))
        for body in bodies:
            state.apply(body)
        if self._offset >= self.segment_bytes:
            assert self._segment is not None
            # The write above is durable whatever happens here: a segment that cannot
            # be started now (a full disk) is tried again after the next write.
            with contextlib.suppress(StorageError):
                self._start_segment([self._segment])

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def statistics(self) -> dict[str, Any]:
        return {
            "segment": self._segment.name if self._segment else None,
            "segment_bytes": self._offset,
        }

    # --- internals ------------------------------------------------------------------------

    def _term_after(
        self, reset_to: SnapshotMeta | None, entries: Sequence[Entry], index: int
    ) -> int | None:
        """The term of entry `index` once this write's reset and entries are in."""
        if entries and index >= entries[0].index:
            offset = index - entries[0].index
            return entries[offset].term if offset < len(entries) else None
        if reset_to is not None:
            return reset_to.term if index == reset_to.index else None
        return self.state.term_at(index)

    def _append(self, data: bytes) -> None:
        assert self._fd is not None and self._segment is not None
        try:
            _pwrite_all(self._fd, data, self._offset)
            started = time.perf_counter()
            os.fdatasync(self._fd)
            self.last_sync_s = time.perf_counter() - started
        except OSError as exc:
            # The record may be partly on disk, and after a failed fdatasync the kernel
            # may have dropped pages it never wrote: the file cannot be trusted. Go on
            # in a new segment written from memory (now, or before the next write).
            self._needs_new_segment = True
            with contextlib.suppress(StorageError):
                self._start_segment([self._segment])
            raise _storage_error(exc, "write-ahead log write failed; nothing was stored") from exc
        self.fsyncs += 1
        self.total_sync_s += self.last_sync_s
        self._offset += len(data)

    def _start_segment(self, old: list[Path]) -> None:
        """A new segment holding the whole live state in one record; then drop `old`."""
        number = int(old[-1].stem, 16) + 1 if old else 0
        path = self.folder / f"{number:016x}{SUFFIX}"
        state = self.state
        hs = state.hard_state
        data = encode_record(
            [
                CHECKPOINT,
                state.base.index,
                state.base.term,
                hs.term,
                hs.vote,
                hs.commit,
                _rows(state.entries),
            ]
        )
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise _storage_error(exc, f"cannot start write-ahead log segment {path}") from exc
        try:
            _pwrite_all(fd, data, 0)
            os.fdatasync(fd)
            sync_directory(self.folder)
        except OSError as exc:
            os.close(fd)
            # Writes go on in the current segment: a checkpoint after it would undo them.
            with contextlib.suppress(OSError):
                path.unlink()
                sync_directory(self.folder)
            raise _storage_error(exc, f"cannot start write-ahead log segment {path}") from exc
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._segment, self._offset = fd, path, len(data)
        self._needs_new_segment = False
        for stale in old:
            stale.unlink(missing_ok=True)
        sync_directory(self.folder)

    def _replay(self, paths: list[Path]) -> bool:
        """Read the segments into `state`; True when the newest ends in a torn record."""
        torn = False
        for position, path in enumerate(paths):
            offset, torn = self._replay_segment(path.read_bytes())
            self._offset = offset
            if torn and position != len(paths) - 1:
                raise StorageError(
                    f"write-ahead log segment {path.name} is damaged at byte {offset} "
                    "and is not the newest: entries after it would be lost"
                )
        return torn

    def _replay_segment(self, data: bytes) -> tuple[int, bool]:
        """Apply the segment's records; (end of the last good record, whether torn)."""
        offset = 0
        while offset + HEADER.size <= len(data):
            length, crc = HEADER.unpack_from(data, offset)
            if length == 0:
                return offset, False  # zeroes after the last record
            start = offset + HEADER.size
            payload = data[start : start + length]
            if len(payload) < length or zlib.crc32(payload) != crc:
                return offset, True
            self.state.apply(msgpack.unpackb(payload, raw=False, use_list=True))
            offset = start + length
        return offset, offset < len(data)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """pwrite may store only part (a disk filling up): go on until all is written or it fails."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if written == 0:
            raise OSError(errno.ENOSPC, "no space left on device")
        view = view[written:]
        offset += written


def _storage_error(exc: OSError, what: str) -> StorageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFullError(f"the disk is full: {what}: {exc}")
    return StorageError(f"{what}: {exc}")

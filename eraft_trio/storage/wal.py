"""The Raft log and hard state as an append-only write-ahead log: one fdatasync per write.

An LMDB durable commit flushes twice (its data pages, then its meta page) and
rewrites B-tree pages; appending a record to a file and calling fdatasync once is
what etcd's WAL does, and on the machine of BENCHMARKS.md it costs about a fifth.
The log is written here and read back only when the node starts: the core keeps the
entries after its last compaction in memory, and the driver compacts by entries and
by bytes, so what a restart reads is bounded whatever the data size.

On disk: `raft-wal/<16 hex digits>.wal` segments, numbered in order, each
preallocated to SEGMENT_BYTES so that an fdatasync after an append does not also
have to journal a new file size. A record is a header (4-byte length, 4-byte CRC-32
of the body, both big-endian) and a msgpack body `[kind, ...]`:

    ENTRIES     [1, first index, [[term, kind, data], ...]]  replaces the log from there
    HARD_STATE  [2, term, vote, commit]
    BASE        [3, index, term, membership]  entries up to here are compacted: drop them
    RESET       [4, index, term, membership]  a snapshot was installed: drop every entry
    CHECKPOINT  [5, ...]            read only: the first record of an older format
    START       [6, previous segment's end, base index, base term, term, vote, commit,
                 base membership]   the first record of every segment

`membership` is the group's membership at that index (Membership.encode), or nil while
it is the one the group was started with; records written before memberships could
change end before it, and read as nil.

A segment is never rewritten. Once the live one is full, the next write goes to a new
segment opened by a START record: the position where the previous segment's good
records end, the compacted position and the hard state, but no entries, so starting
a segment costs the same whatever the log holds. A segment is deleted, oldest first,
once every entry it holds is compacted; the START of the segment after it (or a later
BASE) then says where the log begins, so replay accepts a gap before the compacted
position and refuses one after it.

Replay reads each segment up to where the next segment's START says it ended, and the
newest up to its first record that is cut short or fails its CRC, or to a zero length
followed only by zeros (the preallocated tail). A zero length with anything else after
it is a tear, not an end: a write that reached later pages but not its first. A
segment with a tear, or one whose write failed, is never written again: the node goes
on in a new segment whose START records where the good records ended.
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

from eraft_trio.raft.membership import Membership
from eraft_trio.raft.types import Entry, EntryKind, HardState, SnapshotMeta

from .data_dir import sync_directory
from .disk_faults import DISK_FAULTS
from .errors import InvalidBatchError, StorageError, StorageFullError
from .latency_histogram import LatencyHistogram

ENTRIES, HARD_STATE, BASE, RESET, CHECKPOINT, START = 1, 2, 3, 4, 5, 6
HEADER = struct.Struct(">II")
SEGMENT_BYTES = 32 << 20  # preallocated size of a segment; a larger record grows its file
# The bounds of [raft] wal_segment_bytes: below 64 KiB most records would start a segment
# (a file, an fsync of the folder); above 1 GiB a new node costs that much disk at once.
MIN_SEGMENT_BYTES = 64 << 10
MAX_SEGMENT_BYTES = 1 << 30
SUFFIX = ".wal"
UNKNOWN_TERM = -1  # a base position whose term replay has not read yet (a deleted segment's)


@dataclass
class WalState:
    """The log's live position: its compacted base, hard state and the term of every entry.

    Entries themselves are kept only as replay read them (`entries`, for the core to
    load once); after that the log holds just their terms, which its checks need.
    """

    base: SnapshotMeta = field(default_factory=SnapshotMeta)
    hard_state: HardState = field(default_factory=HardState)
    terms: list[int] = field(default_factory=list)
    entries: list[Entry] | None = None  # while replaying, and until taken

    @property
    def last_index(self) -> int:
        return self.base.index + len(self.terms)

    def term_at(self, index: int) -> int | None:
        if index == self.base.index:
            return None if self.base.term == UNKNOWN_TERM else self.base.term
        offset = index - self.base.index - 1
        if 0 <= offset < len(self.terms):
            return self.terms[offset]
        return None

    def apply(self, body: list[Any]) -> None:
        kind = body[0]
        if kind == ENTRIES:
            self._put_entries(body[1], body[2])
        elif kind == HARD_STATE:
            self.hard_state = HardState(term=body[1], vote=body[2], commit=body[3])
        elif kind == BASE:
            index = body[1]
            # A BASE behind the base is one that replay passed already by a gap.
            if index >= self.base.index:
                self._drop_front(index - self.base.index)
                self.base = _position(index, body[2], body[3:4])
        elif kind == RESET:
            self._drop_front(len(self.terms))
            self.base = _position(body[1], body[2], body[3:4])
        elif kind == CHECKPOINT:
            self.base = SnapshotMeta(index=body[1], term=body[2])
            self.hard_state = HardState(term=body[3], vote=body[4], commit=body[5])
            self._drop_front(len(self.terms))
            self._put_entries(self.base.index + 1, body[6])
        elif kind == START:
            pass  # read by the replay itself (see _Replay)
        else:
            raise StorageError(f"unknown write-ahead log record kind {kind}")

    def _put_entries(self, first: int, rows: list[list[Any]]) -> None:
        if first > self.last_index + 1:
            # Only replay meets a gap: the entries before `first` were in a deleted
            # segment, all compacted. A later BASE or RESET (written before that
            # deletion) gives the real base; replay refuses if none does.
            self.terms.clear()
            if self.entries is not None:
                self.entries.clear()
            self.base = SnapshotMeta(index=first - 1, term=UNKNOWN_TERM)
        keep = max(0, first - self.base.index - 1)
        del self.terms[keep:]
        self.terms.extend(row[0] for row in rows)
        if self.entries is not None:
            del self.entries[keep:]
            self.entries.extend(_entries(first, rows))

    def _drop_front(self, count: int) -> None:
        del self.terms[:count]
        if self.entries is not None:
            del self.entries[:count]


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


@dataclass
class _Segment:
    path: Path
    number: int
    max_index: int = 0  # the highest entry index it holds that may still be live


class WriteAheadLog:
    """The log of one node. Not thread-safe: one writer thread at a time."""

    def __init__(self, folder: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.folder = folder
        self.segment_bytes = segment_bytes
        self.state = WalState(entries=[])
        self.fsyncs = 0
        self.total_sync_s = 0.0
        self.last_sync_s = 0.0
        self.sync_latency = LatencyHistogram()  # of each write's fdatasync
        self.segments_started = 0
        self.segments_deleted = 0
        self._segments: list[_Segment] = []
        self._needs_new_segment = False
        self._fd: int | None = None
        self._offset = 0
        self._start_size = 0
        folder.mkdir(parents=True, exist_ok=True)
        if self._replay():
            self._start_segment()
        else:
            self._fd = os.open(self._segments[-1].path, os.O_RDWR)

    def take_entries(self) -> list[Entry]:
        """The live entries as replay read them, once (the core keeps them from then on)."""
        entries = self.state.entries
        if entries is None:
            raise StorageError("the write-ahead log's entries were handed out already")
        self.state.entries = None
        return entries

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
            bodies.append([RESET, reset_to.index, reset_to.term, _encoded(reset_to)])
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
            bodies.append([BASE, compact_to.index, compact_to.term, _encoded(compact_to)])
        if not bodies:
            return
        data = b"".join(encode_record(body) for body in bodies)
        if self._needs_new_segment or (
            self._offset + len(data) > self.segment_bytes and self._has_records()
        ):
            self._start_segment()
        self._append(data)
        for body in bodies:
            state.apply(body)
        self._track(reset_to, entries)
        self._delete_compacted_segments()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def statistics(self) -> dict[str, Any]:
        return {
            "segment": self._segments[-1].path.name if self._segments else None,
            "segment_bytes": self._offset,
            "segments": len(self._segments),
            "segments_started": self.segments_started,
            "segments_deleted": self.segments_deleted,
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

    def _has_records(self) -> bool:
        """Whether the live segment holds more than its START (a record that fills a
        segment alone is written into a fresh one, growing it, not split)."""
        return self._offset > self._start_size

    def _track(self, reset_to: SnapshotMeta | None, entries: Sequence[Entry]) -> None:
        """Remember which segments still hold live entries."""
        if reset_to is not None:
            # Every entry before the reset is gone, wherever it was written.
            for segment in self._segments:
                segment.max_index = min(segment.max_index, reset_to.index)
        if entries:
            live = self._segments[-1]
            live.max_index = max(live.max_index, entries[-1].index)

    def _delete_compacted_segments(self) -> None:
        """Delete, oldest first, the segments before the live one that hold only compacted
        entries; what the log starts with is in a later segment's START or BASE."""
        base = self.state.base.index
        deleted = False
        while len(self._segments) > 1 and self._segments[0].max_index <= base:
            self._segments.pop(0).path.unlink(missing_ok=True)
            self.segments_deleted += 1
            deleted = True
        if deleted:
            # Durable before any later deletion, so a crash leaves a suffix of segments.
            with contextlib.suppress(OSError):
                sync_directory(self.folder)

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        try:
            _pwrite_all(self._fd, data, self._offset)
            started = time.perf_counter()
            DISK_FAULTS.before_sync(self.folder.parent)
            os.fdatasync(self._fd)
            self.last_sync_s = time.perf_counter() - started
        except OSError as exc:
            # The record may be partly on disk, and after a failed fdatasync the kernel
            # may have dropped pages it never wrote: the segment cannot be trusted past
            # its last good record. Go on in a new segment that says so.
            self._needs_new_segment = True
            with contextlib.suppress(StorageError):
                self._start_segment()
            raise _storage_error(exc, "write-ahead log write failed; nothing was stored") from exc
        self.fsyncs += 1
        self.total_sync_s += self.last_sync_s
        self.sync_latency.record(self.last_sync_s)
        self._offset += len(data)

    def _start_segment(self) -> None:
        """A new preallocated segment opened by a START record; the old one is kept whole."""
        number = self._segments[-1].number + 1 if self._segments else 0
        path = self.folder / f"{number:016x}{SUFFIX}"
        state = self.state
        hs = state.hard_state
        base = state.base
        start = encode_record(
            [
                START,
                self._offset,
                base.index,
                base.term,
                hs.term,
                hs.vote,
                hs.commit,
                _encoded(base),
            ]
        )
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise _storage_error(exc, f"cannot start write-ahead log segment {path}") from exc
        try:
            _preallocate(fd, self.segment_bytes)
            _pwrite_all(fd, start, 0)
            os.fsync(fd)  # the preallocated size too
            sync_directory(self.folder)
        except OSError as exc:
            os.close(fd)
            # Writes go on in the current segment (or wait, after a failed write).
            with contextlib.suppress(OSError):
                path.unlink()
                sync_directory(self.folder)
            raise _storage_error(exc, f"cannot start write-ahead log segment {path}") from exc
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._offset, self._start_size = fd, len(start), len(start)
        self._segments.append(_Segment(path, number))
        self._needs_new_segment = False
        self.segments_started += 1

    def _replay(self) -> bool:
        """Read the segments into `state`; True when writing must go on in a new segment."""
        paths = sorted(p for p in self.folder.iterdir() if p.suffix == SUFFIX)
        segments = [(path, path.read_bytes()) for path in paths]
        # A newest segment without a whole START was being created when the node
        # stopped: nothing was ever written to it.
        while segments and _start_of(segments[-1][1]) is None:
            segments.pop()[0].unlink()
        if not segments:
            return True
        replay = _Replay(segments)
        self.state, self._segments, self._offset = replay.state, replay.segments, replay.offset
        first = segments[-1][1]
        self._start_size = HEADER.size + HEADER.unpack_from(first, 0)[0]
        return replay.torn

    def read_entries(self) -> list[Entry]:
        """The live entries read back from the segments (for tools and tests: a node
        takes them once, with take_entries)."""
        segments = [(s.path, s.path.read_bytes()) for s in self._segments]
        entries = _Replay(segments).state.entries
        assert entries is not None
        return entries


class _Replay:
    """Reads segments (oldest first, each a path and its bytes) into a WalState."""

    def __init__(self, segments: list[tuple[Path, bytes]]) -> None:
        self.state = WalState(entries=[])
        self.segments: list[_Segment] = []
        self.offset = 0
        self.torn = False
        ends: list[int | None] = [_start_of(data) for _, data in segments[1:]]
        ends.append(None)
        for (path, data), end in zip(segments, ends, strict=True):
            segment = _Segment(path, int(path.stem, 16))
            self.segments.append(segment)
            self.offset, self.torn = self._segment(data, end, segment)
            if end is not None and self.offset != end:
                raise StorageError(
                    f"write-ahead log segment {path.name} is damaged at byte {self.offset} "
                    f"(its records end at {end}): entries after it would be lost"
                )
        base = self.state.base
        if base.term == UNKNOWN_TERM:
            raise StorageError(
                f"write-ahead log segments before entry {base.index + 1} are missing "
                "and were not compacted"
            )

    def _segment(self, data: bytes, end: int | None, segment: _Segment) -> tuple[int, bool]:
        """Apply the segment's records up to `end` (or its last good record when None):
        (end of the last good record, whether the segment is torn)."""
        state = self.state
        offset = 0
        limit = len(data) if end is None else end
        while offset + HEADER.size <= limit:
            length, crc = HEADER.unpack_from(data, offset)
            if length == 0:
                # Zeroes to the end (the preallocated tail), or a tear that kept only
                # the later pages of a write.
                return offset, not _all_zero(data, offset)
            start = offset + HEADER.size
            payload = data[start : start + length]
            if len(payload) < length or start + length > limit or zlib.crc32(payload) != crc:
                return offset, True
            body = msgpack.unpackb(payload, raw=False, use_list=True)
            if offset == 0 and body[0] == START and len(self.segments) == 1:
                # The oldest segment's START says where the log began when it opened.
                state.base = _position(body[2], body[3], body[7:8])
                state.hard_state = HardState(term=body[4], vote=body[5], commit=body[6])
            state.apply(body)
            if body[0] == RESET:
                for earlier in self.segments:
                    earlier.max_index = min(earlier.max_index, body[1])
            if body[0] in (ENTRIES, CHECKPOINT):
                segment.max_index = max(segment.max_index, state.last_index)
            offset = start + length
        return offset, end is None and not _all_zero(data, offset)


def _encoded(position: SnapshotMeta) -> bytes | None:
    return None if position.membership is None else position.membership.encode()


def _position(index: int, term: int, membership: list[Any]) -> SnapshotMeta:
    """A base position read back; `membership` is the record's optional last field."""
    encoded = membership[0] if membership else None
    return SnapshotMeta(
        index=index,
        term=term,
        membership=None if encoded is None else Membership.decode(encoded),
    )


def _all_zero(data: bytes, offset: int) -> bool:
    return data.count(0, offset) == len(data) - offset


def _start_of(data: bytes) -> int | None:
    """The previous segment's end that a segment's START records, or None if it has
    none whole. A segment of the older format (opened by a CHECKPOINT) counts as 0:
    its checkpoint replaces everything before it."""
    if len(data) < HEADER.size:
        return None
    length, crc = HEADER.unpack_from(data, 0)
    payload = data[HEADER.size : HEADER.size + length]
    if length == 0 or len(payload) < length or zlib.crc32(payload) != crc:
        return None
    body = msgpack.unpackb(payload, raw=False, use_list=True)
    if body[0] == START:
        return int(body[1])
    return 0 if body[0] == CHECKPOINT else None


def _preallocate(fd: int, size: int) -> None:
    """Reserve the segment's blocks now, so appends do not change the file's size.

    Best effort: on a file system without fallocate, or a disk too full for a whole
    segment, the file grows with its appends instead (and a full disk fails those).
    """
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSPC, errno.EDQUOT):
            raise
        os.ftruncate(fd, 0)


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

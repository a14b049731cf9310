"""Each bucket's revisions and its bounded history of key changes, which watches read.

Tables (bytes in, bytes out, so replicas stay byte-identical):
  "whd"  4-byte bucket -> the bucket's head (Head.encode: 40 bytes)
  "wev"  4-byte bucket + 8-byte revision + 4-byte ordinal -> an event (encode_event)
Both big-endian, so a bucket's events are one key range in revision order, and a txn's
several changes at one revision keep their order through the ordinal.

Revisions are per bucket and only grow, across leader changes and bucket moves: a write
at log index i in bucket b gets revision max(i, b's last revision + 1), and the head,
which holds that last revision, moves with the bucket (transfer.py). Every change a log
entry makes to a bucket shares the entry's revision (`revision_for` answers the same
revision again for the same index).

The history is bounded per bucket, by count and by bytes (MAX_EVENTS, MAX_EVENT_BYTES);
past either, the oldest events go in a batch, and the head's `compacted` says through
which revision events are gone: a watch from there or before is answered `compacted`.
Deletes store no value. Nothing is cached: the runtime may replace the tables from a
snapshot between any two commands.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache

from eraft_trio.storage.view import TableView

HEADS = "whd"
EVENTS = "wev"

# Deterministic limits (every replica trims alike, so they are constants, not settings).
MAX_EVENTS = 10_000  # events kept per bucket
MAX_EVENT_BYTES = 4 << 20  # bytes of keys and values kept per bucket
# Trimming goes down to this share of a limit, so it runs once per many writes (a scan
# of the events table costs a flush of the apply batch's buffered rows).
TRIM_TO = 0.9

PUT = 1
DELETE = 2

_HEAD = struct.Struct(">QQIQIQ")
_EVENT_HEAD = struct.Struct(">BQH")  # kind, version, key length; then key, then value
_KEY = struct.Struct(">IQI")  # bucket, revision, ordinal
_LAST_BUCKET = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Head:
    """A bucket's revision state and history size.

    `last_index`: the log index that took `last_revision` (0: none here since the bucket
    arrived), so further changes of that entry share it; `next_ordinal`: the ordinal of
    the entry's next change; `compacted`: events through this revision are gone;
    `count` and `size`: events kept and their bytes.
    """

    last_index: int = 0
    last_revision: int = 0
    next_ordinal: int = 0
    compacted: int = 0
    count: int = 0
    size: int = 0

    def fields(self) -> tuple[int, int, int, int, int, int]:
        return (
            self.last_index,
            self.last_revision,
            self.next_ordinal,
            self.compacted,
            self.count,
            self.size,
        )

    def encode(self) -> bytes:
        return _HEAD.pack(*self.fields())

    @classmethod
    def decode(cls, raw: bytes) -> Head:
        return cls(*_HEAD.unpack(raw))


@dataclass(frozen=True, slots=True)
class Event:
    """One key change: `kind` PUT or DELETE, at `revision` (ordinal `ordinal` within it);
    a put's value and the key's version after it (a delete: None and 0)."""

    revision: int
    ordinal: int
    kind: int
    key: bytes
    value: bytes | None
    version: int


_decode_head = lru_cache(maxsize=1024)(Head.decode)


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def _bucket_end(bucket: int) -> bytes | None:
    return None if bucket == _LAST_BUCKET else _u32(bucket + 1)


def head(view: TableView, bucket: int) -> Head | None:
    raw = view.get(HEADS, _u32(bucket))
    return None if raw is None else _decode_head(raw)


def store_head(view: TableView, bucket: int, value: Head) -> None:
    view.put(HEADS, _u32(bucket), value.encode())


def revision_for(view: TableView, bucket: int, index: int) -> int:
    """The revision of a change log entry `index` makes in `bucket` (the same for all of
    the entry's changes): max(index, last revision + 1).

    A bucket without a head starts one here. If it holds keys written before watches
    existed, their changes are simply not in the history: marking it compacted instead
    would fail every watch started "from now" before the bucket's first write here.
    """
    # Every write's path: raw struct fields, not Head (dataclass copies cost as much as
    # the rest of the revision bookkeeping, tools/apply_bench.py).
    row = _u32(bucket)
    raw = view.get(HEADS, row)
    if raw is None:
        view.put(HEADS, row, _HEAD.pack(index, index, 0, 0, 0, 0))
        return index
    last_index, last_revision, _, compacted, count, size = _HEAD.unpack(raw)
    if last_index == index:
        return int(last_revision)
    revision = max(index, last_revision + 1)
    view.put(HEADS, row, _HEAD.pack(index, revision, 0, compacted, count, size))
    return int(revision)


def record(
    view: TableView,
    bucket: int,
    revision: int,
    kind: int,
    key: bytes,
    value: bytes | None,
    version: int,
) -> None:
    """Append a change at `revision` (from `revision_for`) and trim the oldest if over a limit."""
    row = _u32(bucket)
    raw = view.get(HEADS, row)
    fields = (0, revision, 0, 0, 0, 0) if raw is None else _HEAD.unpack(raw)
    last_index, last_revision, ordinal, compacted, count, size = fields
    data = _EVENT_HEAD.pack(kind, version, len(key)) + key
    if kind == PUT and value:
        data += value
    view.put(EVENTS, _KEY.pack(bucket, revision, ordinal), data)
    count += 1
    size += len(data)
    updated = (last_index, max(last_revision, revision), ordinal + 1, compacted, count, size)
    if count > MAX_EVENTS or size > MAX_EVENT_BYTES:
        updated = _trim(view, bucket, Head(*updated)).fields()
    view.put(HEADS, row, _HEAD.pack(*updated))


def _trim(view: TableView, bucket: int, current: Head) -> Head:
    """Delete the oldest events until both limits are met with room (TRIM_TO), keeping
    the newest always; the head with the new count, size and compacted revision."""
    count, size, compacted = current.count, current.size, current.compacted
    goal_count, goal_size = int(MAX_EVENTS * TRIM_TO), int(MAX_EVENT_BYTES * TRIM_TO)
    for row, data in view.scan(EVENTS, _u32(bucket), _bucket_end(bucket)):
        if count <= 1 or (count <= goal_count and size <= goal_size):
            break
        view.delete(EVENTS, row)
        count -= 1
        size -= len(data)
        compacted = max(compacted, _KEY.unpack(row)[1])
    return replace(current, count=count, size=size, compacted=compacted)


def encode_event(kind: int, key: bytes, value: bytes | None, version: int) -> bytes:
    head_bytes = _EVENT_HEAD.pack(kind, version, len(key))
    return head_bytes + key + (value if value is not None and kind == PUT else b"")


def decode_event(row: bytes, data: bytes) -> Event:
    _, revision, ordinal = _KEY.unpack(row)
    kind, version, key_length = _EVENT_HEAD.unpack_from(data)
    start = _EVENT_HEAD.size
    key = bytes(data[start : start + key_length])
    value = bytes(data[start + key_length :]) if kind == PUT else None
    return Event(revision, ordinal, kind, key, value, version)


def event_key(bucket: int, revision: int, ordinal: int) -> bytes:
    return _KEY.pack(bucket, revision, ordinal)


def split_event_key(row: bytes) -> tuple[int, int, int]:
    """(bucket, revision, ordinal) of an events table key."""
    bucket, revision, ordinal = _KEY.unpack(row)
    return bucket, revision, ordinal


def events_from(
    view: TableView, bucket: int, revision: int, ordinal: int = 0
) -> Iterator[tuple[bytes, bytes]]:
    """The bucket's raw (table key, event) rows at or after (revision, ordinal), in order."""
    start = _KEY.pack(bucket, revision, ordinal)
    yield from view.scan(EVENTS, start, _bucket_end(bucket))


def delete_history(view: TableView, bucket: int) -> None:
    """Delete the bucket's events and head (it left this group, or was given to none)."""
    for row, _ in view.scan(EVENTS, _u32(bucket), _bucket_end(bucket)):
        view.delete(EVENTS, row)
    view.delete(HEADS, _u32(bucket))


def install_event(view: TableView, row: bytes, data: bytes) -> None:
    """Write a transferred event row as it is."""
    view.put(EVENTS, row, data)


def is_event(data: bytes) -> bool:
    """Whether `data` is an encoded event (a transferred row is checked before install)."""
    if len(data) < _EVENT_HEAD.size:
        return False
    kind, _, key_length = _EVENT_HEAD.unpack_from(data)
    return kind in (PUT, DELETE) and len(data) >= _EVENT_HEAD.size + key_length

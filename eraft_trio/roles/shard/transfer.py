"""The bucket transfer stream: a bucket's kv rows, its sessions, then its watch history,
read in bounded chunks.

A pull is resumable because its position, the cursor, is replicated at the new owner.
The cursor is opaque to everyone but this module:
  None              nothing installed yet
  b"k" + user key   the last kv row installed
  b"s" + 8-byte id  the last session installed (every kv row is installed by then)
  b"e" + 8-byte revision + 4-byte ordinal
                    the last watch event installed (every session is installed by then)
Sessions travel in the stream too, after the rows, so no message is unbounded however
many clients a bucket has seen; only a single row bigger than the budget exceeds it.
The watch history follows (events as (revision, ordinal, stored event)), and the last
chunk carries the bucket's watch head (its last revision: watch_events.py), so that
revisions keep growing at the new owner. Old owners send neither; the new owner then
takes the largest mod revision of the rows as the last one, with no history before it.
A row is (user key, record): the stored record as it is (tables.py: version, mod
revision, value), so a moved key keeps its version and revision byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from eraft_trio.roles.shard import tables, watch_events
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import SessionEntry, session_fields
from eraft_trio.storage.view import TableView

_ROW = b"k"
_SESSION = b"s"
_EVENT = b"e"
# A transferred watch event: revision, ordinal within it, the stored event bytes.
EventEntry = tuple[int, int, bytes]
_ENTRY_OVERHEAD = 16  # msgpack framing of one row or session, roughly, so tiny rows count too


@dataclass(frozen=True, slots=True)
class Chunk:
    """Rows, sessions and watch events after a cursor; `done` when nothing of the bucket
    follows them, and then `head`, the bucket's stored watch head (None: it has none)."""

    rows: list[tuple[bytes, bytes]]
    sessions: list[SessionEntry]
    done: bool
    events: list[EventEntry]
    head: bytes | None = None

    def to_reply(self) -> dict[str, Any]:
        return {
            "rows": [[key, record] for key, record in self.rows],
            "sessions": [session_fields(entry) for entry in self.sessions],
            "done": self.done,
            "events": [list(entry) for entry in self.events],
            "head": self.head,
        }


def read_chunk(
    view: TableView, bucket: int, after: bytes | None, max_bytes: int, with_events: bool = True
) -> Chunk:
    """The next chunk of at most `max_bytes` (at least one entry if any is left); without
    the watch history unless `with_events` (a puller from before watches)."""
    rows: list[tuple[bytes, bytes]] = []
    sessions: list[SessionEntry] = []
    events: list[EventEntry] = []
    budget = max_bytes

    def fits(cost: int) -> bool:
        nonlocal budget
        if (rows or sessions or events) and cost > budget:
            return False
        budget -= cost
        return True

    position = _split(after)
    if position.phase == _ROW:
        for key, record in tables.kv_rows(view, bucket, position.key):
            if not fits(len(key) + len(record) + _ENTRY_OVERHEAD):
                return Chunk(rows, sessions, False, events)
            rows.append((key, record))
    if position.phase in (_ROW, _SESSION):
        for client_id, session in tables.sessions(view, bucket, position.client_id):
            cost = len(msgpack.packb(session.reply, use_bin_type=True)) + _ENTRY_OVERHEAD
            if not fits(cost):
                return Chunk(rows, sessions, False, events)
            sessions.append((client_id, session.seq, session.reply, session.used_s))
    if not with_events:
        return Chunk(rows, sessions, True, events)
    revision, ordinal = position.event
    for row, data in watch_events.events_from(view, bucket, revision, ordinal):
        _, event_revision, event_ordinal = watch_events.split_event_key(row)
        if position.phase == _EVENT and (event_revision, event_ordinal) == position.event:
            continue  # the cursor's own event, installed already
        if not fits(len(data) + _ENTRY_OVERHEAD):
            return Chunk(rows, sessions, False, events)
        events.append((event_revision, event_ordinal, data))
    head = watch_events.head(view, bucket)
    return Chunk(rows, sessions, True, events, None if head is None else head.encode())


def next_cursor(
    after: bytes | None,
    rows: tuple[tuple[bytes, bytes], ...],
    sessions: tuple[SessionEntry, ...],
    events: tuple[EventEntry, ...] = (),
) -> bytes | None:
    """The cursor once a chunk fetched after `after` is installed."""
    if events:
        revision, ordinal, _ = events[-1]
        return _EVENT + tables.u64(revision) + tables.u32(ordinal)
    if sessions:
        return _SESSION + tables.u64(sessions[-1][0])
    if rows:
        return _ROW + rows[-1][0]
    return after


def chunk_problem(
    bucket: int,
    nbuckets: int,
    after: bytes | None,
    rows: tuple[tuple[bytes, bytes], ...],
    sessions: tuple[SessionEntry, ...],
    events: tuple[EventEntry, ...] = (),
) -> str | None:
    """Why a chunk cannot follow `after` in `bucket`'s stream, or None if it can.

    Checked before anything is written, so a buggy or forged chunk changes nothing.
    """
    try:
        position = _split(after)
    except ValueError as error:
        return str(error)
    if rows and position.phase != _ROW:
        return "rows after the sessions have started"
    if sessions and position.phase == _EVENT:
        return "sessions after the watch events have started"
    previous_key = position.key
    for key, record in rows:
        if previous_key is not None and key <= previous_key:
            return "rows out of order or repeated"
        if len(record) < tables.RECORD_HEAD_BYTES:
            return f"row {key!r} is not a versioned record (shorter than its head)"
        if bucket_of(key, nbuckets) != bucket:
            return f"row key {key!r} is not in bucket {bucket}"
        previous_key = key
    previous_id = position.client_id
    for client_id, *_ in sessions:
        if previous_id is not None and client_id <= previous_id:
            return "sessions out of order or repeated"
        previous_id = client_id
    previous_event = position.event if position.phase == _EVENT else None
    for revision, ordinal, data in events:
        if previous_event is not None and (revision, ordinal) <= previous_event:
            return "watch events out of order or repeated"
        if not watch_events.is_event(data):
            return f"watch event at revision {revision} is not an encoded event"
        previous_event = (revision, ordinal)
    return None


@dataclass(frozen=True, slots=True)
class _Position:
    """Where a cursor stands: its phase (the next entries' kind) and the last entry of it."""

    phase: bytes
    key: bytes | None = None
    client_id: int | None = None
    event: tuple[int, int] = (0, 0)


def _split(after: bytes | None) -> _Position:
    if after is None:
        return _Position(_ROW)
    if after[:1] == _ROW:
        return _Position(_ROW, key=after[1:])
    if after[:1] == _SESSION and len(after) == 9:
        return _Position(_SESSION, client_id=int.from_bytes(after[1:], "big"))
    if after[:1] == _EVENT and len(after) == 13:
        revision, ordinal = int.from_bytes(after[1:9], "big"), int.from_bytes(after[9:], "big")
        return _Position(_EVENT, event=(revision, ordinal))
    raise ValueError(f"not a transfer cursor: {after!r}")

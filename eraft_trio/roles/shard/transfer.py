"""The bucket transfer stream: a bucket's kv rows, then its sessions, read in bounded chunks.

A pull is resumable because its position, the cursor, is replicated at the new owner.
The cursor is opaque to everyone but this module:
  None              nothing installed yet
  b"k" + user key   the last kv row installed
  b"s" + 8-byte id  the last session installed (every kv row is installed by then)
  b"l" + row key    the last lease row installed (lease_tables.py; every session is)
  b"e" + 8-byte revision + 4-byte ordinal
                    the last watch event installed (every lease row is installed by then)
Sessions travel in the stream too, after the rows, so no message is unbounded however
many clients a bucket has seen; only a single row bigger than the budget exceeds it.
The watch history comes last (events as (revision, ordinal, stored event)), and the
last chunk carries the bucket's watch head (its last revision: watch_events.py), so
that revisions keep growing at the new owner; only when the puller asks `with_events`
(else the new owner takes the largest mod revision of the rows as the last one, with
no history before it).
A row is (user key, record): the stored record as it is (tables.py: version, mod
revision, value), so a moved key keeps its version and revision byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from eraft_trio.roles.shard import lease_tables, tables, watch_events
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import SessionEntry, session_fields
from eraft_trio.storage.view import TableView

_ROW = b"k"
_SESSION = b"s"
_LEASE = b"l"
_EVENT = b"e"
# A transferred watch event: revision, ordinal within it, the stored event bytes.
EventEntry = tuple[int, int, bytes]
_ENTRY_OVERHEAD = 16  # msgpack framing of one row or session, roughly, so tiny rows count too


@dataclass(frozen=True, slots=True)
class Chunk:
    """Rows, sessions, lease rows and watch events after a cursor; `done` when nothing
    of the bucket follows them, and then `head`, the bucket's stored watch head."""

    rows: list[tuple[bytes, bytes]]
    sessions: list[SessionEntry]
    done: bool
    leases: list[tuple[bytes, bytes]] = field(default_factory=list)
    events: list[EventEntry] = field(default_factory=list)
    head: bytes | None = None

    def to_reply(self) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "rows": [[key, record] for key, record in self.rows],
            "sessions": [session_fields(entry) for entry in self.sessions],
            "done": self.done,
        }
        if self.leases:  # a bucket without leases answers as before they existed
            reply["leases"] = [[row, raw] for row, raw in self.leases]
        if self.events or self.head is not None:  # likewise before watches
            reply["events"] = [list(entry) for entry in self.events]
            reply["head"] = self.head
        return reply


def read_chunk(
    view: TableView, bucket: int, after: bytes | None, max_bytes: int, with_events: bool = True
) -> Chunk:
    """The next chunk of at most `max_bytes` (at least one entry if any is left); the
    watch history only `with_events`."""
    rows: list[tuple[bytes, bytes]] = []
    sessions: list[SessionEntry] = []
    leases: list[tuple[bytes, bytes]] = []
    events: list[EventEntry] = []
    budget = max_bytes

    def fits(cost: int) -> bool:
        nonlocal budget
        if (rows or sessions or leases or events) and cost > budget:
            return False
        budget -= cost
        return True

    row_after, session_after, lease_after, stage = _split(after)
    if stage == _ROWS_STAGE:
        for key, record in tables.kv_rows(view, bucket, row_after):
            if not fits(len(key) + len(record) + _ENTRY_OVERHEAD):
                return Chunk(rows, sessions, done=False)
            rows.append((key, record))
    if stage <= _SESSIONS_STAGE:
        for client_id, session in tables.sessions(view, bucket, session_after):
            cost = len(msgpack.packb(session.reply, use_bin_type=True)) + _ENTRY_OVERHEAD
            if not fits(cost):
                return Chunk(rows, sessions, done=False)
            sessions.append((client_id, session.seq, session.reply, session.used_s))
    if stage <= _LEASES_STAGE:
        for row, raw in lease_tables.bucket_rows(view, bucket, lease_after):
            if not fits(len(row) + len(raw) + _ENTRY_OVERHEAD):
                return Chunk(rows, sessions, False, leases)
            leases.append((row, raw))
    if not with_events:
        return Chunk(rows, sessions, True, leases)
    last = _event_of(after) if stage == _EVENTS_STAGE else None
    start = (0, 0) if last is None else last
    for row, data in watch_events.events_from(view, bucket, *start):
        _, revision, ordinal = watch_events.split_event_key(row)
        if (revision, ordinal) == last:
            continue  # the cursor's own event, installed already
        if not fits(len(data) + _ENTRY_OVERHEAD):
            return Chunk(rows, sessions, False, leases, events)
        events.append((revision, ordinal, data))
    head = watch_events.head(view, bucket)
    return Chunk(rows, sessions, True, leases, events, None if head is None else head.encode())


def next_cursor(
    after: bytes | None,
    rows: tuple[tuple[bytes, bytes], ...],
    sessions: tuple[SessionEntry, ...],
    leases: tuple[tuple[bytes, bytes], ...] = (),
    events: tuple[EventEntry, ...] = (),
) -> bytes | None:
    """The cursor once a chunk fetched after `after` is installed."""
    if events:
        revision, ordinal, _ = events[-1]
        return _EVENT + tables.u64(revision) + tables.u32(ordinal)
    if leases:
        return _LEASE + leases[-1][0]
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
    leases: tuple[tuple[bytes, bytes], ...] = (),
    events: tuple[EventEntry, ...] = (),
) -> str | None:
    """Why a chunk cannot follow `after` in `bucket`'s stream, or None if it can.

    Checked before anything is written, so a buggy or forged chunk changes nothing.
    """
    try:
        row_after, session_after, lease_after, stage = _split(after)
    except ValueError as error:
        return str(error)
    if rows and stage != _ROWS_STAGE:
        return "rows after the sessions have started"
    if sessions and stage >= _LEASES_STAGE:
        return "sessions after the leases have started"
    if leases and stage == _EVENTS_STAGE:
        return "lease rows after the watch events have started"
    previous_event = _event_of(after) if stage == _EVENTS_STAGE else None
    for revision, ordinal, data in events:
        if previous_event is not None and (revision, ordinal) <= previous_event:
            return "watch events out of order or repeated"
        if not watch_events.is_event(data):
            return f"watch event at revision {revision} is not an encoded event"
        previous_event = (revision, ordinal)
    previous_row = lease_after
    for row, raw in leases:
        if previous_row is not None and row <= previous_row:
            return "lease rows out of order or repeated"
        problem = lease_tables.row_problem(bucket, row, raw)
        if problem is not None:
            return problem
        previous_row = row
    previous_key = row_after
    for key, record in rows:
        if previous_key is not None and key <= previous_key:
            return "rows out of order or repeated"
        if len(record) < tables.RECORD_HEAD_BYTES:
            return f"row {key!r} is not a versioned record (shorter than its head)"
        if bucket_of(key, nbuckets) != bucket:
            return f"row key {key!r} is not in bucket {bucket}"
        previous_key = key
    previous_id = session_after
    for client_id, *_ in sessions:
        if previous_id is not None and client_id <= previous_id:
            return "sessions out of order or repeated"
        previous_id = client_id
    return None


_ROWS_STAGE, _SESSIONS_STAGE, _LEASES_STAGE, _EVENTS_STAGE = 0, 1, 2, 3


def _split(after: bytes | None) -> tuple[bytes | None, int | None, bytes | None, int]:
    """(last row key, last session id, last lease row, stage) of a cursor; the stage says
    which part of the stream it is in (rows, sessions, leases, watch events: _event_of)."""
    if after is None:
        return None, None, None, _ROWS_STAGE
    if after[:1] == _ROW:
        return after[1:], None, None, _ROWS_STAGE
    if after[:1] == _SESSION and len(after) == 9:
        return None, int.from_bytes(after[1:], "big"), None, _SESSIONS_STAGE
    if after[:1] == _LEASE and len(after) >= 9:
        return None, None, after[1:], _LEASES_STAGE
    if after[:1] == _EVENT and len(after) == 13:
        return None, None, None, _EVENTS_STAGE
    raise ValueError(f"not a transfer cursor: {after!r}")


def _event_of(after: bytes | None) -> tuple[int, int] | None:
    """(revision, ordinal) of a watch-event cursor."""
    if after is None or after[:1] != _EVENT:
        return None
    return int.from_bytes(after[1:9], "big"), int.from_bytes(after[9:13], "big")

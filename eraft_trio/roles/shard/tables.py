"""Where the shard role keeps all its state, and the byte layout of every table key.

Tables (keys and values are deterministic bytes, so replicas are byte-identical):
  "kv"    4-byte big-endian bucket + user key -> record: 8-byte big-endian version,
          8-byte big-endian mod revision, then the value (see Entry)
  "sess"  4-byte bucket + 8-byte big-endian client id -> msgpack([seq, reply, last use])
          (last use in whole seconds of the group's clock; rows written before sessions
          expired have no third field and no "sexp" row)
  "sexp"  8-byte last use + 4-byte bucket + 8-byte client id -> b"" (sessions by age)
  "bkt"   4-byte bucket -> BucketState.encode() (no row: NONE with no keys)
  "meta"  b"config" -> Placement.encode() of the current config; b"previous" -> the one before;
          b"now" -> 8-byte ms, the group's clock (the largest leader stamp applied so far)
  "gc"    8-byte config num + 4-byte bucket -> msgpack([old gid, old gid's addresses])
  "whd", "wev"  each bucket's revision head and history of changes (watch_events.py)
The bucket prefix makes each bucket one contiguous key range in "kv" and "sess", so
migration and garbage collection are range scans; "sexp" puts the oldest session first,
so expiry reads only what it deletes. Nothing is cached in memory: the runtime may
replace every table from a snapshot between any two commands.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgpack

from eraft_trio.roles.shard import lease_tables, watch_events
from eraft_trio.roles.shard.buckets import BucketState, Phase
from eraft_trio.roles.shard.placement import Placement
from eraft_trio.storage.view import TableView

KV = "kv"
SESSIONS = "sess"
SESSION_AGES = "sexp"
BUCKETS = "bkt"
META = "meta"
GC = "gc"
_CONFIG = b"config"
_PREVIOUS = b"previous"
_NOW = b"now"
_LAST_BUCKET = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Session:
    """The last write a client id had applied in one bucket, the reply it got, and when.

    `used_s` is the group's clock in whole seconds at that write (None: a row from
    before sessions expired, which only a new write to it puts in the age index).
    """

    seq: int
    reply: Any
    used_s: int | None


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored key: its value, its version and its mod revision (etcd's meanings).

    `version` counts the writes to the key since it was created (1 after the first put;
    a delete removes the row, so the next put starts again at 1). `mod_revision` is the
    revision of the key's last write: its bucket's (revision_for), which only grows,
    also across bucket moves; a bucket transfer copies records as they are.
    """

    value: bytes
    version: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class GcNotice:
    """This group installed `bucket` for config `num`; old owner `gid` must still delete it."""

    num: int
    bucket: int
    gid: int
    addresses: list[str]


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def _bucket_end(bucket: int) -> bytes | None:
    return None if bucket == _LAST_BUCKET else u32(bucket + 1)


# --- configs ---------------------------------------------------------------------------

# Every put reads the config and its bucket's state: decoding the same bytes again is
# what these memos save (within an apply batch the runtime's view hands out the very
# same bytes). Keyed by the stored bytes, they hold no state of their own; the values
# are frozen.
_decode_placement = lru_cache(maxsize=8)(Placement.decode)
_decode_bucket_state = lru_cache(maxsize=1024)(BucketState.decode)


def current_config(view: TableView) -> Placement:
    raw = view.get(META, _CONFIG)
    return Placement() if raw is None else _decode_placement(raw)


def previous_config(view: TableView) -> Placement:
    raw = view.get(META, _PREVIOUS)
    return Placement() if raw is None else Placement.decode(raw)


def advance_config(view: TableView, new: Placement) -> None:
    """Make `new` current and keep the one it replaces (its addresses find old owners)."""
    old = view.get(META, _CONFIG)
    if old is not None:
        view.put(META, _PREVIOUS, old)
    view.put(META, _CONFIG, new.encode())


# --- bucket states ---------------------------------------------------------------------


def bucket_state(view: TableView, bucket: int) -> BucketState:
    raw = view.get(BUCKETS, u32(bucket))
    return BucketState() if raw is None else _decode_bucket_state(raw)


def store_bucket_state(view: TableView, bucket: int, state: BucketState) -> None:
    if state == BucketState():
        view.delete(BUCKETS, u32(bucket))  # NONE and empty: the absence of a row says it
    else:
        view.put(BUCKETS, u32(bucket), state.encode())


def bucket_states(view: TableView) -> Iterator[tuple[int, BucketState]]:
    """Every bucket that is not NONE-and-empty, in bucket order."""
    for key, raw in view.scan(BUCKETS):
        yield int.from_bytes(key, "big"), BucketState.decode(raw)


def migrating(view: TableView) -> bool:
    """Whether any bucket is still being pulled or handed off (which holds configs back)."""
    return any(state.phase in (Phase.PULLING, Phase.HANDOFF) for _, state in bucket_states(view))


# --- key/value rows --------------------------------------------------------------------

# The fixed head of every kv record: version, then mod revision. Fixed-size, so a plain
# get only slices it off and a bucket transfer carries records without decoding them.
_RECORD_HEAD = struct.Struct(">QQ")
RECORD_HEAD_BYTES = _RECORD_HEAD.size


def encode_record(value: bytes, version: int, mod_revision: int) -> bytes:
    return _RECORD_HEAD.pack(version, mod_revision) + value


def decode_record(record: bytes) -> Entry:
    version, mod_revision = _RECORD_HEAD.unpack_from(record)
    return Entry(bytes(record[RECORD_HEAD_BYTES:]), version, mod_revision)


def get_value(view: TableView, bucket: int, key: bytes) -> bytes | None:
    """The value alone (what a plain get answers)."""
    record = view.get(KV, u32(bucket) + key)
    return None if record is None else record[RECORD_HEAD_BYTES:]


def get_version(view: TableView, bucket: int, key: bytes) -> int:
    """The key's version (0: absent), without copying its value."""
    record = view.get(KV, u32(bucket) + key)
    if record is None:
        return 0
    version: int = _RECORD_HEAD.unpack_from(record)[0]
    return version


def get_entry(view: TableView, bucket: int, key: bytes) -> Entry | None:
    record = view.get(KV, u32(bucket) + key)
    return None if record is None else decode_record(record)


def revision_for(view: TableView, bucket: int, index: int) -> int:
    """THE revision of a change that log entry `index` makes in `bucket`: every write
    path (put, delete, txn, lease expiry) asks here, never uses `index` itself.

    max(index, the bucket's last revision + 1), the same for all of one entry's changes
    in the bucket; the bucket's last revision moves with it, so revisions only grow per
    bucket across leader changes and bucket moves (watch_events.py)."""
    return watch_events.revision_for(view, bucket, index)


def put_entry(
    view: TableView, bucket: int, key: bytes, value: bytes, version: int, mod_revision: int
) -> None:
    """Store a key's new value and record the change in the bucket's watch history;
    `mod_revision` from revision_for."""
    view.put(KV, u32(bucket) + key, _RECORD_HEAD.pack(version, mod_revision) + value)
    lease_tables.detach(view, bucket, key)  # a leased put attaches it again after this
    watch_events.record(view, bucket, mod_revision, watch_events.PUT, key, value, version)


def put_record(view: TableView, bucket: int, key: bytes, record: bytes) -> bool:
    """Write a record as it is (an installed transfer row); True if the key is new.
    Not a change: no watch event (the history travels with the bucket)."""
    row = u32(bucket) + key
    is_new = view.get(KV, row) is None
    view.put(KV, row, record)
    return is_new


def delete_entry(view: TableView, bucket: int, key: bytes, revision: int) -> None:
    """Delete a key and record the change at `revision` (from revision_for)."""
    view.delete(KV, u32(bucket) + key)
    lease_tables.detach(view, bucket, key)
    watch_events.record(view, bucket, revision, watch_events.DELETE, key, None, 0)


def kv_rows(view: TableView, bucket: int, after: bytes | None) -> Iterator[tuple[bytes, bytes]]:
    """The bucket's (user key, record) rows with key > after (None: all), in key order."""
    prefix = u32(bucket)
    # The smallest key greater than `after` is `after` + NUL.
    start = prefix if after is None else prefix + after + b"\x00"
    for row, record in view.scan(KV, start, _bucket_end(bucket)):
        yield row[4:], record


# --- sessions ----------------------------------------------------------------------------


def _decode_session(raw: bytes) -> Session:
    seq, reply, *rest = msgpack.unpackb(raw, raw=False, use_list=True)
    return Session(seq, reply, rest[0] if rest else None)


def _age_key(used_s: int, bucket: int, client_id: int) -> bytes:
    return u64(used_s) + u32(bucket) + u64(client_id)


def load_session(view: TableView, bucket: int, client_id: int) -> Session | None:
    raw = view.get(SESSIONS, u32(bucket) + u64(client_id))
    return None if raw is None else _decode_session(raw)


def store_session(
    view: TableView, bucket: int, client_id: int, session: Session, previous: Session | None
) -> None:
    """Write the session row and keep its age index in step; `previous` is the row it
    replaces (None: there is none)."""
    fields = [session.seq, session.reply]
    if session.used_s is not None:
        fields.append(session.used_s)
    view.put(SESSIONS, u32(bucket) + u64(client_id), msgpack.packb(fields, use_bin_type=True))
    old_used = None if previous is None else previous.used_s
    if old_used == session.used_s:
        return  # used again within the same second: the index row stands
    if old_used is not None:
        view.delete(SESSION_AGES, _age_key(old_used, bucket, client_id))
    if session.used_s is not None:
        view.put(SESSION_AGES, _age_key(session.used_s, bucket, client_id), b"")


def delete_session(view: TableView, bucket: int, client_id: int, used_s: int | None) -> None:
    view.delete(SESSIONS, u32(bucket) + u64(client_id))
    if used_s is not None:
        view.delete(SESSION_AGES, _age_key(used_s, bucket, client_id))


def sessions(view: TableView, bucket: int, after: int | None) -> Iterator[tuple[int, Session]]:
    """The bucket's (client id, session) rows with client id > after (None: all), in id order."""
    prefix = u32(bucket)
    if after is None:
        start = prefix
    elif after == 2**64 - 1:
        return
    else:
        start = prefix + u64(after + 1)
    for row, raw in view.scan(SESSIONS, start, _bucket_end(bucket)):
        yield int.from_bytes(row[4:], "big"), _decode_session(raw)


def sessions_used_by(view: TableView, used_s: int, limit: int) -> Iterator[tuple[int, int, int]]:
    """(last use, bucket, client id) of the `limit` oldest indexed sessions last used at or
    before second `used_s`, oldest first."""
    for key, _ in view.scan(SESSION_AGES, b"", u64(used_s + 1), limit):
        yield (
            int.from_bytes(key[:8], "big"),
            int.from_bytes(key[8:12], "big"),
            int.from_bytes(key[12:], "big"),
        )


def oldest_session_use(view: TableView) -> int | None:
    """The last use of the least recently used indexed session, in seconds (None: none)."""
    for key, _ in view.scan(SESSION_AGES, limit=1):
        return int.from_bytes(key[:8], "big")
    return None


# --- the group's clock -------------------------------------------------------------------


def group_now_ms(view: TableView) -> int:
    raw = view.get(META, _NOW)
    return 0 if raw is None else int.from_bytes(raw, "big")


def advance_now(view: TableView, stamp_ms: int | None) -> int:
    """Move the group's clock to `stamp_ms` unless it is already later; the clock now."""
    now = group_now_ms(view)
    if stamp_ms is not None and stamp_ms > now:
        view.put(META, _NOW, u64(stamp_ms))
        return stamp_ms
    return now


# --- whole buckets ---------------------------------------------------------------------


def delete_bucket_rows(view: TableView, bucket: int) -> None:
    """Delete every kv, session, lease and watch history row of `bucket` (the old
    owner's garbage collection)."""
    lease_tables.delete_bucket_leases(view, bucket)
    for row, _ in view.scan(KV, u32(bucket), _bucket_end(bucket)):
        view.delete(KV, row)
    for client_id, session in sessions(view, bucket, None):
        delete_session(view, bucket, client_id, session.used_s)
    watch_events.delete_history(view, bucket)


# --- garbage-collection notices ---------------------------------------------------------


def add_gc_notice(view: TableView, notice: GcNotice) -> None:
    view.put(
        GC,
        u64(notice.num) + u32(notice.bucket),
        msgpack.packb([notice.gid, list(notice.addresses)], use_bin_type=True),
    )


def remove_gc_notice(view: TableView, num: int, bucket: int) -> bool:
    key = u64(num) + u32(bucket)
    existed = view.get(GC, key) is not None
    view.delete(GC, key)
    return existed


def gc_notices(view: TableView) -> Iterator[GcNotice]:
    """Pending notices, oldest config first."""
    for key, raw in view.scan(GC):
        gid, addresses = msgpack.unpackb(raw, raw=False, use_list=True)
        yield GcNotice(
            int.from_bytes(key[:8], "big"), int.from_bytes(key[8:], "big"), gid, addresses
        )

"""Where the shard role keeps all its state, and the byte layout of every table key.

Tables (keys and values are deterministic bytes, so replicas are byte-identical):
  "kv"    4-byte big-endian bucket + user key -> value
  "sess"  4-byte bucket + 8-byte big-endian client id -> msgpack([seq, reply])
  "bkt"   4-byte bucket -> BucketState.encode() (no row: NONE with no keys)
  "meta"  b"config" -> Placement.encode() of the current config; b"previous" -> the one before
  "gc"    8-byte config num + 4-byte bucket -> msgpack([old gid, old gid's addresses])
The bucket prefix makes each bucket one contiguous key range in "kv" and "sess", so
migration and garbage collection are range scans. Nothing is cached in memory: the
runtime may replace every table from a snapshot between any two commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgpack

from eraft_trio.roles.shard.buckets import BucketState, Phase
from eraft_trio.roles.shard.placement import Placement
from eraft_trio.storage.view import TableView

KV = "kv"
SESSIONS = "sess"
BUCKETS = "bkt"
META = "meta"
GC = "gc"
_CONFIG = b"config"
_PREVIOUS = b"previous"
_LAST_BUCKET = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Session:
    """The last write a client id had applied in one bucket, and the reply it got."""

    seq: int
    reply: Any


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


def get_value(view: TableView, bucket: int, key: bytes) -> bytes | None:
    return view.get(KV, u32(bucket) + key)


def put_value(view: TableView, bucket: int, key: bytes, value: bytes) -> bool:
    """Write the row; True if the key is new (so the caller can count it)."""
    row = u32(bucket) + key
    is_new = view.get(KV, row) is None
    view.put(KV, row, value)
    return is_new


def delete_value(view: TableView, bucket: int, key: bytes) -> bool:
    """Delete the row; True if there was one."""
    row = u32(bucket) + key
    existed = view.get(KV, row) is not None
    view.delete(KV, row)
    return existed


def kv_rows(view: TableView, bucket: int, after: bytes | None) -> Iterator[tuple[bytes, bytes]]:
    """The bucket's (user key, value) rows with key > after (None: all), in key order."""
    prefix = u32(bucket)
    # The smallest key greater than `after` is `after` + NUL.
    start = prefix if after is None else prefix + after + b"\x00"
    for row, value in view.scan(KV, start, _bucket_end(bucket)):
        yield row[4:], value


# --- sessions --------------------------------------------------------------------------


def load_session(view: TableView, bucket: int, client_id: int) -> Session | None:
    raw = view.get(SESSIONS, u32(bucket) + u64(client_id))
    if raw is None:
        return None
    seq, reply = msgpack.unpackb(raw, raw=False, use_list=True)
    return Session(seq, reply)


def store_session(view: TableView, bucket: int, client_id: int, session: Session) -> None:
    view.put(
        SESSIONS,
        u32(bucket) + u64(client_id),
        msgpack.packb([session.seq, session.reply], use_bin_type=True),
    )


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
        seq, reply = msgpack.unpackb(raw, raw=False, use_list=True)
        yield int.from_bytes(row[4:], "big"), Session(seq, reply)


# --- whole buckets ---------------------------------------------------------------------


def delete_bucket_rows(view: TableView, bucket: int) -> None:
    """Delete every kv and session row of `bucket` (the old owner's garbage collection)."""
    for table in (KV, SESSIONS):
        for row, _ in view.scan(table, u32(bucket), _bucket_end(bucket)):
            view.delete(table, row)


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

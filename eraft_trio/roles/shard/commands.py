"""The shard role's log commands and their msgpack codec (deterministic bytes, checked shapes).

The codec checks shape and types only; whether a command applies (right group, right
config, right cursor) is decided when it is applied, so that refusals are replicated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from eraft_trio.roles.shard.lease_commands import (
    LEASE_TAGS,
    LeaseCommand,
    decode_lease,
    lease_fields,
)
from eraft_trio.roles.shard.placement import Placement
from eraft_trio.roles.shard.txn_command import TXN_TAG, Txn, txn_fields, txn_from_body

MAX_CLIENT_ID = 2**64 - 1  # client ids are 8-byte table keys
MAX_BUCKET = 2**32 - 1  # buckets are 4-byte table keys
MAX_TIME = 2**63 - 1  # times (ms or s) are 8-byte table keys; this keeps them in msgpack ints
MAX_VERSION = 2**63 - 1  # a key's version is an 8-byte record field, compared as a msgpack int

# A session as it travels in a bucket transfer: client id, seq, reply, last use (seconds).
SessionEntry = tuple[int, int, Any, int | None]
# What a conditional write compares before it applies (conditions.py): an int is the
# version the key must have (0: the key must be absent), bytes the value it must hold.
Condition = int | bytes


@dataclass(frozen=True, slots=True)
class Put:
    """Write `value` under `key`; (client_id, seq) makes it exactly-once.

    `stamp_ms` is the leader's wall clock when it took the request (the group's time
    moves only through such stamps: see sessions.py); `new_session` is the client's
    word that this may be its session's first write in the bucket. Both are None in
    entries written before sessions expired, which apply as they always did.
    `condition` (None: none) makes it a compare-and-set.
    """

    client_id: int
    seq: int
    key: bytes
    value: bytes
    stamp_ms: int | None = None
    new_session: bool | None = None
    condition: Condition | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete `key` (a missing key is not an error); (client_id, seq) makes it exactly-once.

    `stamp_ms`, `new_session` and `condition` as for Put.
    """

    client_id: int
    seq: int
    key: bytes
    stamp_ms: int | None = None
    new_session: bool | None = None
    condition: Condition | None = None


@dataclass(frozen=True, slots=True)
class ExpireSessions:
    """The leader's clock reads `now_ms`: forget sessions unused for `ttl_ms` (a bounded batch).

    The leader proposes it only when its oldest session is due; the TTL travels in the
    entry, so every replica expires the same sessions whatever its own role file says.
    """

    now_ms: int
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class NewConfig:
    """Move to the next config, given in its JSON form ({"num", "buckets", "groups"})."""

    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InstallChunk:
    """Install the next chunk of `bucket` pulled for config `config_num`.

    `after_key` is the transfer cursor the chunk was fetched after (None: from the start);
    `rows` are (user key, stored record: value with its version and mod revision,
    tables.py) and `sessions` (client id, seq, reply, last use in seconds, or None when
    the old owner predates it), each in ascending order; `done` says the chunk is the
    bucket's last. `leases` are the bucket's raw lease rows (lease_tables.py), streamed
    after the sessions; `events` the bucket's watch history (revision, ordinal, stored
    event) after the leases, and `head` (in the last chunk) its watch head
    (watch_events.py). `stamp_ms` is the pulling leader's clock (None: unstamped): it
    advances the group's clock, as a Put's stamp does, so a moved lease's new TTL starts
    at a current time. The encoded shape grows only as far as it needs: six fields, then
    leases, then events and head, then the stamp (7, 9 or 10 fields).
    """

    config_num: int
    bucket: int
    after_key: bytes | None
    rows: tuple[tuple[bytes, bytes], ...]
    sessions: tuple[SessionEntry, ...]
    done: bool
    leases: tuple[tuple[bytes, bytes], ...] = ()
    events: tuple[tuple[int, int, bytes], ...] = ()
    head: bytes | None = None
    stamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DropBucket:
    """At the old owner: the new owner has `bucket` of config `config_num`; delete our copy."""

    config_num: int
    bucket: int


@dataclass(frozen=True, slots=True)
class GcDone:
    """At the new owner: the old owner confirmed it deleted `bucket` of config `config_num`."""

    config_num: int
    bucket: int


ShardCommand = (
    Put
    | Delete
    | NewConfig
    | InstallChunk
    | DropBucket
    | GcDone
    | ExpireSessions
    | Txn
    | LeaseCommand
)


class CommandDecodeError(ValueError):
    """The bytes are not an encoded shard command."""


# Wire tags: small integers, fixed forever once a log may hold them.
_PUT, _DELETE, _NEW_CONFIG, _INSTALL_CHUNK, _DROP_BUCKET, _GC_DONE = 1, 2, 3, 4, 5, 6
_EXPIRE_SESSIONS = 7
# 8: Txn (txn_command.py)


def encode_command(command: ShardCommand) -> bytes:
    """Deterministic bytes; raises ValueError for a NewConfig whose config is malformed."""
    fields: list[Any]
    match command:
        case Put(client_id, seq, key, value, stamp_ms, new_session, condition):
            fields = [_PUT, client_id, seq, bytes(key), bytes(value)]
            fields += _write_fields_tail(stamp_ms, new_session, condition)
        case Delete(client_id, seq, key, stamp_ms, new_session, condition):
            fields = [_DELETE, client_id, seq, bytes(key)]
            fields += _write_fields_tail(stamp_ms, new_session, condition)
        case NewConfig(config):
            placement = Placement.from_json(config)
            pairs = [[gid, list(placement.groups[gid])] for gid in sorted(placement.groups)]
            fields = [_NEW_CONFIG, placement.num, list(placement.buckets), pairs]
        case InstallChunk(
            config_num, bucket, after_key, rows, sessions, done, leases, events, head, stamp
        ):
            fields = [
                _INSTALL_CHUNK,
                config_num,
                bucket,
                None if after_key is None else bytes(after_key),
                [[bytes(key), bytes(value)] for key, value in rows],
                [session_fields(entry) for entry in sessions],
                bool(done),
            ]
            if leases or events or head is not None or stamp is not None:
                fields.append([[bytes(key), bytes(value)] for key, value in leases])
            if events or head is not None or stamp is not None:  # else the older shapes
                fields.append([[rev, ordinal, bytes(data)] for rev, ordinal, data in events])
                fields.append(None if head is None else bytes(head))
            if stamp is not None:
                fields.append(stamp)
        case DropBucket(config_num, bucket):
            fields = [_DROP_BUCKET, config_num, bucket]
        case GcDone(config_num, bucket):
            fields = [_GC_DONE, config_num, bucket]
        case ExpireSessions(now_ms, ttl_ms):
            fields = [_EXPIRE_SESSIONS, now_ms, ttl_ms]
        case _ if isinstance(command, LeaseCommand):
            fields = lease_fields(command)
        case Txn():
            fields = txn_fields(command)
        case _:
            raise TypeError(f"not a shard command: {command!r}")
    return msgpack.packb(fields, use_bin_type=True)


def _write_fields_tail(
    stamp_ms: int | None, new_session: bool | None, condition: Condition | None
) -> list[Any]:
    """The optional trailing fields of a write, each left out while it and all after it
    are None (so a plain write keeps its older, shorter shape)."""
    if condition is not None:
        return [stamp_ms, new_session, condition]
    if stamp_ms is None and new_session is None:
        return []
    return [stamp_ms, new_session]


def session_fields(entry: SessionEntry) -> list[Any]:
    """The list form of a transferred session (old owners' shape when its last use is unknown)."""
    client_id, seq, reply, used_s = entry
    return [client_id, seq, reply] if used_s is None else [client_id, seq, reply, used_s]


def decode_command(data: bytes) -> ShardCommand:
    """Inverse of `encode_command`; raises CommandDecodeError for anything else."""
    try:
        fields = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=False)
    except Exception as error:  # msgpack raises several unrelated types for bad input
        raise CommandDecodeError(f"not msgpack: {error}") from None
    if not isinstance(fields, list) or not fields:
        raise CommandDecodeError("a command is [tag, ...]")
    tag, *body = fields
    try:
        return _decode_body(tag, body)
    except (TypeError, ValueError) as error:
        raise CommandDecodeError(str(error)) from None


def _decode_body(tag: Any, body: list[Any]) -> ShardCommand:
    if tag == _PUT and len(body) in (4, 6, 7):
        client_id, seq, key, value = body[:4]
        stamp_ms, new_session, condition = _write_tail(body[4:])
        return Put(
            _client(client_id),
            _natural(seq, "seq"),
            _bytes(key, "key"),
            _bytes(value, "value"),
            stamp_ms,
            new_session,
            condition,
        )
    if tag == _DELETE and len(body) in (3, 5, 6):
        client_id, seq, key = body[:3]
        stamp_ms, new_session, condition = _write_tail(body[3:])
        return Delete(
            _client(client_id),
            _natural(seq, "seq"),
            _bytes(key, "key"),
            stamp_ms,
            new_session,
            condition,
        )
    if tag == TXN_TAG:
        return txn_from_body(body)
    if tag == _EXPIRE_SESSIONS and len(body) == 2:
        return ExpireSessions(_time(body[0], "now"), _time(body[1], "ttl"))
    if tag == _NEW_CONFIG and len(body) == 3:
        num, buckets, pairs = body
        if not isinstance(pairs, list) or not all(
            isinstance(pair, list) and len(pair) == 2 for pair in pairs
        ):
            raise ValueError("config groups must be a list of [gid, addresses]")
        groups = {str(gid): addresses for gid, addresses in pairs}
        if len(groups) != len(pairs):
            raise ValueError("a config names a group twice")
        placement = Placement.from_json({"num": num, "buckets": buckets, "groups": groups})
        return NewConfig(placement.to_json())
    if tag == _INSTALL_CHUNK and len(body) in (6, 7, 9, 10):
        config_num, bucket, after_key, rows, sessions, done = body[:6]
        events, head = body[7:9] if len(body) >= 9 else ([], None)
        if after_key is not None:
            after_key = _bytes(after_key, "after key")
        if not isinstance(done, bool):
            raise ValueError("done must be a boolean")
        return InstallChunk(
            _natural(config_num, "config num"),
            _bucket(bucket),
            after_key,
            _rows(rows),
            _sessions(sessions),
            done,
            _rows(body[6]) if len(body) >= 7 else (),
            watch_event_entries(events),
            None if head is None else _bytes(head, "watch head"),
            _time(body[9], "stamp") if len(body) == 10 else None,
        )
    if tag in LEASE_TAGS:
        return decode_lease(tag, body)
    if tag in (_DROP_BUCKET, _GC_DONE) and len(body) == 2:
        kind = DropBucket if tag == _DROP_BUCKET else GcDone
        return kind(_natural(body[0], "config num"), _bucket(body[1]))
    raise ValueError(f"unknown command tag or shape: {tag!r}")


def watch_event_entries(events: Any) -> tuple[tuple[int, int, bytes], ...]:
    """Transferred watch events from their list form [[revision, ordinal, event]...]."""
    if not isinstance(events, list) or not all(
        isinstance(entry, list) and len(entry) == 3 for entry in events
    ):
        raise ValueError("chunk events must be a list of [revision, ordinal, event]")
    return tuple(
        (_natural(rev, "event revision"), _natural(ordinal, "event ordinal"), _bytes(data, "event"))
        for rev, ordinal, data in events
    )


def _rows(rows: Any) -> tuple[tuple[bytes, bytes], ...]:
    if not isinstance(rows, list) or not all(
        isinstance(row, list) and len(row) == 2 for row in rows
    ):
        raise ValueError("chunk rows must be a list of [key, record]")
    return tuple((_bytes(key, "row key"), _bytes(value, "row value")) for key, value in rows)


def _write_tail(tail: list[Any]) -> tuple[int | None, bool | None, Condition | None]:
    """(stamp_ms, new_session, condition) of a write's optional trailing fields."""
    if not tail:
        return None, None, None
    stamp_ms, new_session, *rest = tail
    if stamp_ms is not None:
        stamp_ms = _time(stamp_ms, "stamp")
    if new_session is not None and not isinstance(new_session, bool):
        raise ValueError("new_session must be a boolean or nil")
    condition = _condition(rest[0]) if rest else None
    return stamp_ms, new_session, condition


def _condition(value: Any) -> Condition:
    if isinstance(value, bytes):
        return value
    if not _is_int(value) or not 0 <= value <= MAX_VERSION:
        raise ValueError(f"compared version {value!r} is not in 0 .. 2**63-1")
    return int(value)


def _sessions(sessions: Any) -> tuple[SessionEntry, ...]:
    if not isinstance(sessions, list) or not all(
        isinstance(entry, list) and len(entry) in (3, 4) for entry in sessions
    ):
        raise ValueError("chunk sessions must be a list of [client id, seq, reply, last use]")
    return tuple(session_entry(entry) for entry in sessions)


def session_entry(fields: list[Any] | tuple[Any, ...]) -> SessionEntry:
    """A transferred session from its list form (the last use is absent from old owners)."""
    client_id, seq, reply, *rest = fields
    used_s = _time(rest[0], "session last use") if rest else None
    return (_client(client_id), _natural(seq, "session seq"), reply, used_s)


def _time(value: Any, what: str) -> int:
    if not _is_int(value) or not 0 <= value <= MAX_TIME:
        raise ValueError(f"{what} {value!r} is not in 0 .. 2**63-1")
    return int(value)


def _client(value: Any) -> int:
    if not _is_int(value) or not 0 <= value <= MAX_CLIENT_ID:
        raise ValueError(f"client id {value!r} is not in 0 .. 2**64-1")
    return int(value)


def _bucket(value: Any) -> int:
    if not _is_int(value) or not 0 <= value <= MAX_BUCKET:
        raise ValueError(f"bucket {value!r} is not in 0 .. 2**32-1")
    return int(value)


def _natural(value: Any, what: str) -> int:
    if not _is_int(value) or value < 0:
        raise ValueError(f"{what} {value!r} is not a non-negative integer")
    return int(value)


def _bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise ValueError(f"{what} must be bytes")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

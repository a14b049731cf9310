"""The lease log commands (tags 9-13) and their msgpack shapes; commands.py dispatches here.

  [9, client_id, seq, key, ttl_ms, stamp_ms, new_session]                     GrantLease
  [10, lease_id, stamp_ms]                                                     KeepAliveLease
  [11, client_id, seq, lease_id, stamp_ms, new_session]                       RevokeLease
  [12, client_id, seq, key, value, lease_id, stamp_ms, new_session, condition] LeasePut
  [13, now_ms, 0] ExpireLeases; [13, now_ms, 1] PromoteLeases
Every one carries the leader's clock (`stamp_ms` / `now_ms`): the group's time moves only
through such stamps (sessions.py), so every replica decides expiry alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GRANT, KEEP_ALIVE, REVOKE, LEASE_PUT, LEASE_CLOCK = 9, 10, 11, 12, 13
LEASE_TAGS = frozenset({GRANT, KEEP_ALIVE, REVOKE, LEASE_PUT, LEASE_CLOCK})
_EXPIRE, _PROMOTE = 0, 1
_MAX_U64 = 2**64 - 1
_MAX_TIME = 2**63 - 1


@dataclass(frozen=True, slots=True)
class GrantLease:
    """Create a lease of `ttl_ms` in the bucket of `key`; exactly once per (client_id, seq)."""

    client_id: int
    seq: int
    key: bytes
    ttl_ms: int
    stamp_ms: int
    new_session: bool | None


@dataclass(frozen=True, slots=True)
class KeepAliveLease:
    """Push the lease's deadline to the group's clock + its TTL (idempotent: no session)."""

    lease_id: int
    stamp_ms: int


@dataclass(frozen=True, slots=True)
class RevokeLease:
    """Delete the lease and every key attached to it, in this one entry; exactly once."""

    client_id: int
    seq: int
    lease_id: int
    stamp_ms: int
    new_session: bool | None


@dataclass(frozen=True, slots=True)
class LeasePut:
    """A put (compare-and-set when `condition` is set: commands.Condition) that attaches
    `key` to `lease_id`; the key's bucket must be the lease's."""

    client_id: int
    seq: int
    key: bytes
    value: bytes
    lease_id: int
    stamp_ms: int
    new_session: bool | None
    condition: int | bytes | None = None


@dataclass(frozen=True, slots=True)
class ExpireLeases:
    """The leader's clock reads `now_ms`: end a bounded batch of the leases due by then."""

    now_ms: int


@dataclass(frozen=True, slots=True)
class PromoteLeases:
    """A new leader's first lease entry: extend every lease to at least `now_ms` + its TTL,
    so no lease expires for the time the group had no leader to keep it alive."""

    now_ms: int


LeaseCommand = GrantLease | KeepAliveLease | RevokeLease | LeasePut | ExpireLeases | PromoteLeases


def lease_fields(command: LeaseCommand) -> list[Any]:
    match command:
        case GrantLease(client_id, seq, key, ttl_ms, stamp_ms, new_session):
            return [GRANT, client_id, seq, bytes(key), ttl_ms, stamp_ms, new_session]
        case KeepAliveLease(lease_id, stamp_ms):
            return [KEEP_ALIVE, lease_id, stamp_ms]
        case RevokeLease(client_id, seq, lease_id, stamp_ms, new_session):
            return [REVOKE, client_id, seq, lease_id, stamp_ms, new_session]
        case LeasePut(client_id, seq, key, value, lease_id, stamp_ms, new_session, condition):
            return [
                LEASE_PUT,
                client_id,
                seq,
                bytes(key),
                bytes(value),
                lease_id,
                stamp_ms,
                new_session,
                condition,
            ]
        case ExpireLeases(now_ms):
            return [LEASE_CLOCK, now_ms, _EXPIRE]
        case PromoteLeases(now_ms):
            return [LEASE_CLOCK, now_ms, _PROMOTE]
    raise TypeError(f"not a lease command: {command!r}")


def decode_lease(tag: int, body: list[Any]) -> LeaseCommand:
    """The command of a lease tag's body; ValueError for a wrong shape or type."""
    if tag == GRANT and len(body) == 6:
        client_id, seq, key, ttl_ms, stamp_ms, new_session = body
        return GrantLease(
            _u64(client_id, "client id"),
            _u64(seq, "seq"),
            _bytes(key, "key"),
            _time(ttl_ms, "ttl"),
            _time(stamp_ms, "stamp"),
            _flag(new_session),
        )
    if tag == KEEP_ALIVE and len(body) == 2:
        return KeepAliveLease(_u64(body[0], "lease id"), _time(body[1], "stamp"))
    if tag == REVOKE and len(body) == 5:
        client_id, seq, lease_id, stamp_ms, new_session = body
        return RevokeLease(
            _u64(client_id, "client id"),
            _u64(seq, "seq"),
            _u64(lease_id, "lease id"),
            _time(stamp_ms, "stamp"),
            _flag(new_session),
        )
    if tag == LEASE_PUT and len(body) == 8:
        client_id, seq, key, value, lease_id, stamp_ms, new_session, condition = body
        if condition is not None and not isinstance(condition, bytes):
            condition = _time(condition, "compared version")
        return LeasePut(
            _u64(client_id, "client id"),
            _u64(seq, "seq"),
            _bytes(key, "key"),
            _bytes(value, "value"),
            _u64(lease_id, "lease id"),
            _time(stamp_ms, "stamp"),
            _flag(new_session),
            condition,
        )
    if tag == LEASE_CLOCK and len(body) == 2 and body[1] in (_EXPIRE, _PROMOTE):
        kind = ExpireLeases if body[1] == _EXPIRE else PromoteLeases
        return kind(_time(body[0], "now"))
    raise ValueError(f"unknown lease command shape: tag {tag!r}, {len(body)} fields")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _u64(value: Any, what: str) -> int:
    if not _is_int(value) or not 0 <= value <= _MAX_U64:
        raise ValueError(f"{what} {value!r} is not in 0 .. 2**64-1")
    return int(value)


def _time(value: Any, what: str) -> int:
    if not _is_int(value) or not 0 <= value <= _MAX_TIME:
        raise ValueError(f"{what} {value!r} is not in 0 .. 2**63-1")
    return int(value)


def _bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise ValueError(f"{what} must be bytes")
    return value


def _flag(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValueError("new_session must be a boolean or nil")
    return value

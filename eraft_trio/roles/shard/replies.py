"""The shard role's answers: the state machine's results, and the typed replies they become.

The state machine answers with plain dicts, because a write's result is stored with its
session (tables.py) and moves with its bucket: `{"ok": True, ...}`, a read's fields, or a
refusal `{"err": code, ...}`. The server sends them as protocol replies (`to_*` below).
"""

from __future__ import annotations

from typing import Any

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.replies import (
    BucketChunk,
    CompareFailed,
    Dropped,
    Value,
    VersionedValue,
    Written,
)

# The codes are the protocol's one set (protocol/errors.py); these are the ones results hold.
WRONG_GROUP = ErrorCode.WRONG_GROUP
NOT_READY = ErrorCode.NOT_READY
BAD_COMMAND = ErrorCode.BAD_COMMAND
BAD_CONFIG = ErrorCode.BAD_CONFIG
BAD_CHUNK = ErrorCode.BAD_CHUNK
KEY_TOO_LONG = ErrorCode.KEY_TOO_LONG
VALUE_TOO_LARGE = ErrorCode.VALUE_TOO_LARGE
BAD_QUERY = ErrorCode.BAD_QUERY
SESSION_EXPIRED = ErrorCode.SESSION_EXPIRED
LEASE_NOT_FOUND = ErrorCode.LEASE_NOT_FOUND
LEASE_BUCKET = ErrorCode.LEASE_BUCKET
LEASE_FULL = ErrorCode.LEASE_FULL


def ok(**details: Any) -> dict[str, Any]:
    """A success, with any details the caller adds (a fresh dict: replies get stored)."""
    return {"ok": True, **details}


def refusal(code: str, num: int) -> dict[str, Any]:
    """A refusal tied to this group's current config number (wrong_group, not_ready)."""
    return {"err": code, "num": num}


def invalid(code: str, message: str) -> dict[str, Any]:
    """A refusal with a message (bad_command, bad_chunk, key_too_long, value_too_large,
    bad_query, session_expired)."""
    return {"err": code, "message": message}


# --- results as sent -------------------------------------------------------------------------


def error_of(result: dict[str, Any]) -> ErrorReply | None:
    """The refusal a result holds, as sent; None for a success."""
    code = result.get("err")
    if code is None:
        return None
    return ErrorReply(ErrorCode(code), result.get("message", ""), num=result.get("num"))


def to_written(result: dict[str, Any]) -> Written | CompareFailed | ErrorReply:
    """A write's result (writes.py): applied, or a compare-and-set whose comparison failed."""
    refused = error_of(result)
    if refused is not None:
        return refused
    if result.get("succeeded") is False:
        return CompareFailed(result["value"], result["version"], result["mod_revision"])
    # A seq older than its session's answers a bare ok (writes.py): revision 0, not applied.
    return Written(result.get("revision", 0), result.get("version", 0), bool(result.get("deleted")))


def to_value(result: dict[str, Any]) -> Value | ErrorReply:
    return error_of(result) or Value(result["value"])


def to_versioned_value(result: dict[str, Any]) -> VersionedValue | ErrorReply:
    return error_of(result) or VersionedValue(
        result["value"], result["version"], result["mod_revision"]
    )


def to_bucket_chunk(result: dict[str, Any]) -> BucketChunk | ErrorReply:
    return error_of(result) or BucketChunk(
        result["rows"],
        result["sessions"],
        result["done"],
        result.get("leases") or None,
        result.get("events"),
        result.get("head"),
    )


def to_dropped(result: dict[str, Any]) -> Dropped | ErrorReply:
    return error_of(result) or Dropped(bool(result.get("dropped")))

"""Compare-and-set: what a conditional put or delete compares, and how the request states it.

A condition is an int (the version the key must have; 0: the key must not exist, as
etcd's version 0) or bytes (the value the key must hold; an absent key holds none).
Clients state it as `if_version` or `if_value` (reference.md, the Python client;
`if_absent` is `if_version=0`), at most one of the two.
"""

from __future__ import annotations

from typing import Any

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.roles.shard.commands import MAX_VERSION, Condition
from eraft_trio.roles.shard.tables import Entry


def holds(condition: Condition, entry: Entry | None) -> bool:
    """Whether the key as stored (None: absent) passes the comparison."""
    if isinstance(condition, bytes):
        return entry is not None and entry.value == condition
    return (0 if entry is None else entry.version) == condition


def from_request(if_version: Any, if_value: Any) -> Condition | None | ErrorReply:
    """The condition of a request's `if_version` / `if_value`, or its bad_request refusal
    (checked where the request arrives, before it costs a log entry)."""
    if if_version is not None and if_value is not None:
        return ErrorReply(ErrorCode.BAD_REQUEST, "give if_version or if_value, not both")
    if if_value is not None:
        if not isinstance(if_value, bytes):
            return ErrorReply(ErrorCode.BAD_REQUEST, "if_value must be bytes")
        return if_value
    if if_version is None:
        return None
    if not isinstance(if_version, int) or isinstance(if_version, bool):
        return ErrorReply(ErrorCode.BAD_REQUEST, "if_version must be an integer")
    if not 0 <= if_version <= MAX_VERSION:
        return ErrorReply(ErrorCode.BAD_REQUEST, f"if_version {if_version} is out of range")
    return if_version

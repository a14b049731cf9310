"""The shard role's answers: success shapes and coded refusals (only ever add codes)."""

from __future__ import annotations

from typing import Any

WRONG_GROUP = "wrong_group"  # this group does not serve the key's bucket at config `num`
NOT_READY = "not_ready"  # a config, fetch or drop that must wait for this group to move on
BAD_COMMAND = "bad_command"  # a log entry that does not decode to a shard command
BAD_CONFIG = "bad_config"  # a config whose bucket count differs from the current one
BAD_CHUNK = "bad_chunk"  # an install chunk whose rows do not follow the cursor in its bucket
KEY_TOO_LONG = "key_too_long"  # a key longer than MAX_KEY_BYTES (the LMDB key limit)
VALUE_TOO_LARGE = "value_too_large"  # a put over the node's [limits] max_value_bytes
BAD_QUERY = "bad_query"  # a read the state machine does not understand
SESSION_EXPIRED = "session_expired"  # a write whose session expired: it may have applied before
BAD_REQUEST = "bad_request"  # a request the server cannot take as it is (e.g. two conditions)


def ok(**details: Any) -> dict[str, Any]:
    """A success, with any details the caller adds (a fresh dict: replies get stored)."""
    return {"ok": True, **details}


def refusal(code: str, num: int) -> dict[str, Any]:
    """A refusal tied to this group's current config number (wrong_group, not_ready)."""
    return {"err": code, "num": num}


def invalid(code: str, message: str) -> dict[str, Any]:
    """A refusal with a message (bad_command, bad_chunk, key_too_long, value_too_large,
    bad_query, session_expired, bad_request)."""
    return {"err": code, "message": message}

"""Size limits on keys and values: the refusals that name the limit a request exceeds.

The client checks them before sending, and the leader that takes a request checks them
again before it costs a log entry (docs/reference.md, "Limits").
"""

from __future__ import annotations

from eraft_trio.protocol.errors import ErrorCode, ErrorReply

# LMDB's largest key is 511 bytes and a kv row's key adds the table prefix "kv\0" and a
# 4-byte bucket; refusing longer keys keeps a replicated write from failing in storage.
MAX_KEY_BYTES = 500
# The largest value a put may carry unless a role file's [limits] max_value_bytes says
# otherwise; the client checks the same default before sending.
DEFAULT_MAX_VALUE_BYTES = 1 << 20


def key_refusal(key: bytes) -> ErrorReply | None:
    """The refusal of a key longer than storage allows, or None when it fits."""
    if len(key) > MAX_KEY_BYTES:
        return ErrorReply(
            ErrorCode.KEY_TOO_LONG, f"key of {len(key)} bytes; the limit is {MAX_KEY_BYTES}"
        )
    return None


def request_refusal(key: bytes, value: bytes | None, max_value_bytes: int) -> ErrorReply | None:
    """The refusal of a request whose key or value is too large, or None when both fit.

    The value limit is each node's own setting ([limits] max_value_bytes), so it is checked
    where a request arrives, never while applying the log: a committed command must apply
    the same way on every replica, whatever their role files say.
    """
    refusal = key_refusal(key)
    if refusal is None and value is not None and len(value) > max_value_bytes:
        refusal = ErrorReply(
            ErrorCode.VALUE_TOO_LARGE,
            f"value of {len(value)} bytes exceeds the limit of {max_value_bytes} bytes "
            "(max_value_bytes)",
        )
    return refusal

"""Size limits on client requests: the refusals that name the limit a key or value exceeds."""

from __future__ import annotations

from typing import Any

from eraft_trio.roles.shard import replies

# LMDB's largest key is 511 bytes and a kv row's key adds the table prefix "kv\0" and a
# 4-byte bucket; refusing longer keys keeps a replicated write from failing in storage.
MAX_KEY_BYTES = 500


def key_refusal(key: bytes) -> dict[str, Any] | None:
    """The refusal of a key longer than storage allows, or None when it fits."""
    if len(key) > MAX_KEY_BYTES:
        return replies.invalid(
            replies.KEY_TOO_LONG, f"key of {len(key)} bytes; the limit is {MAX_KEY_BYTES}"
        )
    return None


def request_refusal(key: bytes, value: bytes | None, max_value_bytes: int) -> dict[str, Any] | None:
    """The refusal of a request whose key or value is too large, or None when both fit.

    The value limit is each node's own setting ([limits] max_value_bytes), so it is checked
    where a request arrives, never while applying the log: a committed command must apply
    the same way on every replica, whatever their role files say.
    """
    refusal = key_refusal(key)
    if refusal is None and value is not None and len(value) > max_value_bytes:
        refusal = replies.invalid(
            replies.VALUE_TOO_LARGE,
            f"value of {len(value)} bytes exceeds the limit of {max_value_bytes} bytes "
            "(max_value_bytes)",
        )
    return refusal

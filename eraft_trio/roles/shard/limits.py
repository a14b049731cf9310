"""The key limit as the state machine applies it: a result dict (replies.py), not a reply."""

from __future__ import annotations

from typing import Any

from eraft_trio.protocol import limits
from eraft_trio.roles.shard import replies


def key_refusal(key: bytes) -> dict[str, Any] | None:
    """The refusal of a key longer than storage allows, or None when it fits."""
    refusal = limits.key_refusal(key)
    return None if refusal is None else replies.invalid(refusal.code, refusal.message)

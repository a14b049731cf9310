"""A KvTxn as the leader takes it: checked before it costs a log entry, then the log
command to propose; and the state machine's result as the reply sent back."""

from __future__ import annotations

from typing import Any

from eraft_trio.protocol.errors import ErrorReply
from eraft_trio.protocol.txn import KvTxn, TxnDone
from eraft_trio.protocol.txn_limits import bucket_refusal, shape_refusal
from eraft_trio.roles.shard import replies
from eraft_trio.roles.shard.txn_command import Txn


def txn_command(
    body: KvTxn, max_value_bytes: int, nbuckets: int, stamp_ms: int
) -> Txn | ErrorReply:
    """The command for `body`, or its refusal (bad_request, key_too_long,
    value_too_large, cross_bucket); `nbuckets` 0 when this group has no config yet
    (the state machine then answers wrong_group)."""
    refusal = shape_refusal(body, max_value_bytes)
    if refusal is None and nbuckets:
        refusal = bucket_refusal(body, nbuckets)
    if refusal is not None:
        return refusal
    return Txn(
        body.client_id,
        body.seq,
        tuple(body.compares),
        tuple(body.success),
        tuple(body.failure),
        stamp_ms,
        body.new_session,
    )


def to_txn_done(result: dict[str, Any]) -> TxnDone | ErrorReply:
    """A txn's result (txn.py) as sent; a late duplicate's bare ok is revision 0."""
    return replies.error_of(result) or TxnDone(
        bool(result.get("succeeded")), result.get("revision", 0), result.get("results", [])
    )

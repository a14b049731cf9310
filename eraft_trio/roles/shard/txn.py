"""Transactions within one bucket: compare, then apply the success or the failure ops, all
in one log entry, exactly once per client seq (as writes.py does for a put).

The answer (stored with the session, so a retry is answered, never run again):
  {"ok": True, "succeeded": bool, "revision": r (tables.revision_for), "results": [...]}
one result per op of the list that ran, in order:
  {"op": "get", "value", "version", "mod_revision"}   (None, 0, 0: absent)
  {"op": "put", "version"}                            (the key's version after it)
  {"op": "delete", "deleted": bool}                   (whether the key existed)
Refusals, nothing written: wrong_group, key_too_long, session_expired as for a put;
cross_bucket when the keys are in several buckets (the leader refuses that before
logging; this is the log's own guard); value_too_large when the gets would answer more
than txn_limits.MAX_READ_BYTES of values (a refusal is not stored with the session: a
retry runs again).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eraft_trio.protocol.errors import ErrorCode
from eraft_trio.protocol.txn import TxnCompare, TxnOp
from eraft_trio.protocol.txn_limits import MAX_READ_BYTES, buckets_of, cross_bucket_message
from eraft_trio.roles.shard import replies, serving, tables
from eraft_trio.roles.shard.buckets import BucketState
from eraft_trio.roles.shard.limits import key_refusal
from eraft_trio.roles.shard.sessions import GoAhead, check_session, second_of, store_reply
from eraft_trio.roles.shard.tables import Entry
from eraft_trio.roles.shard.txn_command import Txn
from eraft_trio.storage.view import TableView


def apply_txn(view: TableView, index: int, command: Txn) -> dict[str, Any]:
    """Apply a txn at log index `index` (its revision: tables.revision_for), or repeat the
    reply to a retry."""
    keys = [c.key for c in command.compares]
    keys += [op.key for op in (*command.success, *command.failure)]
    for key in keys:
        refusal = key_refusal(key)
        if refusal is not None:
            return refusal
    now_s = second_of(tables.advance_now(view, command.stamp_ms))
    config = tables.current_config(view)
    if not config.buckets:
        return replies.refusal(replies.WRONG_GROUP, config.num)
    found = buckets_of(keys, len(config.buckets))
    if len(found) != 1:
        if not found:
            return replies.invalid(replies.BAD_COMMAND, "a txn that names no key")
        return replies.invalid(ErrorCode.CROSS_BUCKET, cross_bucket_message(found))
    (bucket,) = found
    served = serving.served(view, config, bucket)
    if isinstance(served, dict):
        return served
    state = served.state

    # The session rules of writes.apply_write: a retry gets its first answer again.
    check = check_session(view, bucket, command, "the txn")
    if not isinstance(check, GoAhead):
        return check
    # Every change of the txn shares the entry's revision in the bucket (tables.revision_for).
    reply = _run(view, tables.revision_for(view, bucket, index), bucket, state, command)
    if reply.get("ok"):  # a refusal (value_too_large) wrote nothing and is not kept
        store_reply(view, bucket, command, reply, now_s, check)
    return reply


def _run(
    view: TableView, revision: int, bucket: int, state: BucketState, command: Txn
) -> dict[str, Any]:
    """Compare, run one list against an overlay of its own writes, then write them."""
    overlay: dict[bytes, Entry | None] = {}

    def current(key: bytes) -> Entry | None:
        if key in overlay:
            return overlay[key]
        return tables.get_entry(view, bucket, key)

    succeeded = all(holds(compare, current(compare.key)) for compare in command.compares)
    results: list[dict[str, Any]] = []
    read_bytes = 0
    for op in command.success if succeeded else command.failure:
        entry = current(op.key)
        if op.kind == "get":
            read_bytes += 0 if entry is None else len(entry.value)
            if read_bytes > MAX_READ_BYTES:
                return replies.invalid(
                    replies.VALUE_TOO_LARGE,
                    f"the txn's gets read more than {MAX_READ_BYTES} bytes of values; "
                    "nothing was written (read large values with get)",
                )
            results.append(_get_result(entry))
        elif op.kind == "put":
            version = (0 if entry is None else entry.version) + 1
            overlay[op.key] = Entry(_value_of(op), version, revision)
            results.append({"op": "put", "version": version})
        else:
            overlay[op.key] = None
            results.append({"op": "delete", "deleted": entry is not None})
    _write(view, bucket, state, overlay, revision)
    return {"ok": True, "succeeded": succeeded, "revision": revision, "results": results}


def _write(
    view: TableView,
    bucket: int,
    state: BucketState,
    overlay: dict[bytes, Entry | None],
    revision: int,
) -> None:
    """Store each written key's final entry (through tables' put/delete, which every key
    change goes through) and keep the bucket's key count."""
    keys = state.keys
    for key, entry in overlay.items():
        existed = tables.get_version(view, bucket, key) > 0
        if entry is None:
            if existed:
                tables.delete_entry(view, bucket, key, revision)
                keys -= 1
        else:
            tables.put_entry(view, bucket, key, entry.value, entry.version, entry.mod_revision)
            keys += not existed
    if keys != state.keys:
        tables.store_bucket_state(view, bucket, replace(state, keys=keys))


def _value_of(op: TxnOp) -> bytes:
    assert op.value is not None  # the decoder checks a put has its value
    return op.value


def _get_result(entry: Entry | None) -> dict[str, Any]:
    if entry is None:
        return {"op": "get", "value": None, "version": 0, "mod_revision": 0}
    return {
        "op": "get",
        "value": entry.value,
        "version": entry.version,
        "mod_revision": entry.mod_revision,
    }


def holds(compare: TxnCompare, entry: Entry | None) -> bool:
    """Whether the key as stored (None: absent) passes the compare. An absent key has
    version and mod revision 0; any compare of its value fails (etcd's rule)."""
    actual: int | bytes
    if compare.target == "value":
        if entry is None:
            return False
        actual = entry.value
    elif compare.target == "version":
        actual = 0 if entry is None else entry.version
    else:
        actual = 0 if entry is None else entry.mod_revision
    operand = compare.operand
    if type(actual) is not type(operand):
        return False  # the decoder pairs types with targets; this is its backstop
    match compare.op:
        case "==":
            return actual == operand
        case "!=":
            return actual != operand
        case "<":
            return actual < operand  # type: ignore[operator]
        case ">":
            return actual > operand  # type: ignore[operator]
    return False

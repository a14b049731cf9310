"""Transactions within one bucket (type ids 92-95): compares, then the success or the
failure list of operations, applied atomically by one log entry of the owning group.

A `KvTxn` holds `compares` (each a `TxnCompare`), and the `success` and `failure` lists
of `TxnOp`. The group evaluates every compare against the keys as stored; when all hold
it applies `success`, else `failure`, in order (a get sees the writes before it in the
same list). Every key, of the compares and of both lists, must be in one bucket (hash
tags, keys.py): a txn naming keys of several buckets is refused `cross_bucket` before
it is logged. It is exactly-once through (client_id, seq), as a KvPut.

The answer is `TxnDone(succeeded, revision, results)`: one result per op of the list
that ran, a plain map (shapes in `roles/shard/txn.py`, docs/protocol.md).

Limits (`txn_limits.py`) are checked by the client and again by the leader before logging.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# What a compare looks at, and how.
TARGETS = ("version", "value", "mod_revision")
OPERATORS = ("==", "!=", "<", ">")
# What an op does.
OP_KINDS = ("put", "delete", "get")


@dataclass(frozen=True, slots=True)
class TxnCompare:
    """`target` of `key` `op` `operand`: an int for version and mod_revision (0 when the
    key is absent), bytes for value (compared bytewise; any compare of the value of an
    absent key fails, as in etcd)."""

    key: bytes
    target: str
    op: str
    operand: int | bytes


@dataclass(frozen=True, slots=True)
class TxnOp:
    """`kind` put (with `value`), delete or get of `key`."""

    kind: str
    key: bytes
    value: bytes | None = None


@dataclass(frozen=True, slots=True)
class KvTxn:
    client_id: int
    seq: int
    compares: tuple[TxnCompare, ...]
    success: tuple[TxnOp, ...]
    failure: tuple[TxnOp, ...]
    new_session: bool | None = None


@dataclass(frozen=True, slots=True)
class TxnDone:
    """The answer to KvTxn: whether every compare held (so `success` ran, else `failure`),
    the txn's revision (its log index; its writes, if any, carry it) and one result per op
    that ran: {"op": "get", "value", "version", "mod_revision"} (null, 0, 0: absent),
    {"op": "put", "version"} or {"op": "delete", "deleted"}. Revision 0 with no results:
    a late duplicate of a write older than its session's latest, which changed nothing."""

    succeeded: bool
    revision: int
    results: list[dict[str, Any]]

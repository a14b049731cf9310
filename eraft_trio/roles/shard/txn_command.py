"""The transaction log command (tag 8) and its list form; commands.py dispatches to it.

`[8, client_id, seq, stamp_ms, new_session, compares, success, failure]`, a compare
`[key, target, op, operand]` and an op `[kind, key, value or nil]` (strings as in
protocol/txn.py). The decoder checks shapes and types only; which branch runs, and
whether the bucket is served, is decided when applying (txn.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eraft_trio.protocol.txn import OP_KINDS, OPERATORS, TARGETS, TxnCompare, TxnOp

TXN_TAG = 8
_MAX_ID = 2**64 - 1
_MAX_INT = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Txn:
    """Compare, then apply `success` or `failure`; (client_id, seq) makes it exactly-once.

    `stamp_ms` and `new_session` as for Put (commands.py)."""

    client_id: int
    seq: int
    compares: tuple[TxnCompare, ...]
    success: tuple[TxnOp, ...]
    failure: tuple[TxnOp, ...]
    stamp_ms: int | None = None
    new_session: bool | None = None


def txn_fields(txn: Txn) -> list[Any]:
    return [
        TXN_TAG,
        txn.client_id,
        txn.seq,
        txn.stamp_ms,
        txn.new_session,
        [[bytes(c.key), c.target, c.op, c.operand] for c in txn.compares],
        [_op_fields(op) for op in txn.success],
        [_op_fields(op) for op in txn.failure],
    ]


def _op_fields(op: TxnOp) -> list[Any]:
    return [op.kind, bytes(op.key), None if op.value is None else bytes(op.value)]


def txn_from_body(body: list[Any]) -> Txn:
    """The Txn of a command's fields after the tag; ValueError for anything else."""
    if len(body) != 7:
        raise ValueError(
            "a txn is [8, client, seq, stamp, new_session, compares, success, failure]"
        )
    client_id, seq, stamp_ms, new_session, compares, success, failure = body
    if not _is_int(client_id) or not 0 <= client_id <= _MAX_ID:
        raise ValueError(f"client id {client_id!r} is not in 0 .. 2**64-1")
    if not _is_int(seq) or seq < 0:
        raise ValueError(f"seq {seq!r} is not a non-negative integer")
    if stamp_ms is not None and (not _is_int(stamp_ms) or not 0 <= stamp_ms <= _MAX_INT):
        raise ValueError(f"stamp {stamp_ms!r} is not in 0 .. 2**63-1")
    if new_session is not None and not isinstance(new_session, bool):
        raise ValueError("new_session must be a boolean or nil")
    return Txn(
        client_id,
        seq,
        tuple(_compare(fields) for fields in _list(compares, "compares")),
        tuple(_op(fields) for fields in _list(success, "success")),
        tuple(_op(fields) for fields in _list(failure, "failure")),
        stamp_ms,
        new_session,
    )


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"txn {what} must be a list")
    return value


def _compare(fields: Any) -> TxnCompare:
    if not isinstance(fields, list) or len(fields) != 4:
        raise ValueError("a compare is [key, target, op, operand]")
    key, target, op, operand = fields
    if not isinstance(key, bytes) or target not in TARGETS or op not in OPERATORS:
        raise ValueError(f"bad compare {fields!r}")
    if target == "value":
        if not isinstance(operand, bytes):
            raise ValueError("a value compare needs bytes")
    elif not _is_int(operand) or not 0 <= operand <= _MAX_INT:
        raise ValueError(f"a {target} compare needs an integer in 0 .. 2**63-1")
    return TxnCompare(key, target, op, operand)


def _op(fields: Any) -> TxnOp:
    if not isinstance(fields, list) or len(fields) != 3:
        raise ValueError("an op is [kind, key, value]")
    kind, key, value = fields
    if kind not in OP_KINDS or not isinstance(key, bytes):
        raise ValueError(f"bad op {fields!r}")
    if (kind == "put") != isinstance(value, bytes) or (kind != "put" and value is not None):
        raise ValueError(f"a {kind} op with value {value!r}")
    return TxnOp(kind, key, value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

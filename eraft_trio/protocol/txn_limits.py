"""What a transaction may hold, and the refusals that say what it exceeds or gets wrong.

The client checks a txn before sending it and the leader checks it again before it
costs a log entry (docs/reference.md, "Transactions"); the shard state machine checks
only what must hold in the log itself (one bucket, key lengths), since the byte limit
is each node's own setting.

- at most MAX_COMPARES compares and MAX_OPS ops in each of success and failure;
- the keys, values and compared values together at most `max_value_bytes` (the node's
  [limits] max_value_bytes), so a txn fits the frame a put of the largest value fits;
- a key is written (put or delete) at most once per list, as in etcd;
- every key in one bucket: `cross_bucket` otherwise, naming the buckets.
The values a txn's gets read are capped too, while applying (MAX_READ_BYTES), since its
answer is stored with the client's session and moves with the bucket.
"""

from __future__ import annotations

from collections.abc import Iterable

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.keys import bucket_of
from eraft_trio.protocol.limits import key_refusal
from eraft_trio.protocol.txn import OP_KINDS, OPERATORS, TARGETS, KvTxn, TxnCompare, TxnOp

MAX_COMPARES = 64
MAX_OPS = 64
# The largest total of the values one txn's gets may answer; a fixed number (not a
# node setting) because it is checked while applying, which must go alike everywhere.
MAX_READ_BYTES = 1 << 20
MAX_VERSION = 2**63 - 1


def _bad(message: str) -> ErrorReply:
    return ErrorReply(ErrorCode.BAD_REQUEST, message)


def keys_of(txn: KvTxn) -> list[bytes]:
    """Every key the txn names, compares first, in order (repeats kept)."""
    return [c.key for c in txn.compares] + [op.key for op in (*txn.success, *txn.failure)]


def shape_refusal(txn: KvTxn, max_value_bytes: int) -> ErrorReply | None:
    """The refusal of a malformed or oversize txn, or None when it is well formed."""
    if len(txn.compares) > MAX_COMPARES:
        return _bad(f"{len(txn.compares)} compares; a txn may hold {MAX_COMPARES}")
    for name, ops in (("success", txn.success), ("failure", txn.failure)):
        if len(ops) > MAX_OPS:
            return _bad(f"{len(ops)} {name} ops; a txn may hold {MAX_OPS} in each list")
    if not txn.compares and not txn.success and not txn.failure:
        return _bad("an empty txn: give compares or ops")
    total = 0
    for compare in txn.compares:
        refusal = _compare_refusal(compare)
        if refusal is not None:
            return refusal
        total += len(compare.key) + (
            len(compare.operand) if isinstance(compare.operand, bytes) else 0
        )
    for name, ops in (("success", txn.success), ("failure", txn.failure)):
        refusal = _ops_refusal(name, ops)
        if refusal is not None:
            return refusal
        total += sum(len(op.key) + len(op.value or b"") for op in ops)
    if total > max_value_bytes:
        return ErrorReply(
            ErrorCode.VALUE_TOO_LARGE,
            f"a txn of {total} bytes of keys and values exceeds the limit of "
            f"{max_value_bytes} bytes (max_value_bytes)",
        )
    return None


def _compare_refusal(compare: TxnCompare) -> ErrorReply | None:
    refusal = key_refusal(compare.key)
    if refusal is not None:
        return refusal
    if compare.target not in TARGETS:
        return _bad(f"compare target {compare.target!r}: one of {', '.join(TARGETS)}")
    if compare.op not in OPERATORS:
        return _bad(f"compare operator {compare.op!r}: one of {' '.join(OPERATORS)}")
    if compare.target == "value":
        if not isinstance(compare.operand, bytes):
            return _bad(f"a value compare of {compare.key!r} needs bytes to compare with")
    elif (
        not isinstance(compare.operand, int)
        or isinstance(compare.operand, bool)
        or not 0 <= compare.operand <= MAX_VERSION
    ):
        return _bad(f"a {compare.target} compare of {compare.key!r} needs an integer >= 0")
    return None


def _ops_refusal(name: str, ops: Iterable[TxnOp]) -> ErrorReply | None:
    written: set[bytes] = set()
    for op in ops:
        refusal = key_refusal(op.key)
        if refusal is not None:
            return refusal
        if op.kind not in OP_KINDS:
            return _bad(f"{name} op {op.kind!r}: one of {', '.join(OP_KINDS)}")
        if (op.kind == "put") != (op.value is not None):
            return _bad(
                f"a {op.kind} of {op.key!r} "
                + ("needs a value" if op.kind == "put" else "takes no value")
            )
        if op.kind != "get":
            if op.key in written:
                return _bad(f"{op.key!r} is written twice in the {name} list")
            written.add(op.key)
    return None


def buckets_of(keys: Iterable[bytes], nbuckets: int) -> dict[int, bytes]:
    """Each bucket the keys fall in, with the first key found there."""
    found: dict[int, bytes] = {}
    for key in keys:
        found.setdefault(bucket_of(key, nbuckets), key)
    return found


def cross_bucket_message(found: dict[int, bytes]) -> str:
    named = ", ".join(f"{key!r} in bucket {bucket}" for bucket, key in sorted(found.items()))
    return (
        f"a txn's keys must share one bucket, these are in {len(found)}: {named} "
        "(give related keys one hash tag, as user{42}:name and user{42}:email)"
    )


def bucket_refusal(txn: KvTxn, nbuckets: int) -> ErrorReply | None:
    """`cross_bucket` when the txn's keys fall in more than one of `nbuckets` buckets."""
    found = buckets_of(keys_of(txn), nbuckets)
    if len(found) > 1:
        return ErrorReply(ErrorCode.CROSS_BUCKET, cross_bucket_message(found))
    return None

"""Transactions for the clients: builders for compares and ops, the typed result, and the
call itself (Client.txn and SyncClient.txn delegate here). docs/reference.md, "Transactions".

    from eraft_trio.client.txn import Compare, compare, delete_op, get_op, put_op

    result = await client.txn(
        compares=[Compare.version("user{42}:name") == 3],   # or compare(key, "version", "==", 3)
        success=[put_op("user{42}:name", "ann"), delete_op("user{42}:old")],
        failure=[get_op("user{42}:name")],
    )
    result.succeeded, result.revision, result.results   # one result per op that ran

Every key must be in one bucket (give related keys one hash tag, `user{42}:...`); a txn
across buckets raises BadRequest("cross_bucket") before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eraft_trio.client.results import DeleteResult, GetResult, PutResult
from eraft_trio.errors import BadRequest, EraftError
from eraft_trio.group_calls.deadline import Deadline
from eraft_trio.protocol.errors import ErrorCode
from eraft_trio.protocol.txn import KvTxn, TxnCompare, TxnDone, TxnOp
from eraft_trio.protocol.txn_limits import buckets_of, cross_bucket_message, keys_of, shape_refusal

if TYPE_CHECKING:
    from eraft_trio.client.kv_client import Client

__all__ = [
    "Compare",
    "TxnCompare",
    "TxnOp",
    "TxnResult",
    "compare",
    "delete_op",
    "get_op",
    "put_op",
    "run_txn",
]

OpResult = GetResult | PutResult | DeleteResult


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def compare(key: str | bytes, target: str, op: str, operand: int | str | bytes) -> TxnCompare:
    """`target` ("version", "value" or "mod_revision") of `key` `op` ("==", "!=", "<", ">")
    `operand` (an int for version and mod_revision, 0 when the key is absent; a str or
    bytes for value). A compare of the value of an absent key never holds."""
    if isinstance(operand, str):
        operand = operand.encode()
    return TxnCompare(_bytes(key), target, op, operand)


class Compare:
    """`Compare.version(key) == 3`, `Compare.value(key) != "x"`, `Compare.mod_revision(key) < 9`:
    the same compares as `compare(...)`, written as comparisons."""

    __slots__ = ("_key", "_target")

    def __init__(self, key: str | bytes, target: str) -> None:
        self._key, self._target = _bytes(key), target

    @classmethod
    def version(cls, key: str | bytes) -> Compare:
        return cls(key, "version")

    @classmethod
    def value(cls, key: str | bytes) -> Compare:
        return cls(key, "value")

    @classmethod
    def mod_revision(cls, key: str | bytes) -> Compare:
        return cls(key, "mod_revision")

    def __eq__(self, operand: object) -> TxnCompare:  # type: ignore[override]
        return compare(self._key, self._target, "==", _operand(operand))

    def __ne__(self, operand: object) -> TxnCompare:  # type: ignore[override]
        return compare(self._key, self._target, "!=", _operand(operand))

    def __lt__(self, operand: int | str | bytes) -> TxnCompare:
        return compare(self._key, self._target, "<", operand)

    def __gt__(self, operand: int | str | bytes) -> TxnCompare:
        return compare(self._key, self._target, ">", operand)

    __hash__ = None  # type: ignore[assignment]  # == builds a compare, it is no equality


def _operand(value: object) -> int | str | bytes:
    if not isinstance(value, int | str | bytes):
        raise BadRequest("bad_request", f"a compare operand is an int, str or bytes: {value!r}")
    return value


def put_op(key: str | bytes, value: str | bytes) -> TxnOp:
    return TxnOp("put", _bytes(key), _bytes(value))


def delete_op(key: str | bytes) -> TxnOp:
    return TxnOp("delete", _bytes(key))


def get_op(key: str | bytes) -> TxnOp:
    return TxnOp("get", _bytes(key))


@dataclass(frozen=True, slots=True)
class TxnResult:
    """Whether every compare held (the success ops ran; else the failure ops), the txn's
    revision (its writes carry it) and one result per op that ran, in order: a GetResult
    for a get (as the txn saw the key), a PutResult for a put, a DeleteResult for a delete."""

    succeeded: bool
    revision: int
    results: tuple[OpResult, ...]

    @classmethod
    def from_reply(cls, reply: Any) -> TxnResult:
        if type(reply) is not TxnDone:
            raise EraftError(f"a txn answered {type(reply).__name__}")
        return cls(
            reply.succeeded,
            reply.revision,
            tuple(_op_result(result, reply.revision) for result in reply.results),
        )


def _op_result(result: dict[str, Any], revision: int) -> OpResult:
    kind = result.get("op")
    if kind == "get":
        value = result["value"]
        return GetResult(
            None if value is None else bytes(value), result["version"], result["mod_revision"]
        )
    if kind == "put":
        return PutResult(revision, result["version"])
    if kind == "delete":
        return DeleteResult(revision, bool(result["deleted"]))
    raise EraftError(f"a txn answered an op result {result!r}")


async def run_txn(
    client: Client,
    compares: Iterable[TxnCompare],
    success: Iterable[TxnOp],
    failure: Iterable[TxnOp],
) -> TxnResult:
    """Check the txn as the leader would (limits, one bucket), then send it as a write."""
    request = KvTxn(0, 0, tuple(compares), tuple(success), tuple(failure))
    refusal = shape_refusal(request, client.max_value_bytes)
    if refusal is not None:
        raise BadRequest(refusal.code, refusal.message)
    keys = keys_of(request)
    # The bucket count is fixed for the cluster's life, so any config we hold tells it.
    config = client.config or await client._refresh_config(Deadline(client.timeout), -1)
    found = buckets_of(keys, len(config["buckets"]))
    if len(found) > 1:
        raise BadRequest(ErrorCode.CROSS_BUCKET, cross_bucket_message(found))

    def make(client_id: int, seq: int, new_session: bool) -> KvTxn:
        return KvTxn(
            client_id, seq, request.compares, request.success, request.failure, new_session
        )

    return TxnResult.from_reply(await client._write(keys[0], make))

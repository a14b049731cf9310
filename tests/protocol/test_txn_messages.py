"""Transaction messages on the wire, the limits checked before sending and before
logging, and the client's builders and typed result."""

from __future__ import annotations

import pytest

from eraft_trio.client.results import DeleteResult, GetResult, PutResult
from eraft_trio.client.txn import Compare, TxnResult, compare, delete_op, get_op, put_op
from eraft_trio.errors import BadRequest
from eraft_trio.protocol.errors import ErrorCode
from eraft_trio.protocol.keys import bucket_of
from eraft_trio.protocol.txn import KvTxn, TxnCompare, TxnDone, TxnOp
from eraft_trio.protocol.txn_limits import (
    MAX_COMPARES,
    MAX_OPS,
    bucket_refusal,
    shape_refusal,
)
from eraft_trio.transport import codec
from eraft_trio.transport.errors import ProtocolError


def test_a_txn_and_its_answer_round_trip_through_the_codec() -> None:
    txn = KvTxn(
        9,
        3,
        (TxnCompare(b"k", "version", "==", 2), TxnCompare(b"k", "value", "<", b"z")),
        (TxnOp("put", b"k", b"v"), TxnOp("get", b"k")),
        (TxnOp("delete", b"k"),),
        True,
    )
    assert codec.decode(codec.encode(txn)) == txn
    done = TxnDone(True, 17, [{"op": "get", "value": b"v", "version": 1, "mod_revision": 17}])
    assert codec.decode(codec.encode(done)) == done


def test_a_malformed_txn_is_refused_by_the_codec() -> None:
    bad = KvTxn(9, 3, ("not a compare",), (), ())  # type: ignore[arg-type]
    with pytest.raises(ProtocolError):
        codec.decode(codec.encode(bad))


def test_the_builders_make_the_same_compares() -> None:
    assert (Compare.version("k") == 3) == compare("k", "version", "==", 3)
    assert (Compare.value(b"k") != "x") == TxnCompare(b"k", "value", "!=", b"x")
    assert (Compare.mod_revision("k") < 9) == TxnCompare(b"k", "mod_revision", "<", 9)
    assert (Compare.value("k") > b"a") == TxnCompare(b"k", "value", ">", b"a")
    assert put_op("k", "v") == TxnOp("put", b"k", b"v")
    assert delete_op("k") == TxnOp("delete", b"k")
    assert get_op(b"k") == TxnOp("get", b"k")
    with pytest.raises(BadRequest):
        Compare.version("k") == 1.5  # noqa: B015


def txn(compares=(), success=(), failure=()) -> KvTxn:  # type: ignore[no-untyped-def]
    return KvTxn(1, 1, tuple(compares), tuple(success), tuple(failure))


@pytest.mark.parametrize(
    ("request_", "code", "words"),
    [
        (txn(), ErrorCode.BAD_REQUEST, "empty"),
        (txn([compare("k", "size", "==", 1)]), ErrorCode.BAD_REQUEST, "target"),
        (txn([compare("k", "version", "=", 1)]), ErrorCode.BAD_REQUEST, "operator"),
        (txn([compare("k", "version", "==", b"1")]), ErrorCode.BAD_REQUEST, "integer"),
        (txn([compare("k", "version", "==", -1)]), ErrorCode.BAD_REQUEST, "integer"),
        (txn([compare("k", "value", "==", 1)]), ErrorCode.BAD_REQUEST, "bytes"),
        (txn(success=[TxnOp("put", b"k")]), ErrorCode.BAD_REQUEST, "needs a value"),
        (txn(success=[TxnOp("get", b"k", b"v")]), ErrorCode.BAD_REQUEST, "takes no value"),
        (txn(success=[TxnOp("swap", b"k")]), ErrorCode.BAD_REQUEST, "one of"),
        (txn(success=[put_op("k", "1"), delete_op("k")]), ErrorCode.BAD_REQUEST, "twice"),
        (txn(success=[get_op("k" * 501)]), ErrorCode.KEY_TOO_LONG, "limit"),
        (
            txn([compare("k", "version", "==", 0)] * (MAX_COMPARES + 1)),
            ErrorCode.BAD_REQUEST,
            "compares",
        ),
        (txn(failure=[get_op("k")] * (MAX_OPS + 1)), ErrorCode.BAD_REQUEST, "failure"),
        (
            txn(success=[put_op("a", "x" * 600), put_op("b", "y" * 600)]),
            ErrorCode.VALUE_TOO_LARGE,
            "1000",
        ),
    ],
)
def test_malformed_or_oversize_txns_are_refused(
    request_: KvTxn, code: ErrorCode, words: str
) -> None:
    refusal = shape_refusal(request_, max_value_bytes=1000)
    assert refusal is not None and refusal.code is code
    assert words in refusal.message


def test_the_same_key_may_be_written_once_in_each_list_and_read_often() -> None:
    fine = txn(
        [compare("k", "version", "==", 0)],
        [put_op("k", "1"), get_op("k"), get_op("k")],
        [delete_op("k")],
    )
    assert shape_refusal(fine, max_value_bytes=1000) is None


def test_keys_in_two_buckets_are_refused_naming_both() -> None:
    other = next(b"o%d" % n for n in range(100) if bucket_of(b"o%d" % n, 8) != bucket_of(b"k", 8))
    refusal = bucket_refusal(txn([compare("k", "version", "==", 0)], [delete_op(other)]), 8)
    assert refusal is not None and refusal.code is ErrorCode.CROSS_BUCKET
    assert f"bucket {bucket_of(b'k', 8)}" in refusal.message
    assert f"{other!r} in bucket {bucket_of(other, 8)}" in refusal.message
    tagged = txn(success=[put_op("u{7}:a", "1"), put_op("u{7}:b", "2")])
    assert bucket_refusal(tagged, 8) is None


def test_the_answer_becomes_typed_results() -> None:
    done = TxnDone(
        False,
        30,
        [
            {"op": "get", "value": b"v", "version": 2, "mod_revision": 12},
            {"op": "get", "value": None, "version": 0, "mod_revision": 0},
            {"op": "put", "version": 3},
            {"op": "delete", "deleted": True},
        ],
    )
    assert TxnResult.from_reply(done) == TxnResult(
        False,
        30,
        (
            GetResult(b"v", 2, 12),
            GetResult(None, 0, 0),
            PutResult(30, 3),
            DeleteResult(30, True),
        ),
    )

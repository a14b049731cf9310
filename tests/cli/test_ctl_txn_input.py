"""`eraft ctl txn`'s reading of stdin: every document that is not a txn is bad input
(exit 2), never an exception that would exit 1, the code of a failed compare."""

from __future__ import annotations

import pytest

from eraft_trio.cli.ctl_txn import TxnInputError, parse_txn


def test_a_txn_document_parses() -> None:
    compares, success, failure, keys = parse_txn(
        '{"compare": [["a{1}", "version", "==", 0]], "success": [{"op": "put", "key": "a{1}",'
        ' "value": "x"}], "failure": [{"op": "get", "key": "a{1}"}]}',
        False,
    )
    assert len(compares) == 1 and len(success) == 1 and len(failure) == 1
    assert keys == (["a{1}"], ["a{1}"])


@pytest.mark.parametrize(
    "text",
    [
        '{"success": [{"op": "put", "key": "\\ud800", "value": "x"}]}',  # a lone surrogate
        '{"success": [{"op": "put", "key": "k", "value": "\\udfff"}]}',
        "[" * 100_000 + "]" * 100_000,  # nested past the recursion limit
        "not json",
        "[]",
    ],
)
def test_bad_input_is_a_txn_input_error(text: str) -> None:
    with pytest.raises(TxnInputError):
        parse_txn(text, False)

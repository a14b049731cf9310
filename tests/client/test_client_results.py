"""The client's compare-and-set keywords and how it reads the groups' answers into results."""

from __future__ import annotations

import pytest

from eraft_trio.client.kv_client import write_condition
from eraft_trio.client.results import CasResult, DeleteResult, GetResult, PutResult
from eraft_trio.errors import BadRequest, EraftError
from eraft_trio.protocol.replies import CompareFailed, Value, VersionedValue, Written


def test_at_most_one_condition_and_if_absent_is_version_zero() -> None:
    assert write_condition(None, False, None) == (None, None)
    assert write_condition(None, True, None) == (0, None)
    assert write_condition(3, False, None) == (3, None)
    assert write_condition(None, False, "v") == (None, b"v")
    for bad in [(1, True, None), (1, False, b"v"), (None, True, b"v"), (-1, False, None)]:
        with pytest.raises(BadRequest):
            write_condition(*bad)


def test_cas_results_from_answers() -> None:
    failed = CompareFailed(b"a", 2, 9)
    assert CasResult.from_reply(failed, b"new") == CasResult(False, None, GetResult(b"a", 2, 9))
    put = Written(revision=12, version=3)
    assert CasResult.from_reply(put, b"new") == CasResult(True, 12, GetResult(b"new", 3, 12))
    deleted = Written(revision=13, deleted=True)
    assert CasResult.from_reply(deleted, None) == CasResult(True, 13, GetResult(None, 0, 0))
    assert GetResult.from_reply(VersionedValue(None, 0, 0)) == GetResult(None, 0, 0)
    with pytest.raises(EraftError):
        CasResult.from_reply(Value(b"a"), b"new")  # type: ignore[arg-type]


def test_plain_write_results_from_answers() -> None:
    assert PutResult.from_reply(Written(revision=5, version=1)) == PutResult(5, 1)
    assert DeleteResult.from_reply(Written(revision=6, deleted=False)) == DeleteResult(6, False)

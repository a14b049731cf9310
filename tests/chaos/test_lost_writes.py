"""The lost-write check: acknowledged writes that nothing overwrote must be in the final read."""

from __future__ import annotations

from eraft_trio.chaos.history import Op, Outcome
from eraft_trio.chaos.lost_writes import lost_writes

KEY = b"k"


def put(value: bytes, invoke: float, complete: float | None, outcome: Outcome = "ok") -> Op:
    return Op(1, "put", KEY, value, invoke, complete, outcome)


def test_last_write_in_the_final_read_is_not_lost() -> None:
    history = [put(b"a", 0, 1), put(b"b", 2, 3)]
    assert lost_writes(history, {KEY: b"b"}) == []


def test_acknowledged_write_missing_at_the_end_is_lost() -> None:
    history = [put(b"a", 0, 1), put(b"b", 2, 3)]
    lost = lost_writes(history, {KEY: b"a"})
    assert [report.op for report in lost] == [put(b"b", 2, 3)]
    assert "lost write" in lost[0].explain()
    assert "b'a'" in lost[0].explain()


def test_write_gone_missing_entirely_is_lost() -> None:
    lost = lost_writes([put(b"a", 0, 1)], {KEY: None})
    assert [report.final_value for report in lost] == [None]


def test_concurrent_writes_may_overwrite_each_other() -> None:
    history = [put(b"a", 0, 5), put(b"b", 1, 4)]
    assert lost_writes(history, {KEY: b"a"}) == []
    assert lost_writes(history, {KEY: b"b"}) == []


def test_a_later_timed_out_write_may_have_overwritten_it() -> None:
    history = [put(b"a", 0, 1), put(b"b", 2, None, "timeout")]
    assert lost_writes(history, {KEY: b"b"}) == []
    assert lost_writes(history, {KEY: b"a"}) == []


def test_a_later_failed_write_overwrote_nothing() -> None:
    history = [put(b"a", 0, 1), put(b"b", 2, 3, "fail")]
    assert [report.op for report in lost_writes(history, {KEY: b"b"})] == [put(b"a", 0, 1)]


def test_acknowledged_delete_undone_is_lost() -> None:
    delete = Op(2, "delete", KEY, None, 2, 3, "ok")
    assert [report.op for report in lost_writes([put(b"a", 0, 1), delete], {KEY: b"a"})] == [delete]


def test_keys_without_a_final_read_are_not_judged() -> None:
    history = [put(b"a", 0, 1), Op(1, "put", b"other", b"x", 0, 1, "ok")]
    assert lost_writes(history, {b"other": b"x"}) == []

"""The history recorder and the JSON-lines codec of histories."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from eraft_trio.chaos.history import HistoryRecorder, Op
from eraft_trio.chaos.history_jsonl import dump_history, load_history, read_history, save_history


class StepClock:
    """A clock that advances one unit per reading, so every time stamp is predictable."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_recorder_stamps_invoke_and_complete_times() -> None:
    recorder = HistoryRecorder(clock=StepClock())
    write = recorder.invoke(1, "put", b"k", b"v1")
    read = recorder.invoke(2, "get", b"k")
    recorder.complete(read, "ok", observed=b"v1")
    recorder.complete(write, "ok")
    assert recorder.ops() == [
        Op(1, "put", b"k", b"v1", 1.0, 4.0, "ok"),
        Op(2, "get", b"k", b"v1", 2.0, 3.0, "ok"),
    ]


def test_unanswered_ops_count_as_timed_out_with_no_completion() -> None:
    recorder = HistoryRecorder(clock=StepClock())
    recorder.invoke(1, "delete", b"k")
    assert recorder.pending_count == 1
    assert recorder.ops() == [Op(1, "delete", b"k", None, 1.0, None, "timeout")]


def test_a_failed_read_keeps_no_observed_value() -> None:
    recorder = HistoryRecorder(clock=StepClock())
    op = recorder.complete(recorder.invoke(1, "get", b"k"), "fail")
    assert op.value is None
    assert op.outcome == "fail"


def test_a_write_cannot_observe_a_value() -> None:
    recorder = HistoryRecorder(clock=StepClock())
    handle = recorder.invoke(1, "put", b"k", b"v")
    with pytest.raises(ValueError):
        recorder.complete(handle, "ok", observed=b"other")


@pytest.mark.parametrize(
    "fields",
    [
        dict(kind="put", value=None),
        dict(kind="delete", value=b"v"),
        dict(kind="scan"),
        dict(outcome="maybe"),
        dict(complete=None),
        dict(invoke=5.0, complete=4.0),
    ],
)
def test_malformed_ops_are_refused(fields: dict[str, object]) -> None:
    record: dict[str, object] = dict(
        process=1, kind="put", key=b"k", value=b"v", invoke=1.0, complete=2.0, outcome="ok"
    )
    record.update(fields)
    with pytest.raises(ValueError):
        Op(**record)  # type: ignore[arg-type]


ODD_BYTES = bytes(range(256))

HISTORY = [
    Op(1, "put", ODD_BYTES, ODD_BYTES, 0.1, 0.30000000000000004, "ok"),
    Op(2, "get", b"k", None, 1.0, 2.5, "ok"),
    Op(3, "delete", b"k", None, 3.0, None, "timeout"),
    Op(4, "get", b"k", None, 4.0, 5.0, "fail"),
]


def test_json_lines_round_trip_every_byte_and_time_exactly() -> None:
    stream = io.StringIO()
    dump_history(HISTORY, stream)
    assert stream.getvalue().count("\n") == len(HISTORY)
    stream.seek(0)
    assert load_history(stream) == HISTORY


def test_saved_history_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    save_history(path, HISTORY)
    assert read_history(path) == HISTORY

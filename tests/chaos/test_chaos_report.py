"""The chaos run's summary and exit code, on made-up results (no cluster needed), the lock
workload's verdict included."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

from eraft_trio.chaos.events import EventLog
from eraft_trio.chaos.history import Op
from eraft_trio.chaos.history_jsonl import read_history
from eraft_trio.chaos.linearizability import check
from eraft_trio.chaos.lock_check import Section, SectionOutcome, check_lock
from eraft_trio.chaos.lock_workload import LockSettings, LockWorkload
from eraft_trio.chaos.lost_writes import lost_writes
from eraft_trio.chaos.report import (
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_VIOLATION,
    exit_code,
    save_outputs,
    summary_lines,
)
from eraft_trio.chaos.runner import RunResult, RunSettings
from eraft_trio.chaos.topology import build_topology
from eraft_trio.chaos.workload import (
    FINAL_READ_PROCESS,
    WorkloadSettings,
    WorkloadStats,
    final_reads_of,
)

KEY = b"k00"


def result_of(history: list[Op], tmp_path: Path, keys: int = 1) -> RunResult:
    settings = RunSettings(
        duration=1.0,
        seed=7,
        faults=frozenset({"kill"}),
        shard_groups=2,
        folder=tmp_path,
        partitions=False,
        workload=WorkloadSettings(clients=1, keys=keys),
    )
    reads = final_reads_of(history)
    events = EventLog(stream=io.StringIO())
    events.fault("kill", "kill -9 g1-n0")
    return RunResult(
        settings=settings,
        topology=build_topology(tmp_path, 2),
        history=history,
        final_reads=reads,
        verdict=check(history),
        lost=lost_writes(history, reads),
        events=events,
        workload_stats=WorkloadStats(),
        membership={},
        unsettled=[],
        terms={0: 1, 1: 2, 2: 1},
        crashes={},
        elapsed=3.0,
    )


def put(value: bytes, start: float, end: float) -> Op:
    return Op(0, "put", KEY, value, start, end, "ok")


def final_get(value: bytes | None, start: float) -> Op:
    return Op(FINAL_READ_PROCESS, "get", KEY, value, start, start + 0.1, "ok")


def test_clean_history_is_ok(tmp_path: Path) -> None:
    result = result_of([put(b"a", 0, 1), final_get(b"a", 2)], tmp_path)
    assert exit_code(result) == EXIT_OK
    lines = summary_lines(result)
    assert lines[-1] == "verdict: OK"
    assert any(line.split()[:2] == ["final", "get"] for line in lines)
    assert "  kill                     1" in lines


def test_stale_final_read_is_a_violation_and_a_lost_write(tmp_path: Path) -> None:
    result = result_of([put(b"a", 0, 1), put(b"b", 2, 3), final_get(b"a", 4)], tmp_path)
    assert exit_code(result) == EXIT_VIOLATION
    assert [lost.op.value for lost in result.lost] == [b"b"]
    assert summary_lines(result)[-1] == "verdict: VIOLATION"


def test_a_key_without_final_read_is_inconclusive(tmp_path: Path) -> None:
    result = result_of([put(b"a", 0, 1), final_get(b"a", 2)], tmp_path, keys=2)
    assert exit_code(result) == EXIT_INCONCLUSIVE
    assert any("no final read for [b'k01']" in line for line in summary_lines(result))


def test_saved_history_keeps_the_final_reads(tmp_path: Path) -> None:
    history = [put(b"a", 0, 1), final_get(b"a", 2)]
    paths = save_outputs(result_of(history, tmp_path), tmp_path / "out" / "run.jsonl")
    assert read_history(paths[0]) == history
    assert final_reads_of(read_history(paths[0])) == {KEY: b"a"}
    assert "kill -9 g1-n0" in paths[1].read_text()


def with_lock(result: RunResult, sections: list[Section], counter: int | None) -> RunResult:
    settings = dataclasses.replace(result.settings, lock=LockSettings(workers=2))
    workload = LockWorkload.of(["127.0.0.11:1"], settings.lock or LockSettings())
    workload.sections.extend(sections)
    return dataclasses.replace(
        result, settings=settings, lock=check_lock(sections, counter), lock_workload=workload
    )


def held(worker: int, start: float, token: int, outcome: SectionOutcome = "acked") -> Section:
    return Section(worker, start, start + 1.0, token, 1, outcome)


def test_an_exact_lock_counter_keeps_the_run_ok(tmp_path: Path) -> None:
    clean = result_of([put(b"a", 0, 1), final_get(b"a", 2)], tmp_path)
    result = with_lock(clean, [held(0, 0, 10), held(1, 2, 12)], counter=2)
    assert exit_code(result) == EXIT_OK
    lines = summary_lines(result)
    assert any(line.startswith("lock: exact (2 workers") for line in lines)
    assert lines[-1] == "verdict: OK"


def test_a_lost_increment_is_a_violation_and_an_unknown_one_inconclusive(tmp_path: Path) -> None:
    clean = result_of([put(b"a", 0, 1), final_get(b"a", 2)], tmp_path)
    lost = with_lock(clean, [held(0, 0, 10), held(1, 2, 12)], counter=1)
    assert exit_code(lost) == EXIT_VIOLATION
    assert summary_lines(lost)[-1] == "verdict: VIOLATION"
    unknown = with_lock(clean, [held(0, 0, 10), held(1, 2, 12, "unknown")], counter=1)
    assert exit_code(unknown) == EXIT_INCONCLUSIVE
    assert any(line.startswith("lock: bounded") for line in summary_lines(unknown))


def test_the_lock_sections_are_saved_beside_the_history(tmp_path: Path) -> None:
    clean = result_of([put(b"a", 0, 1), final_get(b"a", 2)], tmp_path)
    result = with_lock(clean, [held(1, 2, 12), held(0, 0, 10)], counter=2)
    paths = save_outputs(result, tmp_path / "out" / "run.jsonl")
    assert [path.name for path in paths] == ["run.jsonl", "run.events.txt", "run.lock.jsonl"]
    rows = [json.loads(line) for line in paths[2].read_text().splitlines()]
    assert [(row["worker"], row["start"], row["token"]) for row in rows] == [(0, 0, 10), (1, 2, 12)]

"""tools/soak.py: its verdict on a run (throughput decay, memory growth) and its options."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import soak  # noqa: E402


def interval(minute: int, ops: float, rss: float) -> soak.Interval:
    return soak.Interval(minute, ops, 10.0, 30.0, {"n0": rss, "n1": 30.0}, {}, {})


def test_a_steady_run_passes() -> None:
    run = [interval(1, 2600, 38.9), interval(2, 2400, 40.0), interval(3, 2350, 41.7)]
    assert soak.verdict(run, allowance=32.0) == []


def test_the_last_interval_below_90_percent_of_the_first_is_decay() -> None:
    run = [interval(1, 2600, 38.9), interval(2, 2339, 38.9)]
    (problem,) = soak.verdict(run, allowance=32.0)
    assert problem.startswith("throughput") and "2,339" in problem and "2,600" in problem


def test_memory_growing_past_the_allowance_is_decay_and_names_the_node() -> None:
    run = [interval(1, 2600, 38.9), interval(2, 2600, 80.0)]
    (problem,) = soak.verdict(run, allowance=32.0)
    assert problem == "memory: n0 grew from 38.9 to 80.0 MiB"


def test_an_unreadable_memory_figure_is_not_taken_for_flat() -> None:
    run = [interval(1, 2600, 38.9), interval(2, 2600, float("nan"))]
    assert soak.verdict(run, allowance=32.0)[0].startswith("memory: n0")


@pytest.mark.parametrize("argv", [["--minutes", "1"], ["--interval", "2"], ["--clients", "0"]])
def test_runs_too_short_to_judge_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        soak.parse_args(argv)
    assert exited.value.code == 2

"""tools/simulate.py: progress, the final summary line, and replay instructions on a violation."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from eraft_trio.raft.log import RaftLog

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "simulate.py"


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("simulate_tool", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_clean_run_ends_with_the_summary_line() -> None:
    done = subprocess.run(
        [sys.executable, str(TOOL), "--seeds", "3", "--steps", "300", "--nodes", "3"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "3 seeds, 0 violations"


def test_cluster_mode_ends_with_the_summary_line() -> None:
    done = subprocess.run(
        [sys.executable, str(TOOL), "--cluster", "--seeds", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "1 seeds, 0 violations"


def test_bad_fault_name_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, str(TOOL), "--faults", "meteor"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 2
    assert "meteor" in done.stderr


def test_violation_prints_seed_invariant_and_replay_then_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Plant a bug: vote for any candidate, however stale its log (breaks §5.4.1).
    monkeypatch.setattr(RaftLog, "is_up_to_date", lambda self, index, term: True)
    tool = _load_tool()
    code = tool.main(["--seeds", "20", "--steps", "3000", "--no-liveness"])
    out = capsys.readouterr().out
    assert code == 1
    assert "VIOLATION of" in out
    replay = next(line for line in out.splitlines() if "replay:" in line)
    seed = replay.split("--seed-start ")[1].split()[0]
    assert f"seed {seed}: VIOLATION" in out
    assert out.strip().splitlines()[-1].endswith("seeds, 1 violations")

    # The replay command reproduces the same violation at the same step.
    argv = replay.split("replay: ")[1].split()[2:]
    assert tool.main(argv) == 1
    again = capsys.readouterr().out
    first_at = next(line for line in out.splitlines() if line.strip().startswith("at step"))
    assert first_at in again

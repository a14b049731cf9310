"""Per-stage tracing: off by default (no file), one line per stage in a process's own file
when ERAFT_STAGE_TRACE names a folder; tools/stage_trace.py reads stages off the timeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import stage_trace as tool  # noqa: E402

SCRIPT = """
from eraft_trio.transport import stage_trace
stage_trace.stage("propose", 7)
stage_trace.stage("applied", 7)
print(stage_trace.ENABLED)
"""


def run_script(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_tracing_is_off_unless_a_folder_is_named(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ERAFT_STAGE_TRACE"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert done.stdout.strip() == "False"
    assert list(tmp_path.iterdir()) == []


def test_each_stage_is_a_timestamped_line_in_the_process_file(tmp_path: Path) -> None:
    assert run_script({"ERAFT_STAGE_TRACE": str(tmp_path)}) == "True"
    (trace,) = tmp_path.glob("*.trace")
    lines = [line.split(" ") for line in trace.read_text().splitlines()]
    assert [(name, detail) for _, name, detail in lines] == [("propose", "7"), ("applied", "7")]
    assert int(lines[0][0]) <= int(lines[1][0])


def test_the_tool_takes_each_stage_once_per_operation_window(tmp_path: Path) -> None:
    (tmp_path / "1.trace").write_text(
        "100 client_send 1\n900 client_receive 1\n1000 client_send 2\n1500 client_receive 1\n"
    )
    (tmp_path / "2.trace").write_text(
        "300 server_receive 1\n400 propose 5\n950 propose 6\n1200 server_receive 1\n"
    )
    (tmp_path / "3.trace").write_text("500 follower_receive 5\n600 follower_receive 5\n")
    events = tool.read_traces(tmp_path)
    windows = tool.op_windows(events, client=1)
    assert windows == [(100, 900), (1000, 1500)]
    roles = {1: "client", 2: "leader", 3: "follower"}
    first = tool.stage_offsets(events, windows[0], roles)
    assert first == {
        "client client_send": 0.0,
        "leader server_receive": 0.2,
        "leader propose": 0.3,
        "follower follower_receive": 0.4,  # the first time only
        "client client_receive": 0.8,
    }
    second = tool.stage_offsets(events, windows[1], roles)
    assert "leader propose" not in second  # 950 fell between the two operations

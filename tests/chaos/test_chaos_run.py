"""Short chaos runs of tools/chaos.py as a user runs it: a clean verdict (the lock workload's
exact counter included), and nothing left behind.

Marked `chaos` (excluded from the default run): `pytest -m chaos tests/chaos`. They need
root for the network namespace; without it the tool falls back to kills and pauses.
CHAOS_SECONDS and CHAOS_SEED override the length and seed of the run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eraft_trio.chaos.netns import list_namespaces

pytestmark = pytest.mark.chaos

TOOL = Path(__file__).resolve().parents[2] / "tools" / "chaos.py"
SECONDS = float(os.environ.get("CHAOS_SECONDS", "40"))
SEED = os.environ.get("CHAOS_SEED", "20250101")


def chaos_command(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable, str(TOOL),
        "--history", str(tmp_path / "history.jsonl"),
        "--groups", "2",
        *extra,
    ]  # fmt: skip


def data_folder(output: str) -> Path:
    match = re.search(r"data in (\S+);", output)
    assert match, output
    return Path(match.group(1))


def namespace_of(pid: int) -> str:
    return f"eraft-chaos-{pid}"


@pytest.mark.timeout(SECONDS + 240)
def test_short_run_with_every_fault_finds_no_violation(tmp_path: Path) -> None:
    command = chaos_command(
        tmp_path,
        "--seconds", str(SECONDS),
        "--seed", SEED,
        "--faults", "all",
        "--lock-workers", "8",
    )  # fmt: skip
    namespaces_before = set(list_namespaces())
    proc = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS + 220)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "verdict: OK" in output
    assert "lost acknowledged writes: 0" in output
    ok = re.search(r"put\s+(\d+) /", output)
    assert ok and int(ok.group(1)) > 100, output  # the clients got real work done
    for kind in ("cas_put", "txn"):  # compare-and-sets checked as register ops too
        answered = re.search(rf"{kind}\s+(\d+) /", output)
        assert answered and int(answered.group(1)) > 0, output
    assert "members:" in output, output  # a node replaced or a group grown, under load
    # The lock workload beside it (issue 16): 8 workers, one counter, mutual exclusion only.
    assert "lock: exact" in output, output
    assert "overlapping sections: 0;" in output and "out of order 0" in output, output
    increments = re.search(r"(\d+) increments acknowledged, 0 unknown", output)
    assert increments and int(increments.group(1)) > 20, output
    assert (tmp_path / "history.jsonl").stat().st_size > 0
    assert not data_folder(output).exists()
    assert set(list_namespaces()) <= namespaces_before


@pytest.mark.timeout(180)
def test_interrupted_run_removes_everything(tmp_path: Path) -> None:
    command = chaos_command(tmp_path, "--seconds", "600", "--faults", "kill,partition")
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            lines.append(line)
            if "clients and nemesis start" in line or time.monotonic() > deadline:
                break
        time.sleep(3)  # let some ops and a fault or two happen
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines) + rest
    assert "clients and nemesis start" in output, output
    assert proc.returncode != 0
    assert "cleaned up" in output
    assert namespace_of(proc.pid) not in list_namespaces()
    assert not data_folder(output).exists()

"""The built wheel, installed in a fresh venv, runs `eraft local` from an empty folder.

Offline: the wheel is built without an isolated build environment (the test extra brings
setuptools) and installed without its dependencies; the venv reaches the dependencies this
test runs with through a path file, which adds their folder but not the editable install's
hook in it, so `eraft_trio` can only come from the wheel."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .local_run import LocalRun, alive, free_base_port

REPOSITORY = Path(__file__).resolve().parents[2]
BUILD_SECONDS = 180


def _run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=BUILD_SECONDS
    )
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _build_wheel(out: Path) -> Path:
    # From a copy of what the build reads, so the checkout gets no build/ folder and two
    # runs at once do not share one.
    source = out / "source"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPOSITORY / name, source / name)
    shutil.copytree(
        REPOSITORY / "eraft_trio",
        source / "eraft_trio",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    _run(*pip_wheel, "--no-index", "-w", out / "dist", source)
    (wheel,) = (out / "dist").glob("eraft_trio-*.whl")
    return wheel


def _venv_with(wheel: Path, venv: Path) -> Path:
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", python, "install"]
    _run(*install, "--no-deps", "--no-index", wheel)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(str(site).strip()) / "test-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return venv / "bin"


@pytest.fixture
def start_run(tmp_path: Path) -> Iterator[Callable[..., LocalRun]]:
    runs: list[LocalRun] = []

    def start(command: list[str], cwd: Path, name: str) -> LocalRun:
        # Its output goes to runs/NAME.out and .err, out of the folder it runs in.
        run = LocalRun(tmp_path / "runs" / name, name, command=command, cwd=cwd)
        runs.append(run)
        return run

    (tmp_path / "runs").mkdir()
    yield start
    for run in runs:
        run.cleanup()


def _stop(run: LocalRun) -> None:
    pids = run.children()
    assert len(pids) == 9, run.output()
    run.signal(signal.SIGINT)
    assert run.wait(timeout=60) == 0, run.output()
    assert [pid for pid in pids if alive(pid)] == [], "nodes left after Ctrl-C"
    assert "stopped 9 nodes" in run.output()


def test_the_wheel_runs_eraft_local_from_an_empty_folder(
    tmp_path: Path, start_run: Callable[..., LocalRun]
) -> None:
    bin_dir = _venv_with(_build_wheel(tmp_path / "build"), tmp_path / "venv")
    # Not from the checkout (python -c imports from its working folder first).
    where = _run(
        bin_dir / "python", "-c", "import eraft_trio; print(eraft_trio.__file__)", cwd=tmp_path
    )
    assert Path(where.strip()).is_relative_to(tmp_path / "venv"), where
    folder = tmp_path / "empty"
    folder.mkdir()
    base = free_base_port()
    servers = f"127.0.0.1:{base}"
    local = [str(bin_dir / "eraft"), "local", "--base-port", str(base)]
    ctl = [bin_dir / "eraft", "ctl", "-s", servers]

    first = start_run(local, folder, "first")
    first.wait_running()
    assert first.out.read_text().startswith("eraft local: a new cluster in eraft-local/ ")
    assert _run(*ctl, "put", "hello", "world") == "OK\n"
    assert _run(*ctl, "get", "hello") == "world\n"
    _stop(first)
    assert sorted(p.name for p in folder.iterdir()) == ["eraft-local"]

    second = start_run(local, folder, "second")
    second.wait_running()
    assert second.out.read_text().startswith("eraft local: resuming the cluster in eraft-local/")
    assert _run(*ctl, "get", "hello") == "world\n"
    _stop(second)

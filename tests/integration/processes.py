"""One `eraft node` child process: start, kill -9, SIGTERM, wait for exit, read its log."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import trio

# Only the node's own output goes to its log; the test's environment is passed through
# so the child runs the same interpreter and the same (editable) eraft_trio.
NODE_COMMAND = (sys.executable, "-m", "eraft_trio", "node")


class NodeProcess:
    """A node started from `role_path`, logging to `log_path` (appended across restarts).

    The child gets its own session and process group, so signals sent to the test's
    terminal never reach it and teardown can always kill it by its PID.
    """

    def __init__(self, role_path: Path, log_path: Path, log_level: str = "info") -> None:
        self.role_path = role_path
        self.log_path = log_path
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def crashed(self) -> bool:
        """It ended by itself with a failure code: a traceback exits 1, a refused start
        (bad role file, busy port, locked data) exits 2. Never true of a node we killed
        (-9) or stopped gracefully (0)."""
        return self.proc is not None and self.proc.poll() is not None and self.proc.returncode > 0

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.role_path.name} is already running (pid {self.pid})")
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} of {self.role_path.name}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [*NODE_COMMAND, "--config", str(self.role_path), "--log-level", self.log_level],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> int:
        """kill -9 and reap; returns the exit status (-9 unless it had already exited)."""
        self.send_kill()
        return self._require().wait(timeout=10)

    def send_kill(self) -> None:
        """kill -9 without waiting, so several nodes can die at the same moment."""
        proc = self._require()
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)

    def terminate(self, signum: int = signal.SIGTERM) -> None:
        """Ask for a graceful stop (SIGTERM or SIGINT); `wait_exit` collects the exit code."""
        proc = self._require()
        if proc.poll() is None:
            proc.send_signal(signum)

    async def wait_exit(self, timeout: float = 15.0) -> int:
        """The exit code once the process ends; TooSlowError past `timeout` (it is then killed)."""
        proc = self._require()
        try:
            with trio.fail_after(timeout):
                while proc.poll() is None:
                    await trio.sleep(0.02)
        except trio.TooSlowError:
            self.kill()
            raise
        return proc.returncode

    def cleanup(self) -> None:
        """Teardown: kill the process and anything in its process group, by PID only."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        # Its own session made its pgid equal to its pid: this targets nothing else.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _require(self) -> subprocess.Popen[bytes]:
        if self.proc is None:
            raise RuntimeError(f"{self.role_path.name} was never started")
        return self.proc

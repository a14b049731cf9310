"""`eraft node` child processes: start, kill -9, SIGSTOP / SIGCONT, SIGTERM, wait, clean up.

The one launcher of real node processes: the chaos runs (NodeSet), the end-to-end,
integration and security tests (tests/integration/cluster.py's ProcessGroup) and the
tools all start their nodes through NodeProcess.

Each node runs in its own session (its own process group), so a terminal's Ctrl-C
never reaches it and teardown can always kill it by PID. Its output is appended to a
log file beside its role file, across restarts, so a bug report can quote it. The
caller's environment is passed through, so the child runs the same interpreter and the
same (editable) eraft_trio.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import trio

from eraft_trio.chaos.topology import NodeSpec

NODE_COMMAND = (sys.executable, "-m", "eraft_trio", "node")
EXIT_POLL_SECONDS = 0.02


class NodeProcess:
    """A node started from `role_path`, logging to `log_path` (default: the role file's
    name with `.log`), appended across restarts. `role_path` may change between starts
    (a node replaced by a joiner keeps its name and log)."""

    def __init__(
        self,
        role_path: Path,
        log_path: Path | None = None,
        log_level: str = "info",
        *,
        name: str | None = None,
    ) -> None:
        self.role_path = role_path
        self.log_path = log_path or role_path.with_suffix(".log")
        self.log_level = log_level
        self.name = name or role_path.stem
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.starts = 0
        self.expect_exit = False  # set when we kill or stop it on purpose
        self.unexpected_exits: list[int] = []  # exit codes of exits nobody asked for

    @classmethod
    def of(cls, spec: NodeSpec, log_level: str = "info") -> NodeProcess:
        """The process of a chaos topology's node."""
        return cls(spec.role_path, log_level=log_level, name=spec.name)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def crashed(self) -> bool:
        """It ended by itself with a failure code: a traceback exits 1, a refused start
        (bad role file, busy port, locked data) exits 2. Never true of a node we killed
        (-9) or stopped gracefully (0)."""
        return self.proc is not None and self.proc.poll() is not None and self.proc.returncode > 0

    def start(self) -> None:
        """Start the node; nothing when it runs already (another nemesis healed it)."""
        if self.running:
            return
        self.note_exit()
        self.expect_exit = False
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} of {self.name} at {time.time():.3f}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [*NODE_COMMAND, "--config", str(self.role_path), "--log-level", self.log_level],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.paused = False

    def kill(self) -> int | None:
        """kill -9 and reap: whatever the node had not fsynced is gone. The exit status
        (-9 unless it had already exited); None if it never started."""
        self.send_kill()
        self.paused = False
        return None if self.proc is None else self.proc.wait(timeout=10)

    def send_kill(self) -> None:
        """kill -9 without waiting, so several nodes can die at the same moment."""
        if self.running:
            self.expect_exit = True
            self._signal(signal.SIGKILL)

    def pause(self) -> None:
        if self.running and not self.paused:
            self._signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.running and self.paused:
            self._signal(signal.SIGCONT)
        self.paused = False

    def terminate(self, signum: int = signal.SIGTERM) -> None:
        """Ask for a graceful stop (SIGTERM or SIGINT); `wait_exit` or `stop` collects it."""
        if self.running:
            self.expect_exit = True
            self.resume()  # a stopped process cannot act on SIGTERM
            self._signal(signum)

    async def wait_exit(self, timeout: float = 15.0) -> int:
        """The exit code once the process ends; TooSlowError past `timeout` (it is then killed)."""
        proc = self._require()
        try:
            with trio.fail_after(timeout):
                while proc.poll() is None:
                    await trio.sleep(EXIT_POLL_SECONDS)
        except trio.TooSlowError:
            self.kill()
            raise
        return proc.returncode

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (graceful), SIGKILL past `timeout`, blocking; the exit code."""
        proc = self.proc
        if proc is None:
            return None
        self.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.cleanup()
        return proc.returncode

    def note_exit(self) -> None:
        """Record the exit of a node that died by itself (a crash: its log says why)."""
        if self.proc is not None and self.proc.poll() is not None and not self.expect_exit:
            self.unexpected_exits.append(self.proc.returncode)
            self.expect_exit = True  # counted once

    def cleanup(self) -> None:
        """Teardown: SIGKILL the node's whole process group, by its PID (= its pgid: its
        own session made it so, so this targets nothing else)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        self.expect_exit = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> list[str]:
        return self.log_text().splitlines()[-lines:]

    def _signal(self, signum: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signum)

    def _require(self) -> subprocess.Popen[bytes]:
        if self.proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.proc


class NodeSet:
    """Every node of a chaos run, by name; `cleanup_all` is safe to call from anywhere."""

    def __init__(self, specs: tuple[NodeSpec, ...], log_level: str = "info") -> None:
        self.nodes = {spec.name: NodeProcess.of(spec, log_level) for spec in specs}

    def __iter__(self) -> Iterator[NodeProcess]:
        return iter(self.nodes.values())

    def __getitem__(self, name: str) -> NodeProcess:
        return self.nodes[name]

    def start_all(self) -> None:
        for node in self:
            node.start()

    def heal_all(self) -> list[str]:
        """Resume every paused node and restart every dead one; the names it touched."""
        touched = []
        for node in self:
            if node.paused:
                node.resume()
                touched.append(node.name)
            if not node.running:
                node.start()
                touched.append(node.name)
        return touched

    def cleanup_all(self) -> None:
        for node in self:
            node.cleanup()

    def crashes(self) -> dict[str, list[int]]:
        """Per node, the exit codes of exits nobody asked for (their logs say why)."""
        for node in self:
            node.note_exit()
        return {node.name: node.unexpected_exits for node in self if node.unexpected_exits}

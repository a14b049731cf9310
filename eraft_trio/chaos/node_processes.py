"""The `eraft node` processes of a chaos run: start, kill -9, SIGSTOP / SIGCONT, stop, clean up.

Each node runs in its own session (its own process group), so a terminal's Ctrl-C
never reaches it and teardown can always kill it by PID. Its output is appended to a
log file beside its role file, across restarts, so a bug report can quote it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

from eraft_trio.chaos.topology import NodeSpec

NODE_COMMAND = (sys.executable, "-m", "eraft_trio", "node")


class NodeProcess:
    def __init__(self, spec: NodeSpec, log_level: str = "info") -> None:
        self.spec = spec
        self.log_path = spec.role_path.with_suffix(".log")
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.starts = 0
        self.expect_exit = False  # set when we kill or stop it on purpose
        self.unexpected_exits: list[int] = []  # exit codes of exits nobody asked for

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self) -> None:
        if self.running:
            return
        self.note_exit()
        self.expect_exit = False
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- chaos: start {self.starts} at {time.time():.3f}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [
                    *NODE_COMMAND,
                    "--config",
                    str(self.spec.role_path),
                    "--log-level",
                    self.log_level,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.paused = False

    def kill(self) -> None:
        """kill -9: whatever the node had not fsynced is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.expect_exit = True
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.paused = False

    def pause(self) -> None:
        if self.running and not self.paused:
            self._signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.running and self.paused:
            self._signal(signal.SIGCONT)
        self.paused = False

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (graceful), SIGKILL past `timeout`; the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            self.expect_exit = True
            self.resume()  # a stopped process cannot act on SIGTERM
            self._signal(signal.SIGTERM)
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
        """Teardown: SIGKILL the node's whole process group, by its PID (= its pgid)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        self.expect_exit = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def _signal(self, signum: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signum)

    def log_tail(self, lines: int = 40) -> list[str]:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return text.splitlines()[-lines:]


class NodeSet:
    """Every node of the run, by name; `cleanup_all` is safe to call from anywhere."""

    def __init__(self, specs: tuple[NodeSpec, ...], log_level: str = "info") -> None:
        self.nodes = {spec.name: NodeProcess(spec, log_level) for spec in specs}

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
                touched.append(node.spec.name)
            if not node.running:
                node.start()
                touched.append(node.spec.name)
        return touched

    def cleanup_all(self) -> None:
        for node in self:
            node.cleanup()

    def crashes(self) -> dict[str, list[int]]:
        """Per node, the exit codes of exits nobody asked for (their logs say why)."""
        for node in self:
            node.note_exit()
        return {node.spec.name: node.unexpected_exits for node in self if node.unexpected_exits}

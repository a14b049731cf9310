"""Run `eraft local` as a real process for a test: role files on free ports, its children."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from eraft_trio.cli.local_layout import LocalLayout
from eraft_trio.cli.local_ports import can_listen

ROLE_FILES = Path(__file__).resolve().parents[2] / "configs" / "local"


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (all held open together, so they are distinct)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def copy_role_files(dest: Path) -> tuple[str, ...]:
    """configs/local's role files in `dest`, every port moved to a free one (never the
    local default's); returns the config servers."""
    dest.mkdir(parents=True, exist_ok=True)
    texts = {p.name: p.read_text() for p in sorted(ROLE_FILES.glob("*.toml"))}
    address = re.compile(r"127\.0\.0\.1:(\d+)")
    old = sorted({int(m) for text in texts.values() for m in address.findall(text)})
    new = dict(zip(old, free_ports(len(old)), strict=True))
    for name, text in texts.items():
        (dest / name).write_text(address.sub(lambda m: f"127.0.0.1:{new[int(m[1])]}", text))
    config = (dest / "config-0.toml").read_text()
    peers = re.search(r"peers = \[(.*)\]", config)
    assert peers is not None
    return tuple(json.loads(f"[{peers[1]}]"))


def free_base_port(layout: LocalLayout | None = None) -> int:
    """A --base-port whose every port of `layout` (the default shape) is free now.

    Drawn below the kernel's ephemeral range (32768 and up), where the other tests' ports
    (bound to port 0) never land."""
    layout = layout or LocalLayout()
    rng = random.Random()
    for _ in range(200):
        candidate = replace(layout, base_port=rng.randrange(12000, 30000))
        if all(can_listen("127.0.0.1", port) for port in candidate.ports()):
            return candidate.base_port
    raise AssertionError("no free base port between 12000 and 30000")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    """Poll `condition()` until it is truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def ctl(servers: tuple[str, ...], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "eraft_trio", "ctl", "-s", ",".join(servers), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


class LocalRun:
    """`eraft local --dir DIR --no-status` in its own process group, output to files; or
    `command` (an `eraft local` of another install, say) run in `cwd`."""

    def __init__(
        self,
        directory: Path,
        name: str = "run",
        command: list[str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.out = directory.parent / f"{name}.out"
        self.err = directory.parent / f"{name}.err"
        if command is None:
            command = [sys.executable, "-m", "eraft_trio", "local", "--dir", str(directory)]
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [*command, "--no-status"],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.seen_children: set[int] = set()

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def wait_running(self, timeout: float = 90.0) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"eraft local exited early:\n{self.output()}")
            return "running;" in self.out.read_text()

        try:
            wait_for(ready, timeout, "eraft local to report the cluster running")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.output()}") from None

    def children(self) -> list[int]:
        found = children_of(self.process.pid)
        self.seen_children.update(found)
        return found

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 60.0) -> int:
        return self.process.wait(timeout=timeout)

    def cleanup(self) -> None:
        """Teardown: whatever is left, killed by PID (never by name)."""
        self.children()
        for pid in [self.process.pid, *self.seen_children]:
            if not alive(pid):
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

"""A small real cluster for the bench tests: a config group and one shard group, as processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

ERAFT = (sys.executable, "-m", "eraft_trio")
HOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out; all probes stay open until all are chosen (no repeats)."""
    probes = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind((HOST, 0))
            probes.append(probe)
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


class LocalCluster:
    """Three config nodes, and shard group 1 of three nodes (with metrics endpoints) holding
    every bucket once `join()` returns. Each node runs in its own session, so `stop()` can
    kill it and anything it started by its PID alone."""

    def __init__(self, folder: Path) -> None:
        ports = free_ports(9)
        self.folder = folder
        self.config_servers = tuple(f"{HOST}:{p}" for p in ports[0:3])
        self.shard_nodes = tuple(f"{HOST}:{p}" for p in ports[3:6])
        self.metrics = tuple(f"{HOST}:{p}" for p in ports[6:9])
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def servers_arg(self) -> str:
        return ",".join(self.config_servers)

    def role_files(self) -> list[Path]:
        paths = []
        for i in range(3):
            config = self.folder / f"config-{i}.toml"
            config.write_text(
                f'[node]\nrole = "config"\nid = {i}\ndata_dir = "data/config-{i}"\n'
                f"[raft]\npeers = {list(self.config_servers)!r}\n".replace("'", '"')
            )
            shard = self.folder / f"group1-{i}.toml"
            shard.write_text(
                f'[node]\nrole = "shard"\nid = {i}\ndata_dir = "data/group1-{i}"\n'
                f"[raft]\npeers = {list(self.shard_nodes)!r}\n"
                f"[shard]\ngroup = 1\nconfig_servers = {list(self.config_servers)!r}\n"
                f"[metrics]\nlisten = {self.metrics[i]!r}\n".replace("'", '"')
            )
            paths += [config, shard]
        return paths

    def start(self) -> None:
        for path in self.role_files():
            with (self.folder / f"{path.stem}.log").open("ab") as log:
                self.procs.append(
                    subprocess.Popen(
                        [*ERAFT, "node", "--config", str(path)],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def join(self, timeout: float = 60.0) -> None:
        """Add group 1 with every bucket; the ctl client retries until the config group leads."""
        done = self.ctl("--timeout", str(timeout), "join", "1", ",".join(self.shard_nodes))
        assert done.returncode == 0, done.stderr

    def ctl(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return run([*ERAFT, "ctl", "-s", self.servers_arg, *argv])

    def bench(self, *argv: str) -> subprocess.CompletedProcess[str]:
        # A generous timeout: on a busy 2-core machine the first leader election can be slow.
        return run([*ERAFT, "bench", "-s", self.servers_arg, "--timeout", "30", *argv])

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: pgid == pid
            proc.wait(timeout=10)


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("ERAFT_CONFIG_SERVERS", None)
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)

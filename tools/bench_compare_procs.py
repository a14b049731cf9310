"""The processes of tools/bench_compare.py: installing etcd and wrk, the two clusters, the loads.

Every process is started in its own session (its process group id is its PID) and stopped
by that id alone: SIGTERM to the group, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench_compare_core import (
    Figures,
    Point,
    figures_from_eraft,
    figures_from_wrk,
    preload_bodies,
    txn_puts,
    wrk_script,
)
from bench_cpu import CpuSampler

HOST = "127.0.0.1"
# Ports that the fixed local clusters of this project use: never handed out here.
RESERVED_PORTS = (
    frozenset(range(6088, 6091)) | frozenset(range(7088, 7091)) | frozenset(range(8088, 8091))
)
ERAFT = (sys.executable, "-m", "eraft_trio")
# The commands this tool needs, and the Debian package of each.
PACKAGES = {"etcd": "etcd-server", "wrk": "wrk"}


class SetupError(Exception):
    """Something this tool needs could not be installed or started."""


def say(message: str) -> None:
    """Progress, on stderr (stdout is the report, or its JSON)."""
    print(f"bench_compare: {message}", file=sys.stderr, flush=True)


def free_ports(count: int) -> list[int]:
    """Distinct ports the kernel just handed out on loopback (none of the reserved ones)."""
    probes: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            probe = socket.socket()
            probe.bind((HOST, 0))
            probes.append(probe)
            port = probe.getsockname()[1]
            if port not in RESERVED_PORTS:
                ports.append(port)
        return ports
    finally:
        for probe in probes:
            probe.close()


# --- installing ---


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def ensure_commands(commands: Iterable[str]) -> None:
    """Install the Debian package of each command that is missing (`apt-get update` once)."""
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return
    packages = [PACKAGES[c] for c in missing]
    if os.geteuid() != 0:
        raise SetupError(
            f"{', '.join(missing)} missing; install as root: apt-get install -y {' '.join(packages)}"
        )
    etcd_default_port_busy = _listening(2379)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    say(f"installing {' '.join(packages)} (apt-get update, then apt-get install)")
    for argv in (
        ["apt-get", *lock, "update", "-qq"],
        ["apt-get", *lock, "install", "-y", "-qq", *packages],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise SetupError(f"{' '.join(argv)} failed: {' | '.join(tail)}")
    still = [c for c in missing if shutil.which(c) is None]
    if still:
        raise SetupError(f"installed {' '.join(packages)}, but {', '.join(still)} is still missing")
    # Where no policy-rc.d forbids it, the package's init script starts a default etcd
    # (port 2379, /var/lib/etcd) as it installs: stop that one through the same script.
    if "etcd" in missing and not etcd_default_port_busy and _listening(2379):
        init_script = Path("/etc/init.d/etcd")
        if init_script.exists():
            say("the etcd-server package started its default service; stopping it")
            subprocess.run([str(init_script), "stop"], capture_output=True, check=False)


def version_of(argv: list[str]) -> str | None:
    """The first line a `--version`-like command prints (wrk -v exits 1: still fine)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


# --- processes ---


class Processes:
    """Processes started in their own sessions, stopped by PID (group) in reverse order."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def died(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is not None]

    def stop(self, grace: float = 10.0) -> None:
        for proc in self.procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            _signal_group(proc, signal.SIGKILL)  # also whatever it started, in its group
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self.procs.clear()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # Its own session: its process group id is its PID. Signal the group even when the
    # leader already exited, in case it left children; a group that is gone is fine.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def run_captured(
    argv: list[str], timeout: float, on_start: Callable[[int], None] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a client (wrk, eraft bench, eraft ctl) in its own session; on timeout or Ctrl-C
    its whole group is killed before the exception goes on. `on_start` gets its PID."""
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    if on_start is not None:
        on_start(proc.pid)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def _wait_for(what: str, ready: Callable[[], bool], timeout: float, procs: Processes) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if procs.died():
            raise SetupError(f"{what}: a process exited while starting (see its log)")
        if ready():
            return
        time.sleep(0.2)
    raise SetupError(f"{what}: not ready after {timeout:.0f} s")


def last_lines(path: Path, count: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-count:])
    except OSError:
        return ""


# --- etcd ---


def _http_json(url: str, body: dict[str, Any] | str | None = None, timeout: float = 5.0) -> Any:
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


class EtcdCluster:
    """Three etcd members on loopback, data in `folder`, with etcd's defaults (fsync on)."""

    def __init__(self, folder: Path) -> None:
        ports = free_ports(6)
        self.folder = folder
        self.client_ports = ports[0:3]
        self.peer_ports = ports[3:6]
        self.procs = Processes()
        self.names = [f"m{i}" for i in range(3)]

    def client_url(self, i: int) -> str:
        return f"http://{HOST}:{self.client_ports[i]}"

    def start(self, timeout: float = 60.0) -> None:
        initial = ",".join(
            f"{name}=http://{HOST}:{port}"
            for name, port in zip(self.names, self.peer_ports, strict=True)
        )
        for i, name in enumerate(self.names):
            peer = f"http://{HOST}:{self.peer_ports[i]}"
            self.procs.start(
                [
                    "etcd",
                    "--name", name,
                    "--data-dir", str(self.folder / f"{name}.etcd"),
                    "--listen-client-urls", self.client_url(i),
                    "--advertise-client-urls", self.client_url(i),
                    "--listen-peer-urls", peer,
                    "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", initial,
                    "--initial-cluster-token", f"bench-compare-{os.getpid()}",
                    "--initial-cluster-state", "new",
                    "--logger", "zap",
                    "--log-level", "warn",
                ],
                self.folder / f"{name}.log",
            )  # fmt: skip
        try:
            _wait_for("etcd", self._healthy, timeout, self.procs)
        except SetupError as exc:
            logs = "; ".join(f"{n}: {last_lines(self.folder / f'{n}.log', 1)}" for n in self.names)
            raise SetupError(f"{exc}; {logs}") from None

    def _healthy(self) -> bool:
        try:
            return all(
                _http_json(f"{self.client_url(i)}/health", timeout=2).get("health") == "true"
                for i in range(3)
            )
        except (OSError, ValueError):
            return False

    def leader_url(self) -> str:
        """The client URL of the leader (etcd's gateway returns uint64 as strings)."""
        for i in range(3):
            with contextlib.suppress(OSError, ValueError, KeyError):
                status = _http_json(f"{self.client_url(i)}/v3/maintenance/status", {})
                if status["header"]["member_id"] == status["leader"]:
                    return self.client_url(i)
        raise SetupError("etcd: no member says it is the leader")

    def preload(self, value: bytes, keys: int) -> None:
        """Write every key once (for the get points), outside any measured window."""
        url = f"{self.leader_url()}/v3/kv/txn"
        for body in preload_bodies(value, keys, txn_puts(len(value))):
            answer = _http_json(url, body, timeout=30)
            if not answer.get("succeeded"):
                raise SetupError(f"etcd: preload txn failed: {answer}")
        count = _http_json(
            f"{self.leader_url()}/v3/kv/range",
            {"key": "YmVuY2gt", "range_end": "YmVuY2gu", "count_only": True},  # "bench-".."bench."
        )
        if int(count.get("count", 0)) < keys:
            raise SetupError(f"etcd: preload wrote {count.get('count')} of {keys} keys")

    def stop(self) -> None:
        self.procs.stop()


def with_cpu(figures: Figures, sampler: CpuSampler, duration: int) -> Figures:
    """The figures with the CPU per operation the sampler saw over the measured window."""
    cpu = sampler.per_op(duration, figures.count)
    if cpu is None:
        return figures
    return replace(figures, cluster_cpu_us=cpu.cluster_us, client_cpu_us=cpu.client_us)


def measure_etcd(
    url: str,
    point: Point,
    duration: int,
    value: bytes,
    keys: int,
    folder: Path,
    cluster_pids: Sequence[int] = (),
) -> Figures:
    """One point with wrk: one thread, `clients` keep-alive connections, each closed-loop;
    with `cluster_pids`, also the CPU per operation of those processes and of wrk."""
    script = folder / f"wrk-{point.kind}.lua"
    script.write_text(wrk_script(point.kind, value, keys))
    argv = [
        "wrk",
        "-t1",
        f"-c{point.clients}",
        f"-d{duration}s",
        "--timeout", "30s",
        "-s", str(script),
        url,
    ]  # fmt: skip
    with CpuSampler(cluster_pids) as sampler:
        done = run_captured(argv, timeout=duration + 60, on_start=sampler.client_started)
    if done.returncode != 0:
        raise SetupError(f"wrk exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return with_cpu(figures_from_wrk(done.stdout), sampler, duration)


# --- eraft ---


class EraftCluster:
    """Three config nodes, and shard group 1 of three nodes that holds every bucket once
    `start()` returns (nodes with their defaults: fsync of every log append)."""

    def __init__(self, folder: Path) -> None:
        ports = free_ports(6)
        self.folder = folder
        self.config_servers = [f"{HOST}:{p}" for p in ports[0:3]]
        self.shard_nodes = [f"{HOST}:{p}" for p in ports[3:6]]
        self.procs = Processes()

    @property
    def servers_arg(self) -> str:
        return ",".join(self.config_servers)

    def role_files(self) -> list[Path]:
        def toml_list(items: list[str]) -> str:
            return "[" + ", ".join(f'"{s}"' for s in items) + "]"

        paths = []
        for i in range(3):
            config = self.folder / f"config-{i}.toml"
            config.write_text(
                f'[node]\nrole = "config"\nid = {i}\n'
                f'data_dir = "{self.folder / "data" / f"config-{i}"}"\n'
                f"[raft]\npeers = {toml_list(self.config_servers)}\n"
            )
            shard = self.folder / f"group1-{i}.toml"
            shard.write_text(
                f'[node]\nrole = "shard"\nid = {i}\n'
                f'data_dir = "{self.folder / "data" / f"group1-{i}"}"\n'
                f"[raft]\npeers = {toml_list(self.shard_nodes)}\n"
                f"[shard]\ngroup = 1\nconfig_servers = {toml_list(self.config_servers)}\n"
            )
            paths += [config, shard]
        return paths

    def start(self, timeout: float = 90.0) -> None:
        for path in self.role_files():
            self.procs.start(
                [*ERAFT, "node", "--config", str(path)], self.folder / f"{path.stem}.log"
            )
        done = run_captured(
            [*ERAFT, "ctl", "-s", self.servers_arg, "--timeout", str(timeout), "join", "1",
             ",".join(self.shard_nodes)],
            timeout=timeout + 30,
        )  # fmt: skip
        if done.returncode != 0:
            dead = [p.args for p in self.procs.died()]
            raise SetupError(
                f"eraft ctl join exited {done.returncode}: {done.stderr.strip()[-300:]}"
                + (f"; exited nodes: {dead}" if dead else "")
            )

    def stop(self) -> None:
        self.procs.stop()


def measure_eraft(
    servers: str,
    point: Point,
    duration: int,
    value_size: int,
    keys: int,
    cluster_pids: Sequence[int] = (),
) -> Figures:
    """One point with `eraft bench`; with `cluster_pids`, also the CPU per operation of
    those processes and of the bench over its measured window (not its preload)."""
    mix = "1:0" if point.kind == "put" else "0:1"
    argv = [
        *ERAFT, "bench", "-s", servers, "--timeout", "30",
        "--clients", str(point.clients), "--duration", str(duration),
        "--value-size", str(value_size), "--keys", str(keys), "--mix", mix, "--json",
    ]  # fmt: skip
    with CpuSampler(cluster_pids) as sampler:
        done = run_captured(argv, timeout=duration + 300, on_start=sampler.client_started)
    if done.returncode != 0:
        raise SetupError(f"eraft bench exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return with_cpu(figures_from_eraft(json.loads(done.stdout), point.kind), sampler, duration)

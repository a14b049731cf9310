"""A private network namespace for one chaos run: create it, list what runs in it, tear it down.

Everything a run starts lives inside the namespace, so tearing down is exact: the
PIDs `ip netns pids` lists are ours by construction, and deleting the namespace also
drops every nftables rule made in it (rules are per namespace).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time

NAME_PREFIX = "eraft-chaos-"


class NamespaceError(RuntimeError):
    """The namespace could not be made or set up (no root, no `ip`, no netns support)."""


def namespace_name(pid: int | None = None) -> str:
    return f"{NAME_PREFIX}{os.getpid() if pid is None else pid}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def create_namespace(name: str) -> None:
    """`ip netns add NAME` and bring its loopback up (every 127.0.0.x then works on lo)."""
    if shutil.which("ip") is None:
        raise NamespaceError("the `ip` command is missing (iproute2)")
    try:
        _ip("netns", "add", name)
    except subprocess.CalledProcessError as exc:
        raise NamespaceError(f"ip netns add {name}: {exc.stderr.strip()}") from exc
    try:
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        delete_namespace(name)
        raise NamespaceError(f"cannot bring lo up in {name}: {exc.stderr.strip()}") from exc


def exec_prefix(name: str) -> list[str]:
    """The argv prefix that runs a command inside the namespace."""
    return ["ip", "netns", "exec", name]


def namespace_pids(name: str) -> list[int]:
    result = _ip("netns", "pids", name, check=False)
    return [int(word) for word in result.stdout.split() if word.isdigit()]


def kill_namespace_processes(name: str, timeout: float = 10.0) -> list[int]:
    """SIGKILL every process in the namespace (all ours), by PID; those it killed."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [pid for pid in namespace_pids(name) if pid != os.getpid()]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.1)
    return sorted(set(killed))


def delete_namespace(name: str) -> None:
    """Kill what runs inside, then `ip netns del`; quiet when it is already gone."""
    if name not in list_namespaces():
        return
    kill_namespace_processes(name)
    _ip("netns", "del", name, check=False)


def list_namespaces() -> list[str]:
    result = _ip("netns", "list", check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]

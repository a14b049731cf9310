"""`eraft ctl status --json` and `--once` as a script sees them (a real process)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys


def _closed_ports(count: int) -> list[str]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [f"127.0.0.1:{s.getsockname()[1]}" for s in socks]
    finally:
        for sock in socks:
            sock.close()


def _ctl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "LINES": "24"}
    return subprocess.run(
        [sys.executable, "-m", "eraft_trio", "ctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_json_parses_and_an_unreachable_cluster_exits_3() -> None:
    servers = _closed_ports(3)
    done = _ctl("-s", ",".join(servers), "status", "--json")
    assert done.returncode == 3, done.stderr
    document = json.loads(done.stdout)
    assert document["config"] is None
    assert document["config_servers"] == servers
    nodes = document["groups"][0]["nodes"]
    assert [n["address"] for n in nodes] == servers
    assert not any(n["up"] for n in nodes)
    assert document["migrations"] == []
    assert "no config server answered" in done.stderr


def test_once_prints_one_view_with_every_node_down() -> None:
    servers = _closed_ports(2)
    done = _ctl("-s", ",".join(servers), "status", "--once")
    assert done.returncode == 3
    lines = done.stdout.splitlines()
    assert "config group unreachable" in lines[0]
    assert sum(1 for line in lines if " down " in line) == 2
    assert max(len(line) for line in lines) <= 80

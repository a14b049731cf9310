"""`eraft local` end to end: real node processes from a folder of role files on free ports."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from eraft_trio.transport.security import ensure_local_secret

from .local_run import LocalRun, alive, children_of, ctl, wait_for

StartLocal = Callable[..., LocalRun]


def _stop(run: LocalRun, pids: list[int], signum: int = signal.SIGINT) -> int:
    run.signal(signum)
    code = run.wait(timeout=60)
    survivors = [pid for pid in pids if alive(pid)]
    assert survivors == [], f"children still running after eraft local exited: {survivors}"
    return code


def test_brings_up_serves_stops_and_resumes(
    role_dir: tuple[Path, tuple[str, ...]], start_local: StartLocal
) -> None:
    directory, servers = role_dir
    first = start_local(directory, "first")
    first.wait_running()
    pids = first.children()
    assert len(pids) == 9
    assert sorted(p.name for p in (directory / "data" / "logs").glob("*.log")) == sorted(
        f"{p.stem}.log" for p in directory.glob("*.toml")
    )
    assert ctl(servers, "put", "hello", "world").stdout == "OK\n"
    assert ctl(servers, "get", "hello").stdout == "world\n"
    config = json.loads(ctl(servers, "query", "--json").stdout)
    assert sorted(config["groups"]) == ["1", "2"]
    assert sorted(set(config["buckets"])) == [1, 2]  # spread over both groups
    status = ctl(servers, "status", "--json")
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert [g["gid"] for g in document["groups"]] == [0, 1, 2]
    assert all(g["leader"] and g["nodes_up"] == 3 for g in document["groups"])
    assert _stop(first, pids) == 0
    assert "stopped 9 nodes" in first.output()

    second = start_local(directory, "second")
    second.wait_running()
    pids = second.children()
    assert len(pids) == 9
    again = json.loads(ctl(servers, "query", "--json").stdout)
    assert again["num"] == config["num"]  # nothing joined twice
    assert ctl(servers, "get", "hello").stdout == "world\n"  # the data persisted
    # A node that hangs (stopped: SIGTERM stays pending) is killed after the grace period.
    os.kill(pids[0], signal.SIGSTOP)
    assert _stop(second, pids, signal.SIGTERM) == 0
    assert "killed 1 node that did not stop" in second.output()


def test_a_busy_port_fails_at_once_naming_it(
    role_dir: tuple[Path, tuple[str, ...]], start_local: StartLocal
) -> None:
    directory, servers = role_dir
    host, port = servers[1].split(":")
    with socket.socket() as busy:
        busy.bind((host, int(port)))
        busy.listen(1)
        run = start_local(directory)
        code = run.wait(timeout=60)
    assert code == 2
    assert f"{servers[1]} (config-1.toml) is already in use" in run.err.read_text()
    assert run.children() == [] and not (directory / "data" / "logs").exists()


def test_a_bad_role_file_is_one_line_and_exit_2(
    role_dir: tuple[Path, tuple[str, ...]], start_local: StartLocal
) -> None:
    directory, _ = role_dir
    path = directory / "group2-1.toml"
    path.write_text(path.read_text().replace("group = 2", "group = 0"))
    run = start_local(directory)
    assert run.wait(timeout=60) == 2
    assert run.err.read_text().splitlines() == [
        f"eraft local: {path}: shard.group: must be an integer > 0, not 0"
    ]


def test_a_node_failing_at_start_up_stops_the_others(
    role_dir: tuple[Path, tuple[str, ...]], start_local: StartLocal
) -> None:
    directory, _ = role_dir
    (directory / "data").mkdir()
    (directory / "data" / "g2-n1").write_text("not a data folder")
    run = start_local(directory)
    wait_for(lambda: run.children() == [] and run.process.poll() is not None, 60, "the exit")
    assert run.process.returncode == 2, run.output()
    assert "group2-1 exited with code 2 during start-up" in run.err.read_text()
    assert len(run.seen_children) >= 8  # the others were running, and were stopped
    assert [pid for pid in run.seen_children if alive(pid)] == []


def test_no_orphans_when_eraft_local_itself_is_killed(
    role_dir: tuple[Path, tuple[str, ...]], start_local: StartLocal
) -> None:
    directory, _ = role_dir
    run = start_local(directory)
    pids = wait_for(lambda: run.children() if len(run.children()) == 9 else None, 60, "9 nodes")
    run.signal(signal.SIGKILL)  # no handler runs: the kernel must stop the children
    run.wait(timeout=10)
    wait_for(lambda: not any(alive(pid) for pid in pids), 30, "the orphaned nodes to exit")
    assert children_of(run.process.pid) == []


def test_a_cluster_behind_a_secret(
    role_dir: tuple[Path, tuple[str, ...]], start_local: StartLocal
) -> None:
    directory, servers = role_dir
    key = ensure_local_secret(directory)
    for path in directory.glob("*.toml"):
        path.write_text(path.read_text() + f'\n[security]\nsecret_file = "{key.name}"\n')
    run = start_local(directory)
    run.wait_running()  # its own status polls and joins proved the secret
    pids = run.children()
    assert f"--secret-file {key} put hello world" in run.out.read_text()
    assert ctl(servers, "--secret-file", str(key), "put", "k", "v").stdout == "OK\n"
    status = ctl(servers, "--secret-file", str(key), "status", "--json")
    document = json.loads(status.stdout)
    assert sum(n["up"] for g in document["groups"] for n in g["nodes"]) == 9
    assert _stop(run, pids) == 0

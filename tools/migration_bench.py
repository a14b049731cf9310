#!/usr/bin/env python3
"""How fast buckets move to a new group, and how fast a crashed cluster serves again.

Starts a real cluster on loopback (config group of 3, shard groups 1 and 2 of 3 nodes
each, every node with its defaults), joins group 1 alone, loads `--mb` MiB of values of
`--value-size` bytes into it, then joins group 2 and times until group 2's replicas
serve every bucket it gained and group 1's replicas hold none of them any more (the
old copies garbage-collected). Then it kills every shard node with SIGKILL, starts them
again and times until both groups answer a get. All along it samples every node's
resident memory (VmRSS, and RssAnon: the heap, not the mapped LMDB files).

Exit status: 0 done, 1 a wait timed out or a value came back wrong, 3 setup failed,
130 interrupted. Every process it started is killed by its PID group on the way out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import trio
from bench_compare_procs import ERAFT, HOST, Processes, SetupError, free_ports
from bench_cpu import cpu_seconds

from eraft_trio.client import Client
from eraft_trio.group_calls.cluster_probe import ClusterProbe

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_INTERRUPTED = 0, 1, 3, 130
BUCKETS = 10  # the config role's default
LOAD_CLIENTS = 32
POLL_SECONDS = 0.05
GIDS = (1, 2)


class WaitTimedOut(Exception):
    """A condition the run waits for did not come true in time."""


@dataclass
class Report:
    mib_moved: float
    keys_moved: int
    migration_s: float
    mib_per_s: float
    restart_s: float
    load_s: float
    max_rss_mib: dict[str, float]  # node name -> the highest VmRSS sampled
    max_rss_anon_mib: dict[str, float]
    # CPU seconds (user + system) every node used during the migration, per MiB moved:
    # on a machine of C cores the migration cannot run faster than C / this MiB/s.
    migration_cpu_s_per_mib: float = 0.0
    # CPU seconds the restarted shard nodes used until both groups served (interpreter
    # start and imports included): a restart of them all on C cores takes at least /C.
    restart_cpu_s: float = 0.0
    migration_cpu_s_by_node: dict[str, float] = field(default_factory=dict)


def say(message: str) -> None:
    """Progress, on stderr (stdout is the report, or its JSON)."""
    stamp = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
    print(f"migration_bench {stamp}: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=50.0, help="MiB to load (default 50)")
    parser.add_argument("--value-size", type=int, default=10240, help="bytes (default 10240)")
    parser.add_argument("--timeout", type=float, default=600.0, help="per wait, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.mb <= 0 or args.value_size < 1:
        parser.error("needs --mb > 0 and --value-size >= 1")
    return args


# --- processes ---


class Cluster:
    """Role files and processes of the config group and shard groups 1 and 2."""

    def __init__(self, folder: Path) -> None:
        ports = free_ports(9)
        self.folder = folder
        self.config_servers = tuple(f"{HOST}:{p}" for p in ports[0:3])
        self.shard_addresses = {
            gid: tuple(f"{HOST}:{p}" for p in ports[3 * gid : 3 * gid + 3]) for gid in GIDS
        }
        self.config_procs = Processes()
        self.shard_procs = Processes()
        self.names: dict[int, str] = {}  # pid -> role file stem, for the memory figures

    def _start(self, procs: Processes, path: Path) -> None:
        proc = procs.start([*ERAFT, "node", "--config", str(path)], path.with_suffix(".log"))
        self.names[proc.pid] = path.stem

    def start_config(self) -> None:
        for i in range(3):
            path = self.folder / f"config-{i}.toml"
            path.write_text(
                f'[node]\nrole = "config"\nid = {i}\n'
                f'data_dir = "{self.folder / "data" / path.stem}"\n'
                f"[raft]\npeers = {_toml_list(self.config_servers)}\n"
            )
            self._start(self.config_procs, path)

    def start_shards(self) -> None:
        for gid, addresses in self.shard_addresses.items():
            for i in range(3):
                path = self.folder / f"group{gid}-{i}.toml"
                path.write_text(
                    f'[node]\nrole = "shard"\nid = {i}\n'
                    f'data_dir = "{self.folder / "data" / path.stem}"\n'
                    f"[raft]\npeers = {_toml_list(addresses)}\n"
                    f"[shard]\ngroup = {gid}\n"
                    f"config_servers = {_toml_list(self.config_servers)}\n"
                )
                self._start(self.shard_procs, path)

    def kill_shards(self) -> None:
        """SIGKILL to every shard node at once: nothing gets to flush or close."""
        for proc in self.shard_procs.procs:
            proc.kill()
        for proc in self.shard_procs.procs:
            proc.wait(timeout=30)
        self.shard_procs.procs.clear()

    def cpu_seconds(self, pids: list[int] | None = None) -> float:
        """User and system CPU time the running nodes (or `pids`) have used so far."""
        return sum(self.cpu_by_node(pids).values())

    def cpu_by_node(self, pids: list[int] | None = None) -> dict[str, float]:
        """Node name -> user and system CPU seconds it has used so far."""
        used: dict[str, float] = {}
        for pid in self.pids() if pids is None else pids:
            seconds = cpu_seconds(pid)
            if seconds is not None:
                used[self.names.get(pid, str(pid))] = seconds
        return used

    def shard_cpu_seconds(self) -> float:
        return self.cpu_seconds([p.pid for p in self.shard_procs.procs if p.poll() is None])

    def pids(self) -> list[int]:
        return [p.pid for p in self.config_procs.procs + self.shard_procs.procs if p.poll() is None]

    def died(self) -> list[str]:
        return [self.names[p.pid] for p in self.config_procs.died() + self.shard_procs.died()]

    def stop(self) -> None:
        self.shard_procs.stop()
        self.config_procs.stop()


def _toml_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{s}"' for s in items) + "]"


class MemorySampler:
    """A thread reading VmRSS and RssAnon of the cluster's processes every `interval`."""

    def __init__(self, cluster: Cluster, interval: float = 0.2) -> None:
        self.cluster = cluster
        self.interval = interval
        self.rss: dict[str, float] = {}
        self.rss_anon: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for pid in self.cluster.pids():
                name = self.cluster.names.get(pid, str(pid))
                fields = memory_fields(pid)
                for store, key in ((self.rss, "VmRSS"), (self.rss_anon, "RssAnon")):
                    if key in fields:
                        store[name] = max(store.get(name, 0.0), fields[key])


def memory_fields(pid: int) -> dict[str, float]:
    """The kB lines of /proc/PID/status, in MiB (empty once the process is gone)."""
    fields: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            parts = value.split()
            if len(parts) == 2 and parts[1] == "kB":
                fields[name] = int(parts[0]) / 1024
    except OSError:
        pass
    return fields


# --- the workload ---


def bucket_of(key: bytes) -> int:
    return zlib.crc32(key) % BUCKETS


def make_keys(mib: float, value_size: int) -> list[bytes]:
    return [f"mig-{i:08d}".encode() for i in range(int(mib * (1 << 20)) // value_size)]


def value_of(key: bytes, value_size: int) -> bytes:
    return (key + b"=").ljust(value_size, key[-1:])


async def load(kv: Client, keys: list[bytes], value_size: int) -> None:
    send, receive = trio.open_memory_channel[bytes](len(keys))
    for key in keys:
        send.send_nowait(key)
    send.close()

    async def writer() -> None:
        async for key in receive:
            await kv.put(key, value_of(key, value_size))

    async with trio.open_nursery() as nursery:
        for _ in range(LOAD_CLIENTS):
            nursery.start_soon(writer)


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    """Seconds until `check()` is true, polled every POLL_SECONDS; WaitTimedOut past `timeout`."""
    started = time.monotonic()
    with trio.move_on_after(timeout):
        while not await check():
            await trio.sleep(POLL_SECONDS)
        return time.monotonic() - started
    raise WaitTimedOut(f"{what}: not after {timeout:.0f} s")


def holds_exactly(snapshot: dict[str, Any], gid: int, buckets: set[int]) -> bool:
    """Whether every replica of `gid` answers and lists `buckets`, all serving, and no other."""
    for group in snapshot["groups"]:
        if group["gid"] != gid:
            continue
        for node in group["nodes"]:
            shard = (node.get("status") or {}).get("role", {}).get("shard")
            if not isinstance(shard, dict):
                return False
            listed = {b["bucket"]: b["state"] for b in shard["buckets"]}
            if listed != dict.fromkeys(buckets, "serving"):
                return False
        return True
    return False


def owned(config: dict[str, Any], gid: int) -> set[int]:
    return {b for b, owner in enumerate(config["buckets"]) if owner == gid}


async def run(cluster: Cluster, args: argparse.Namespace) -> Report:
    keys = make_keys(args.mb, args.value_size)
    async with Client.connect(cluster.config_servers, timeout=args.timeout) as kv:
        probe = ClusterProbe(kv.pool, cluster.config_servers)
        await kv.config_client.join({1: cluster.shard_addresses[1]})
        started = time.monotonic()
        say(f"loading {len(keys)} keys of {args.value_size} bytes into group 1")
        await load(kv, keys, args.value_size)
        load_s = time.monotonic() - started

        say("joining group 2")
        started = time.monotonic()
        cpu_before = cluster.cpu_by_node()
        num = await kv.config_client.join({2: cluster.shard_addresses[2]})
        config = await kv.config_client.query(num)
        gained = owned(config, 2)

        async def settled() -> bool:
            snapshot = await probe.gather()
            return holds_exactly(snapshot, 2, gained) and holds_exactly(
                snapshot, 1, owned(config, 1)
            )

        await wait_until(settled, args.timeout, "group 2 serving its buckets, group 1 rid of them")
        migration_s = time.monotonic() - started
        cpu_after = cluster.cpu_by_node()
        node_cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
        migration_cpu_s = sum(node_cpu.values())
        moved = [key for key in keys if bucket_of(key) in gained]
        await check_values(kv, moved[:: max(1, len(moved) // 100)], args.value_size)

    say("kill -9 of every shard node, then starting them again")
    cluster.kill_shards()
    cluster.start_shards()
    started = time.monotonic()
    one_key_each = [next(k for k in keys if bucket_of(k) in owned(config, gid)) for gid in GIDS]
    async with Client.connect(cluster.config_servers, timeout=args.timeout) as kv:
        await check_values(kv, one_key_each, args.value_size)
    restart_s = time.monotonic() - started
    restart_cpu_s = cluster.shard_cpu_seconds()

    mib = len(moved) * args.value_size / (1 << 20)
    return Report(
        round(mib, 1), len(moved), round(migration_s, 2), round(mib / migration_s, 1),
        round(restart_s, 2), round(load_s, 1), {}, {},
        round(migration_cpu_s / mib, 4), round(restart_cpu_s, 2),
        {name: round(seconds, 2) for name, seconds in sorted(node_cpu.items())},
    )  # fmt: skip


async def check_values(kv: Client, keys: list[bytes], value_size: int) -> None:
    for key in keys:
        if await kv.get(key) != value_of(key, value_size):
            raise WaitTimedOut(f"get {key!r}: not the value written")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    folder = Path(tempfile.mkdtemp(prefix="eraft-migration-"))
    cluster = Cluster(folder)
    try:
        say(f"starting a config group and shard groups 1 and 2 in {folder}")
        cluster.start_config()
        cluster.start_shards()
        with MemorySampler(cluster) as memory:
            report = trio.run(run, cluster, args)
        report.max_rss_mib = {k: round(v, 1) for k, v in sorted(memory.rss.items())}
        report.max_rss_anon_mib = {k: round(v, 1) for k, v in sorted(memory.rss_anon.items())}
    except (SetupError, WaitTimedOut) as exc:
        dead = cluster.died()
        print(
            f"tools/migration_bench.py: {exc}" + (f"; exited: {dead}" if dead else ""),
            file=sys.stderr,
        )
        return EXIT_SETUP if isinstance(exc, SetupError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("tools/migration_bench.py: interrupted; everything it started is stopped",
              file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED
    finally:
        cluster.stop()
        if args.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print_report(report, args.json)
    return EXIT_OK


def print_report(report: Report, as_json: bool) -> None:
    if as_json:
        print(json.dumps(asdict(report), indent=2))
        return
    print(f"load into group 1: {report.load_s} s")
    print(
        f"migration: {report.mib_moved} MiB ({report.keys_moved} keys) moved in "
        f"{report.migration_s} s = {report.mib_per_s} MiB/s"
    )
    print(
        f"migration CPU: {report.migration_cpu_s_per_mib * 1000:.1f} ms of node CPU per MiB moved"
    )
    print(
        f"restart after kill -9 of every shard node: both groups serve after {report.restart_s} s"
        f" ({report.restart_cpu_s} s of CPU in the six new processes)"
    )
    for label, figures in (("VmRSS", report.max_rss_mib), ("RssAnon", report.max_rss_anon_mib)):
        worst = max(figures, key=figures.__getitem__)
        print(f"max {label}: {figures[worst]} MiB ({worst})")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""What short-lived clients leave behind on a shard group, and what session expiry takes away.

Starts a real cluster on loopback (config group of 3, shard group 1 of 3 nodes with
`session_ttl_s = --ttl`), then runs `--waves` waves of `--clients` one-put clients:
every put carries a client id of its own, so the group sees exactly what that many
`eraft ctl put` runs or connect-put-close programs make (one session row each), without
the cost of as many connections. After each wave, and again once the group has
expired that wave's sessions, it reports per shard node: session rows (read from the
node's LMDB, read-only), data.mdb's file size and the pages its tables use, the
write-ahead log's size, and the resident memory (VmRSS, RssAnon).

Exit status: 0 done, 1 a wait timed out, 3 setup failed, 130 interrupted. Every process
it started is killed by its PID group on the way out.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lmdb
import trio
from bench_compare_procs import ERAFT, HOST, Processes, SetupError, free_ports
from migration_bench import _terminate, _toml_list, memory_fields

from eraft_trio.client import Client

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_INTERRUPTED = 0, 1, 3, 130
WRITERS = 64
SESSIONS_PREFIX = b"sess\x00"


class WaitTimedOut(Exception):
    """A condition the run waits for did not come true in time."""


def say(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"session_bench {stamp}: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100_000, help="one-put clients per wave")
    parser.add_argument("--waves", type=int, default=2, help="waves (default 2)")
    parser.add_argument("--ttl", type=int, default=60, help="session_ttl_s of the group")
    parser.add_argument("--value-size", type=int, default=16, help="bytes per value")
    parser.add_argument(
        "--keys",
        type=int,
        default=1000,
        help="distinct keys the puts cycle through (default "
        "1000: the data stays small, so what changes is the sessions)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="per wait, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    parser.add_argument("--json", action="store_true", help="print the samples as JSON")
    args = parser.parse_args(argv)
    if min(args.clients, args.waves, args.ttl, args.keys) < 1:
        parser.error("needs --clients, --waves, --ttl and --keys >= 1")
    return args


class Cluster:
    """Role files and processes of a config group of 3 and shard group 1 of 3."""

    def __init__(self, folder: Path, ttl: int) -> None:
        ports = free_ports(6)
        self.folder = folder
        self.ttl = ttl
        self.config_servers = tuple(f"{HOST}:{p}" for p in ports[:3])
        self.shard_addresses = tuple(f"{HOST}:{p}" for p in ports[3:])
        self.procs = Processes()
        self.shard_pids: dict[str, int] = {}

    def data_dir(self, name: str) -> Path:
        return self.folder / "data" / name

    def start(self) -> None:
        for i in range(3):
            self._start(
                f"config-{i}",
                f'[node]\nrole = "config"\nid = {i}\ndata_dir = "{self.data_dir(f"config-{i}")}"\n'
                f"[raft]\npeers = {_toml_list(self.config_servers)}\n",
            )
        for i in range(3):
            name = f"group1-{i}"
            proc = self._start(
                name,
                f'[node]\nrole = "shard"\nid = {i}\ndata_dir = "{self.data_dir(name)}"\n'
                f"[raft]\npeers = {_toml_list(self.shard_addresses)}\n"
                f"[shard]\ngroup = 1\nconfig_servers = {_toml_list(self.config_servers)}\n"
                f"session_ttl_s = {self.ttl}\n",
            )
            self.shard_pids[name] = proc

    def _start(self, name: str, text: str) -> int:
        path = self.folder / f"{name}.toml"
        path.write_text(text)
        return self.procs.start(
            [*ERAFT, "node", "--config", str(path)], path.with_suffix(".log")
        ).pid

    def stop(self) -> None:
        self.procs.stop()


def node_figures(data_dir: Path, pid: int) -> dict[str, Any]:
    """Session rows, table pages, file sizes and memory of one shard node, now."""
    env = lmdb.open(str(data_dir), readonly=True, lock=True, max_dbs=8, subdir=True)
    try:
        sm = env.open_db(b"sm", create=False)
        with env.begin(db=sm) as txn:
            stat = txn.stat(sm)
            cursor = txn.cursor()
            rows = 0
            if cursor.set_range(SESSIONS_PREFIX):
                for key in cursor.iternext(values=False):
                    if not key.startswith(SESSIONS_PREFIX):
                        break
                    rows += 1
        pages = stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]
        table_mib = pages * stat["psize"] / (1 << 20)
    finally:
        env.close()
    wal = sum(p.stat().st_size for p in (data_dir / "raft-wal").glob("*"))
    memory = memory_fields(pid)
    return {
        "session_rows": rows,
        "data_mdb_mib": round((data_dir / "data.mdb").stat().st_size / (1 << 20), 1),
        "tables_in_use_mib": round(table_mib, 1),
        "wal_mib": round(wal / (1 << 20), 1),
        "rss_mib": round(memory.get("VmRSS", 0.0), 1),
        "rss_anon_mib": round(memory.get("RssAnon", 0.0), 1),
    }


def sample(cluster: Cluster, label: str) -> dict[str, Any]:
    nodes = {
        name: node_figures(cluster.data_dir(name), pid) for name, pid in cluster.shard_pids.items()
    }
    return {"at": label, "nodes": nodes}


async def one_put_wave(kv: Client, clients: int, keys: int, value_size: int) -> float:
    """`clients` puts to `keys` keys, each with a client id never used before; seconds taken."""
    started = time.monotonic()
    todo = iter(range(clients))

    async def writer() -> None:
        for n in todo:
            await kv.put(f"key-{n % keys:07d}", random.randbytes(value_size))
            # One session per put, as a client that connects, puts once and goes: the
            # session slot just returned is the only free one (the others are in use by
            # writers suspended in their puts), so clearing the list drops exactly it.
            kv._free_sessions.clear()

    async with trio.open_nursery() as nursery:
        for _ in range(WRITERS):
            nursery.start_soon(writer)
    return time.monotonic() - started


async def wait_sessions_at_most(cluster: Cluster, most: int, timeout: float) -> float:
    started = time.monotonic()
    with trio.move_on_after(timeout):
        while True:
            rows = [
                node_figures(cluster.data_dir(n), p)["session_rows"]
                for n, p in cluster.shard_pids.items()
            ]
            if max(rows) <= most:
                return time.monotonic() - started
            await trio.sleep(2.0)
    raise WaitTimedOut(f"session rows still above {most} after {timeout:.0f} s")


async def run(cluster: Cluster, args: argparse.Namespace) -> list[dict[str, Any]]:
    samples = []
    async with Client.connect(cluster.config_servers, timeout=60.0) as kv:
        await kv.config_client.join({1: cluster.shard_addresses})
        samples.append(sample(cluster, "start"))
        for wave in range(1, args.waves + 1):
            say(f"wave {wave}: {args.clients} one-put clients")
            took = await one_put_wave(kv, args.clients, args.keys, args.value_size)
            say(f"wave {wave}: {args.clients / took:.0f} puts/s")
            samples.append({**sample(cluster, f"after wave {wave}"), "wave_s": round(took, 1)})
            waited = await wait_sessions_at_most(cluster, 0, args.timeout)
            say(f"wave {wave}: every session expired {waited:.0f} s after the wave")
            samples.append({**sample(cluster, f"wave {wave} expired"), "waited_s": round(waited)})
    return samples


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    folder = Path(tempfile.mkdtemp(prefix="eraft-sessions-"))
    cluster = Cluster(folder, args.ttl)
    try:
        say(f"starting a config group and shard group 1 (session_ttl_s = {args.ttl}) in {folder}")
        cluster.start()
        samples = trio.run(run, cluster, args)
    except (SetupError, WaitTimedOut) as exc:
        print(f"tools/session_bench.py: {exc}", file=sys.stderr)
        return EXIT_SETUP if isinstance(exc, SetupError) else EXIT_FAILED
    except KeyboardInterrupt:
        print(
            "tools/session_bench.py: interrupted; everything it started is stopped", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    finally:
        cluster.stop()
        if args.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(samples, indent=2))
    else:
        print_table(samples)
    return EXIT_OK


def print_table(samples: list[dict[str, Any]]) -> None:
    print(
        f"{'':22} {'node':9} {'sessions':>8} {'data.mdb':>9} {'tables':>8} {'wal':>7} "
        f"{'VmRSS':>7} {'RssAnon':>8}"
    )
    for entry in samples:
        for name, f in entry["nodes"].items():
            print(
                f"{entry['at']:22} {name:9} {f['session_rows']:>8} {f['data_mdb_mib']:>7} M "
                f"{f['tables_in_use_mib']:>6} M {f['wal_mib']:>5} M {f['rss_mib']:>5} M "
                f"{f['rss_anon_mib']:>6} M"
            )


if __name__ == "__main__":
    sys.exit(main())

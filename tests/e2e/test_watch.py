"""Watches against real processes: typed events in revision order, a watch that survives a
leader kill (kill -9) and a bucket move mid-stream with no change missed or repeated,
resuming from saved positions, the compacted error, the blocking iterator, an asyncio
program, ctl watch."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest
import trio

from eraft_trio.client import AsyncioClient, Client, SyncClient, WatchEvent
from eraft_trio.client.watch import Watch
from eraft_trio.errors import Compacted
from eraft_trio.protocol.keys import bucket_of
from eraft_trio.roles.shard import watch_events

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe
from .ctl_process import ctl
from .membership import arrange_groups
from .sharded_cluster import ShardedCluster

BUCKETS = 10


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    return module_cluster_factory((1, 2), buckets=BUCKETS)


async def take(events: Watch, count: int, timeout: float = 30) -> list[WatchEvent]:
    taken: list[WatchEvent] = []
    with trio.fail_after(timeout):
        async for event in events:
            taken.append(event)
            if len(taken) == count:
                break
    return taken


async def first_line(stream: trio.abc.ReceiveStream) -> bytes:
    """The first line a ctl watch writes to `stream` (a pipe may hand it over in pieces)."""
    line = b""
    with trio.fail_after(30):
        while not line.endswith(b"\n"):
            chunk = await stream.receive_some()
            assert chunk, "ctl watch ended early"
            line += chunk
    return line


async def exit_code_after(process: trio.Process, signum: int) -> int:
    process.send_signal(signum)
    with trio.fail_after(30):
        return await process.wait()


async def test_a_key_and_a_prefix_watch_see_puts_and_deletes_in_order(
    cluster: ShardedCluster,
) -> None:
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    async with (
        Client.connect(cluster.config_servers, timeout=30) as kv,
        # Held open up to 30 s (the server's cap): events arrive well before only if a
        # commit wakes the poll.
        kv.watch("w1/k", max_wait=60) as one,
        kv.watch(prefix="w1/") as many,
    ):
        first = await kv.put("w1/k", "a")
        await kv.put("w1/other", "x")
        second = await kv.put("w1/k", "b")
        gone = await kv.delete("w1/k")
        b = bucket_of(b"w1/k", BUCKETS)
        key_events = await take(one, 3, timeout=20)
        assert key_events == [
            WatchEvent("put", b"w1/k", b"a", 1, first.revision, b),
            WatchEvent("put", b"w1/k", b"b", 2, second.revision, b),
            WatchEvent("delete", b"w1/k", None, 0, gone.revision, b),
        ]
        seen = await take(many, 4)
        assert sorted((e.key, e.kind, e.value) for e in seen) == [
            (b"w1/k", "delete", None),
            (b"w1/k", "put", b"a"),
            (b"w1/k", "put", b"b"),
            (b"w1/other", "put", b"x"),
        ]
        assert [e for e in seen if e.key == b"w1/k"] == key_events


async def test_a_watch_survives_a_leader_kill_and_a_bucket_move_with_every_change_once(
    cluster: ShardedCluster,
) -> None:
    """A writer puts 1..N under one key; midway the owning group's leader is killed (-9),
    later the bucket moves to the other group; the watcher sees exactly 1..N in order."""
    total = 120
    key = b"w2/counter"
    bucket = bucket_of(key, BUCKETS)
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=60) as kv,
    ):
        config = await arrange_groups(probe, (1, 2))
        owner = config["buckets"][bucket]
        group = cluster.shards[owner]
        leader = await probe.wait_leader(group)
        written = 0
        seen: list[int] = []
        killed, moved = trio.Event(), trio.Event()

        async def writer() -> None:
            nonlocal written
            for n in range(1, total + 1):
                await kv.put(key, b"%d" % n)
                written = n
                if n == total // 3:
                    killed.set()
                    await moved.wait()  # a third of the writes land at the new owner
                await trio.sleep(0)

        async def watcher(events: Watch) -> None:
            with trio.fail_after(120):
                async for event in events:
                    assert event.key == key and event.kind == "put"
                    seen.append(int(event.value or b"0"))
                    if len(seen) == total:
                        return

        async with kv.watch(key, from_revision=1) as events, trio.open_nursery() as nursery:
            nursery.start_soon(watcher, events)  # consuming while the leader dies
            nursery.start_soon(writer)
            await killed.wait()
            group.kill([leader])  # kill -9 mid-stream
            await probe.wait_leader(group, nodes=[n for n in (0, 1, 2) if n != leader])
            await probe.config_client.move((bucket,), 2 if owner == 1 else 1)
            moved.set()
        assert written == total
        group.start([leader])
        await probe.wait_settled()
    assert seen == list(range(1, total + 1))


async def test_a_watch_resumes_from_its_positions_after_it_closed(cluster: ShardedCluster) -> None:
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    async with Client.connect(cluster.config_servers, timeout=30) as kv:
        for n in range(6):
            await kv.put("w3/a" if n % 2 else "w3/b", str(n))
        # One revision for every bucket: 1 (the buckets' revisions are not comparable).
        async with kv.watch(prefix="w3/", from_revision=1) as events:
            head = await take(events, 3)
            positions = events.positions
        async with kv.watch(prefix="w3/", positions=positions) as events:
            rest = await take(events, 3)
        # Per bucket, the two runs together are every change once, in revision order.
        for b in {bucket_of(b"w3/a", BUCKETS), bucket_of(b"w3/b", BUCKETS)}:
            revisions = [e.mod_revision for e in head + rest if e.bucket == b]
            assert revisions == sorted(set(revisions))
        assert sorted(int(e.value or b"") for e in head + rest) == list(range(6))


async def test_an_old_revision_of_a_busy_bucket_answers_compacted(cluster: ShardedCluster) -> None:
    """Past the history's bound (watch_events.MAX_EVENTS) the oldest changes are trimmed."""
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    async with Client.connect(cluster.config_servers, timeout=60) as kv:
        first = await kv.put("{w4}0", "v")
        writes = watch_events.MAX_EVENTS + 100
        writers = 32

        async def writer(start: int) -> None:
            for n in range(start, writes, writers):
                await kv.put(b"{w4}%d" % n, b"v")

        async with trio.open_nursery() as nursery:
            for start in range(writers):
                nursery.start_soon(writer, start)
        async with kv.watch("{w4}0", from_revision=first.revision) as events:
            with pytest.raises(Compacted) as raised, trio.fail_after(30):
                await events.__anext__()
        assert raised.value.bucket == bucket_of(b"{w4}0", BUCKETS)
        assert raised.value.oldest > first.revision


async def test_the_blocking_client_iterates_a_watch(cluster: ShardedCluster) -> None:
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))

    def blocking() -> list[WatchEvent]:
        with SyncClient(cluster.config_servers, timeout=30) as kv:
            start = kv.put("w5/k", "one").revision
            kv.put("w5/k", "two")
            with kv.watch("w5/k", from_revision=start) as events:
                return [next(events), next(events)]

    got = await trio.to_thread.run_sync(blocking)
    assert [(e.value, e.version) for e in got] == [(b"one", 1), (b"two", 2)]


async def test_ctl_watch_streams_json_lines_until_ctrl_c(cluster: ShardedCluster) -> None:
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    servers = ",".join(cluster.config_servers)
    command = [sys.executable, "-m", "eraft_trio", "ctl", "-s", servers, "watch", "w6/", "--prefix"]
    async with Client.connect(cluster.config_servers, timeout=30) as kv:
        # From now (no --rev): another test compacted some bucket's history, and one
        # revision for every bucket of a prefix would be refused there.
        process = await trio.lowlevel.open_process(
            [*command, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert process.stdout is not None and process.stderr is not None
            # "watching" once every bucket's start is known
            assert await first_line(process.stderr) == b"watching prefix w6/\n"
            start = (await kv.put("w6/a", "1")).revision
            await kv.delete("w6/a")
            lines: list[dict[str, object]] = []
            buffer = b""
            with trio.fail_after(30):
                while len(lines) < 2:
                    chunk = await process.stdout.receive_some()
                    assert chunk, "ctl watch ended early"
                    buffer += chunk
                    *complete, buffer = buffer.split(b"\n")
                    lines += [json.loads(line) for line in complete if line]
            assert [(x["kind"], x["key"], x["value"]) for x in lines] == [
                ("put", "w6/a", "1"),
                ("delete", "w6/a", None),
            ]
            assert lines[0]["mod_revision"] == start
            assert await exit_code_after(process, signal.SIGINT) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def test_ctl_watch_of_a_key_from_a_revision(cluster: ShardedCluster) -> None:
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    async with Client.connect(cluster.config_servers, timeout=30) as kv:
        start = (await kv.put("w7/k", "one")).revision
    servers = ",".join(cluster.config_servers)
    command = [sys.executable, "-m", "eraft_trio", "ctl", "-s", servers, "watch", "w7/k"]
    process = await trio.lowlevel.open_process(
        [*command, "--rev", str(start)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await first_line(process.stdout)
        assert line == f"put w7/k one version=1 mod_revision={start}\n".encode()
        assert await exit_code_after(process, signal.SIGINT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    bad = await ctl(cluster.config_servers, "watch", "w7/k", "--rev", "0")
    assert bad.code == 2 and "--rev" in bad.stderr, bad.describe()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_ctl_watch_stops_at_a_signal_even_with_sigint_ignored_by_its_parent(
    cluster: ShardedCluster, stop: signal.Signals
) -> None:
    """Regression: a ctl watch started by a shell without job control (`eraft ctl watch
    K &` in a script) inherits SIGINT ignored; it relied on KeyboardInterrupt, which
    Python then never raises, so kill -INT left it running forever (and SIGTERM killed
    it with no exit status of its own)."""
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    servers = ",".join(cluster.config_servers)
    ctl_watch = f"{sys.executable} -m eraft_trio ctl -s {servers} watch w8/k"
    process = await trio.lowlevel.open_process(
        ["sh", "-c", f"trap '' INT; exec {ctl_watch}"], stderr=subprocess.PIPE
    )
    try:
        assert process.stderr is not None
        assert await first_line(process.stderr) == b"watching w8/k\n"
        assert await exit_code_after(process, stop) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_an_asyncio_program_watches_and_resumes_from_an_event(cluster: ShardedCluster) -> None:
    async def arrange() -> None:
        async with ClusterProbe.open(cluster) as probe:
            await arrange_groups(probe, (1, 2))

    trio.run(arrange)

    async def main() -> tuple[list[WatchEvent], WatchEvent]:
        async with AsyncioClient(cluster.config_servers, timeout=30) as kv:
            first = await kv.put("w8/k", "1")
            await kv.put("w8/k", "2")
            await kv.put("w8/k", "3")
            got: list[WatchEvent] = []
            async with kv.watch("w8/k", from_revision=first.revision) as events:
                async for event in events:
                    got.append(event)
                    if len(got) == 2:
                        break
            # What the asyncio and blocking readers resume from: the last handled event.
            positions = {got[-1].bucket: got[-1].resume_revision}
            async with kv.watch("w8/k", positions=positions) as events:
                rest = await asyncio.wait_for(events.__anext__(), 30)
            return got, rest

    got, rest = asyncio.run(main())
    assert [(e.value, e.version) for e in got] == [(b"1", 1), (b"2", 2)]
    assert (rest.value, rest.version) == (b"3", 3)

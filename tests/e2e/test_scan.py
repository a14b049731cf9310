"""Scans against real processes (issue 16, item 4): keys from every bucket of two groups
come back in global key order, page after page; limit, after, keys only, a hash-tagged
prefix; SyncClient and `eraft ctl scan`; a scan while buckets move (and keys are deleted)
returns every key present before it and never deleted exactly once, and so does one
across a leader kill; 1 MiB values; the wire: a follower redirects, the leader refuses
a malformed request and lists the buckets it does not serve."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import trio

from eraft_trio.client import Client, ScanItem, SyncClient
from eraft_trio.client.scan import ScanIterator
from eraft_trio.errors import BadRequest
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.keys import bucket_of
from eraft_trio.protocol.scan import KvScan, ScanCursor, ScanPage

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe
from .ctl_process import ERAFT, CtlResult, ctl
from .kv_batch import put_all
from .membership import arrange_groups
from .sharded_cluster import ShardedCluster

BUCKETS = 10


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    return module_cluster_factory((1, 2), buckets=BUCKETS)


def ok(result: CtlResult) -> str:
    assert result.code == 0, result.describe()
    return result.stdout


async def collect(scan: ScanIterator) -> list[ScanItem]:
    return [item async for item in scan]


async def test_keys_of_every_bucket_come_back_in_global_key_order(
    cluster: ShardedCluster,
) -> None:
    keys = {b"order/%03d" % n: b"v%d" % n for n in range(150)}
    async with Client.connect(cluster.config_servers, timeout=30) as kv:
        async with ClusterProbe.open(cluster) as probe:
            config = await arrange_groups(probe, (1, 2))
        assert set(config["buckets"]) == {1, 2}
        await put_all(kv, {**keys, b"orde": b"x", b"order0": b"x", b"other/1": b"x"})
        assert {bucket_of(k, BUCKETS) for k in keys} == set(range(BUCKETS))

        items = await collect(kv.scan(b"order/"))
        assert [(i.key, i.value, i.version) for i in items] == [
            (k, v, 1) for k, v in sorted(keys.items())
        ]
        assert all(i.mod_revision > 0 for i in items)
        # Small pages: many rounds to both groups, the same answer.
        paged = ScanIterator(kv, "order/", page_rows=3, page_bytes=64)
        assert [i.key for i in await collect(paged)] == sorted(keys)

        assert [i.key for i in await collect(kv.scan("order/", limit=5))] == sorted(keys)[:5]
        after = await collect(kv.scan("order/", after="order/099", limit=3))
        assert [i.key for i in after] == [b"order/100", b"order/101", b"order/102"]
        assert all(i.value is None for i in await collect(kv.scan("order/", keys_only=True)))
        assert await collect(kv.scan("order/", limit=0)) == []
        assert await collect(kv.scan("nothing/")) == []
        everything = [i.key for i in await collect(kv.scan())]
        assert everything == sorted(everything) and set(keys) <= set(everything)
        with pytest.raises(BadRequest):
            kv.scan("p" * 501)

        def blocking() -> list[bytes]:
            with SyncClient(cluster.config_servers, timeout=30) as sync:
                return [item.key for item in sync.scan("order/", after="order/140")]

        assert await trio.to_thread.run_sync(blocking) == sorted(keys)[141:]


async def test_a_hash_tagged_prefix_reads_its_one_bucket(cluster: ShardedCluster) -> None:
    async with Client.connect(cluster.config_servers, timeout=30) as kv:
        async with ClusterProbe.open(cluster) as probe:
            await arrange_groups(probe, (1, 2))
        user = {b"user{42}:%s" % field: field for field in (b"name", b"email", b"age")}
        await put_all(kv, {**user, b"user{43}:name": b"other"})
        scan = kv.scan("user{42}:")
        items = await collect(scan)
        assert [(i.key, i.value) for i in items] == sorted(user.items())
        assert scan.buckets == (bucket_of(b"42", BUCKETS),)


async def test_a_scan_while_buckets_move_returns_each_present_key_once(
    cluster: ShardedCluster,
) -> None:
    """Pages of 4 rows; after the first items, half the buckets move to the other group
    and some keys not yet reached are deleted. Every key present before the scan and not
    deleted comes exactly once; the order stays strictly increasing."""
    keys = [b"moving/%03d" % n for n in range(300)]
    async with (
        Client.connect(cluster.config_servers, timeout=60) as kv,
        ClusterProbe.open(cluster) as probe,
    ):
        config = await arrange_groups(probe, (1, 2))
        await put_all(kv, dict.fromkeys(keys, b"v"))
        scan = ScanIterator(kv, "moving/", page_rows=4)
        seen = [item.key async for item in _first(scan, 20)]
        moving = tuple(b for b in range(BUCKETS) if b % 2 == 0)
        targets = {2 if config["buckets"][b] == 1 else 1 for b in moving}
        for target in sorted(targets):
            chosen = tuple(b for b in moving if config["buckets"][b] != target)
            await probe.config_client.move(chosen, target)
        deleted = set(keys[250:260])
        for key in sorted(deleted):
            await kv.delete(key)
        seen += [item.key async for item in scan]
        await probe.wait_settled()
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert set(keys) - deleted <= set(seen)
    assert not set(seen) & deleted  # deleted before their pages were read


async def _first(scan: ScanIterator, count: int) -> AsyncIterator[ScanItem]:
    for _ in range(count):
        item = await scan.next_item()
        assert item is not None
        yield item


async def test_values_of_a_mebibyte_are_scanned_one_per_page(cluster: ShardedCluster) -> None:
    big = {b"big/%d" % n: bytes([n]) * (1 << 20) for n in range(3)}
    async with Client.connect(cluster.config_servers, timeout=60) as kv:
        async with ClusterProbe.open(cluster) as probe:
            await arrange_groups(probe, (1, 2))
        for key, value in big.items():
            await kv.put(key, value)
        items = await collect(kv.scan("big/"))
        assert [(i.key, i.value) for i in items] == sorted(big.items())


async def test_ctl_scan_prints_lines_or_json_lines(cluster: ShardedCluster) -> None:
    servers = cluster.config_servers
    async with Client.connect(servers, timeout=30) as kv:
        async with ClusterProbe.open(cluster) as probe:
            await arrange_groups(probe, (1, 2))
        await put_all(kv, {b"ctl/%d" % n: b"value %d" % n for n in range(5)})
    lines = ok(await ctl(servers, "scan", "ctl/", timeout=30)).splitlines()
    assert lines == [f"ctl/{n}\tvalue {n}" for n in range(5)]
    keys = ok(await ctl(servers, "scan", "ctl/", "--keys-only", "--after", "ctl/1", "--limit", "2"))
    assert keys.splitlines() == ["ctl/2", "ctl/3"]
    documents = [
        json.loads(line)
        for line in ok(await ctl(servers, "scan", "ctl/", "--json", "--limit", "1")).splitlines()
    ]
    assert len(documents) == 1 and documents[0]["key"] == "ctl/0"
    assert documents[0]["value"] == "value 0" and documents[0]["version"] == 1
    assert documents[0]["mod_revision"] > 0
    assert ok(await ctl(servers, "scan", "nothing/")) == ""
    bad = await ctl(servers, "scan", "--limit", "-1")
    assert bad.code == 2 and "--limit" in bad.stderr, bad.describe()
    long = await ctl(servers, "scan", "p" * 501)
    assert long.code == 2 and "key_too_long" in long.stderr, long.describe()


async def test_a_scan_across_a_leader_kill_returns_each_key_once(cluster: ShardedCluster) -> None:
    keys = [b"leader/%03d" % n for n in range(120)]
    async with (
        Client.connect(cluster.config_servers, timeout=60) as kv,
        ClusterProbe.open(cluster) as probe,
    ):
        await arrange_groups(probe, (1, 2))
        await put_all(kv, dict.fromkeys(keys, b"v"))
        group = cluster.shards[1]
        leader = await probe.wait_leader(group)
        scan = ScanIterator(kv, "leader/", page_rows=2)
        seen = [item.key async for item in _first(scan, 15)]
        group.kill([leader])
        try:
            seen += [item.key async for item in scan]
        finally:
            group.start([leader])
    assert seen == keys


async def test_the_wire_a_follower_redirects_and_the_leader_answers_or_refuses(
    cluster: ShardedCluster,
) -> None:
    async with ClusterProbe.open(cluster) as probe:
        config = await arrange_groups(probe, (1, 2))
        group = cluster.shards[1]
        leader = await probe.wait_leader(group)
        address = group.address(leader)
        owned = [b for b, gid in enumerate(config["buckets"]) if gid == 1]
        every = KvScan([ScanCursor(b) for b in range(BUCKETS)], b"", 10, 1000, keys_only=True)

        page = await probe.call(address, every)
        assert type(page) is ScanPage and page.num == config["num"]
        assert [p.bucket for p in page.pages] == owned
        assert page.moved == [b for b in range(BUCKETS) if b not in owned]

        follower = next(n for n in range(group.size) if n != leader)
        redirected = await probe.call(group.address(follower), every)
        assert type(redirected) is ErrorReply and redirected.code is ErrorCode.NOT_LEADER
        assert redirected.leader == address

        twice = KvScan([ScanCursor(owned[0]), ScanCursor(owned[0])], b"", 10, 1000)
        refused = await probe.call(address, twice)
        assert type(refused) is ErrorReply and refused.code is ErrorCode.BAD_REQUEST
        long = KvScan([ScanCursor(owned[0])], b"p" * 501, 10, 1000)
        refused = await probe.call(address, long)
        assert type(refused) is ErrorReply and refused.code is ErrorCode.KEY_TOO_LONG


async def test_ctl_scan_into_a_pipe_closed_early_exits_quietly(cluster: ShardedCluster) -> None:
    """`eraft ctl scan | head -1`: the reader leaves after one line, and the scan's next
    write finds the pipe closed. That ends the scan with exit 0 and no traceback."""
    servers = cluster.config_servers
    async with Client.connect(servers, timeout=30) as kv:
        async with ClusterProbe.open(cluster) as probe:
            await arrange_groups(probe, (1, 2))
        # More than a pipe's buffer (64 KiB), so the writer is still writing when head leaves.
        await put_all(kv, {b"pipe/%02d" % n: b"x" * 20_000 for n in range(20)})
    command = (
        f'"{ERAFT}" ctl -s {",".join(servers)} --timeout 30 scan pipe/ | head -c 10; '
        'echo; echo "exit=${PIPESTATUS[0]}"'
    )
    done = await trio.run_process(
        ["bash", "-c", command], capture_stdout=True, capture_stderr=True, check=False
    )
    assert done.stdout.decode().splitlines() == ["pipe/00\txx", "exit=0"]
    assert done.stderr == b""

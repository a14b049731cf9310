"""Versions and compare-and-set against real processes (issue 16, items 1-2): the client,
the blocking client and `eraft ctl`; a moved key keeps its version; a CAS counter under a
leader kill ends exact (a retried CAS is answered from its session, not compared again)."""

from __future__ import annotations

import json

import pytest
import trio

from eraft_trio.client import CasResult, Client, GetResult, PutResult, SyncClient
from eraft_trio.errors import BadRequest
from eraft_trio.protocol.keys import bucket_of

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe
from .ctl_process import CtlResult, ctl
from .membership import arrange_groups
from .sharded_cluster import ShardedCluster

BUCKETS = 10


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    return module_cluster_factory((1, 2), buckets=BUCKETS)


def ok(result: CtlResult) -> str:
    assert result.code == 0, result.describe()
    return result.stdout


async def test_the_client_reads_versions_and_compares_and_sets(cluster: ShardedCluster) -> None:
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    async with Client.connect(cluster.config_servers, timeout=30) as kv:
        assert await kv.get_versioned("cas/k") == GetResult(None, 0, 0)
        first = await kv.put("cas/k", "a")
        assert isinstance(first, PutResult) and first.version == 1 and first.revision > 0
        assert await kv.get_versioned("cas/k") == GetResult(b"a", 1, first.revision)

        refused = await kv.put("cas/k", "b", if_absent=True)
        assert refused == CasResult(False, None, GetResult(b"a", 1, first.revision))
        taken = await kv.put("cas/k", "b", if_version=1)
        assert taken.revision is not None and taken.revision > first.revision
        assert taken.succeeded and taken.current == GetResult(b"b", 2, taken.revision)
        assert not (await kv.put("cas/k", "c", if_value="a")).succeeded
        assert (await kv.put("cas/k", "c", if_value="b")).current.version == 3

        assert not (await kv.delete("cas/k", if_version=2)).succeeded
        assert (await kv.delete("cas/k", if_value=b"c")).succeeded
        assert (await kv.get_versioned("cas/k")).version == 0
        assert (await kv.put("cas/k", "reborn")).version == 1  # a delete reset the version
        with pytest.raises(BadRequest):
            await kv.put("cas/k", "x", if_version=1, if_absent=True)  # type: ignore[call-overload]

        def blocking() -> tuple[GetResult, CasResult]:
            with SyncClient(cluster.config_servers, timeout=30) as sync:
                read = sync.get_versioned("cas/k")
                return read, sync.put("cas/k", "sync", if_version=read.version)

        read, written = await trio.to_thread.run_sync(blocking)
        assert read.value == b"reborn" and written.succeeded and written.revision is not None
        assert written.current == GetResult(b"sync", read.version + 1, written.revision)


async def test_a_delete_answers_its_own_revision(cluster: ShardedCluster) -> None:
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    async with Client.connect(cluster.config_servers, timeout=30) as kv:
        put = await kv.put("rev/k", "v")
        deleted = await kv.delete("rev/k")
        assert deleted.deleted and deleted.revision > put.revision
        missing = await kv.delete("rev/k")
        assert not missing.deleted and missing.revision > deleted.revision


async def test_ctl_prints_versions_and_puts_on_condition(cluster: ShardedCluster) -> None:
    servers = cluster.config_servers
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    assert ok(await ctl(servers, "put", "ctl/k", "one", "--if-absent", timeout=30)) == "OK\n"
    value, meta = ok(await ctl(servers, "get", "ctl/k", "--rev")).splitlines()
    assert value == "one" and meta.startswith("version=1 mod_revision=")
    revision = int(meta.split("mod_revision=")[1])
    as_json = json.loads(ok(await ctl(servers, "get", "ctl/k", "--rev", "--json")))
    assert as_json == {"key": "ctl/k", "value": "one", "version": 1, "mod_revision": revision}

    again = await ctl(servers, "put", "ctl/k", "two", "--if-absent")
    assert again.code == 1 and again.stdout == "", again.describe()
    assert again.stderr.strip() == f"compare failed: version=1 mod_revision={revision}"
    stale = await ctl(servers, "put", "ctl/k", "two", "--if-version", "5")
    assert stale.code == 1, stale.describe()
    assert ok(await ctl(servers, "put", "ctl/k", "two", "--if-version", "1")) == "OK\n"
    assert ok(await ctl(servers, "get", "ctl/k", "--rev")).splitlines()[1].startswith("version=2 ")
    both = await ctl(servers, "put", "ctl/k", "x", "--if-version", "1", "--if-absent")
    assert both.code == 2, both.describe()
    assert ok(await ctl(servers, "delete", "ctl/k", "--if-value", "two")) == "OK\n"
    missing = await ctl(servers, "get", "ctl/k", "--rev", "--json")
    assert missing.code == 1
    assert json.loads(missing.stdout) == {
        "key": "ctl/k",
        "value": None,
        "version": 0,
        "mod_revision": 0,
    }


async def test_a_moved_key_keeps_its_version_and_revision(cluster: ShardedCluster) -> None:
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=30) as kv,
    ):
        config = await arrange_groups(probe, (1, 2))
        key = b"moving/k"
        bucket = bucket_of(key, BUCKETS)
        for n in range(3):
            await kv.put(key, b"v%d" % n)
        before = await kv.get_versioned(key)
        assert before.version == 3
        other = 2 if config["buckets"][bucket] == 1 else 1
        await probe.config_client.move((bucket,), other)
        await probe.wait_settled()
        assert await kv.get_versioned(key) == before
        assert (await kv.put(key, b"v3", if_version=3)).current.version == 4


async def test_a_cas_counter_ends_exact_across_a_leader_kill(cluster: ShardedCluster) -> None:
    """Each worker reads the counter and CASes it one up until it has done its share. A
    CAS applied but answered only after the kill is retried by the client; answered from
    the session it counts once, where a second comparison would fail and count again."""
    workers, each = 4, 15
    key = b"counter"
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=60) as kv,
    ):
        config = await arrange_groups(probe, (1, 2))
        await kv.put(key, b"0")
        group = cluster.shards[config["buckets"][bucket_of(key, BUCKETS)]]
        leader = await probe.wait_leader(group)
        progress = trio.Event()
        done = 0

        async def worker() -> None:
            nonlocal done
            for _ in range(each):
                while True:
                    read = await kv.get_versioned(key)
                    assert read.value is not None
                    new = b"%d" % (int(read.value) + 1)
                    if (await kv.put(key, new, if_version=read.version)).succeeded:
                        break
                done += 1
                if done == workers * each // 3:
                    progress.set()

        async with trio.open_nursery() as nursery:
            for _ in range(workers):
                nursery.start_soon(worker)
            await progress.wait()
            group.kill([leader])  # mid-stream: CASes in flight are retried elsewhere
        group.start([leader])
        assert await kv.get(key) == b"%d" % (workers * each)

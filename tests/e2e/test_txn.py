"""Transactions against real processes (issue 16, item 3): the client and the blocking
client, the one-bucket rule (refused by the client, and by the leader before logging),
a retried txn answered from its session, a txn to a bucket that moved, and a txn
counter that ends exact across a leader kill; `eraft ctl txn` as a process."""

from __future__ import annotations

import json

import pytest
import trio

from eraft_trio.client import Client, DeleteResult, GetResult, PutResult, SyncClient
from eraft_trio.client.txn import Compare, TxnResult, compare, delete_op, get_op, put_op
from eraft_trio.errors import BadRequest
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.keys import bucket_of
from eraft_trio.protocol.txn import KvTxn, TxnDone, TxnOp

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe
from .ctl_process import ctl
from .membership import arrange_groups
from .sharded_cluster import ShardedCluster

BUCKETS = 10


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    return module_cluster_factory((1, 2), buckets=BUCKETS)


def keys_in_two_buckets() -> tuple[bytes, bytes]:
    first = b"x/a"
    for n in range(100):
        other = b"x/b%d" % n
        if bucket_of(other, BUCKETS) != bucket_of(first, BUCKETS):
            return first, other
    raise AssertionError("no second bucket")


async def leader_address(probe: ClusterProbe, cluster: ShardedCluster, key: bytes) -> str:
    config = await probe.latest_config()
    group = cluster.shards[config["buckets"][bucket_of(key, BUCKETS)]]
    return group.address(await probe.wait_leader(group))


async def test_a_txn_runs_success_or_failure_atomically(cluster: ShardedCluster) -> None:
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    async with Client.connect(cluster.config_servers, timeout=30) as kv:
        created = await kv.txn(
            compares=[Compare.version("user{1}:name") == 0],
            success=[put_op("user{1}:name", "ann"), put_op("user{1}:mail", "a@x")],
            failure=[get_op("user{1}:name")],
        )
        assert created.succeeded and created.revision > 0
        assert created.results == (PutResult(created.revision, 1), PutResult(created.revision, 1))
        assert await kv.get_versioned("user{1}:mail") == GetResult(b"a@x", 1, created.revision)

        again = await kv.txn(
            compares=[compare("user{1}:name", "version", "==", 0)],
            success=[put_op("user{1}:name", "bob")],
            failure=[get_op("user{1}:name"), delete_op("user{1}:mail")],
        )
        assert not again.succeeded
        assert again.results == (
            GetResult(b"ann", 1, created.revision),
            DeleteResult(again.revision, True),
        )
        assert await kv.get("user{1}:name") == b"ann"
        assert await kv.get("user{1}:mail") is None

        def blocking() -> TxnResult:
            with SyncClient(cluster.config_servers, timeout=30) as sync:
                return sync.txn(
                    [Compare.value("user{1}:name") == "ann"], [put_op("user{1}:name", "sync")]
                )

        assert (await trio.to_thread.run_sync(blocking)).succeeded
        assert await kv.get("user{1}:name") == b"sync"


async def test_a_txn_across_buckets_is_refused_before_it_is_logged(
    cluster: ShardedCluster,
) -> None:
    first, second = keys_in_two_buckets()
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
        async with Client.connect(cluster.config_servers, timeout=30) as kv:
            with pytest.raises(BadRequest) as refused:
                await kv.txn(success=[put_op(first, "1"), put_op(second, "2")])
            assert refused.value.code == "cross_bucket"
            assert f"bucket {bucket_of(second, BUCKETS)}" in str(refused.value)
        # The leader refuses it too (a client that does not check), before logging it.
        leader = await leader_address(probe, cluster, first)
        body = KvTxn(77, 1, (), (TxnOp("put", first, b"1"), TxnOp("put", second, b"2")), ())
        reply = await probe.call(leader, body)
        assert type(reply) is ErrorReply and reply.code is ErrorCode.CROSS_BUCKET
        async with Client.connect(cluster.config_servers, timeout=30) as kv:
            assert await kv.get(first) is None and await kv.get(second) is None


async def test_a_retried_txn_is_answered_from_its_session(cluster: ShardedCluster) -> None:
    key = b"retried/k"
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
        leader = await leader_address(probe, cluster, key)
        body = KvTxn(
            4242, 1, (), (TxnOp("put", key, b"once"), TxnOp("get", key)), (), new_session=True
        )
        first = await probe.call(leader, body)
        assert type(first) is TxnDone and first.results[0] == {"op": "put", "version": 1}
        assert await probe.call(leader, body) == first  # the same seq: the same answer
        async with Client.connect(cluster.config_servers, timeout=30) as kv:
            assert (await kv.get_versioned(key)).version == 1


async def test_a_txn_to_a_bucket_that_moved_follows_it(cluster: ShardedCluster) -> None:
    key = b"moved{t}:a"
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=30) as kv,
    ):
        config = await arrange_groups(probe, (1, 2))
        await kv.put(key, "v1")
        assert kv.config is not None  # the client now holds the config before the move
        bucket = bucket_of(key, BUCKETS)
        other = 2 if config["buckets"][bucket] == 1 else 1
        await probe.config_client.move((bucket,), other)
        await probe.wait_settled()
        # The old owner answers wrong_group; the client refreshes its config and retries.
        moved = await kv.txn([Compare.version(key) == 1], [put_op(key, "v2"), get_op(key)])
        assert moved.succeeded
        assert moved.results[1] == GetResult(b"v2", 2, moved.revision)
        assert kv.config is not None and kv.config["buckets"][bucket] == other


async def test_a_txn_counter_ends_exact_across_a_leader_kill(cluster: ShardedCluster) -> None:
    """Each worker increments with a txn comparing the value it last saw; a failed
    compare's get tells it the current one. A txn applied but answered only after the
    kill is retried by the client and answered from the session, so it counts once."""
    workers, each = 4, 10
    key = b"txn-counter"
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
            seen = b"0"
            for _ in range(each):
                while True:
                    new = b"%d" % (int(seen) + 1)
                    result = await kv.txn(
                        [Compare.value(key) == seen], [put_op(key, new)], [get_op(key)]
                    )
                    if result.succeeded:
                        seen = new
                        break
                    current = result.results[0]
                    assert isinstance(current, GetResult) and current.value is not None
                    seen = current.value
                done += 1
                if done == workers * each // 3:
                    progress.set()

        async with trio.open_nursery() as nursery:
            for _ in range(workers):
                nursery.start_soon(worker)
            await progress.wait()
            group.kill([leader])
        group.start([leader])
        assert await kv.get(key) == b"%d" % (workers * each)


async def test_ctl_txn_reads_json_on_stdin(cluster: ShardedCluster) -> None:
    servers = cluster.config_servers
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    document = {
        "compare": [{"key": "ctl{7}:a", "target": "version", "op": "==", "operand": 0}],
        "success": [
            {"op": "put", "key": "ctl{7}:a", "value": "one"},
            {"op": "put", "key": "ctl{7}:b", "value": "two"},
        ],
        "failure": [{"op": "get", "key": "ctl{7}:a"}],
    }
    text = json.dumps(document).encode()
    created = await ctl(servers, "txn", "--json", stdin=text, timeout=30)
    assert created.code == 0, created.describe()
    answer = json.loads(created.stdout)
    revision = answer["revision"]
    assert answer == {
        "succeeded": True,
        "revision": revision,
        "results": [
            {"op": "put", "key": "ctl{7}:a", "version": 1},
            {"op": "put", "key": "ctl{7}:b", "version": 1},
        ],
    }
    failed = await ctl(servers, "txn", stdin=text)  # the key exists now: compare fails
    assert failed.code == 1, failed.describe()
    assert failed.stdout.splitlines()[1] == (
        f'get ctl{{7}}:a = "one" version=1 mod_revision={revision}'
    )
    encoded = {"success": [{"op": "put", "key": "ctl{7}:a", "value": "AAE="}]}
    binary = await ctl(servers, "txn", "--base64", stdin=json.dumps(encoded).encode())
    assert binary.code == 0, binary.describe()
    async with Client.connect(servers, timeout=30) as kv:
        assert await kv.get("ctl{7}:a") == b"\x00\x01"

    first, second = keys_in_two_buckets()
    across = {"success": [{"op": "delete", "key": k.decode()} for k in (first, second)]}
    refused = await ctl(servers, "txn", stdin=json.dumps(across).encode())
    assert refused.code == 2 and "cross_bucket" in refused.stderr, refused.describe()
    for bad in (b"{", b"[]", b'{"success": [{"op": "put", "key": "k"}]}', b'{"then": []}'):
        result = await ctl(servers, "txn", stdin=bad)
        assert result.code == 2 and result.stdout == "", result.describe()


async def test_a_write_fenced_by_the_lock_token_fails_once_the_lock_changed_hands(
    cluster: ShardedCluster,
) -> None:
    """The strict form of the lock recipe (docs/reference.md, Recipes): a write made as a
    txn comparing the lock key's mod revision with the fencing token applies while the
    lock is ours, and fails its comparison, writing nothing, once another holder took it."""
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    async with Client.connect(cluster.config_servers, timeout=30) as kv:

        async def fenced_increment(token: int) -> TxnResult:
            current = await kv.get_versioned("{fence}value")
            return await kv.txn(
                [Compare.mod_revision("{fence}lock") == token],
                [put_op("{fence}value", str(int(current.value or b"0") + 1))],
            )

        async with kv.lock("{fence}lock", ttl=10) as first:
            assert (await fenced_increment(first.fencing_token)).succeeded
        async with kv.lock("{fence}lock", ttl=10) as second:
            assert second.fencing_token > first.fencing_token
            late = await fenced_increment(first.fencing_token)  # the first holder, too late
            assert not late.succeeded and late.results == ()
            assert (await fenced_increment(second.fencing_token)).succeeded
        assert await kv.get("{fence}value") == b"2"

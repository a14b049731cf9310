"""Leases against real processes (issue 16, item 6): an expired lease's keys go at the same
log entry on every replica; keep-alive holds a key past its TTL; a leader kill does not
expire a live lease; `eraft ctl lease`; and the lock recipe keeps a counter exact."""

from __future__ import annotations

import asyncio

import pytest
import trio
from integration.cluster import wait_for

from eraft_trio.client import AsyncioClient, Client, SyncClient
from eraft_trio.errors import BadRequest, LeaseLost
from eraft_trio.protocol.keys import bucket_of

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe
from .ctl_process import CtlResult, ctl
from .membership import arrange_groups
from .sharded_cluster import ShardedCluster

BUCKETS = 10
# Bounds a broken run only: expiry is polled every 0.2 s on the leader.
EXPIRY_DEADLINE = 30.0


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    return module_cluster_factory((1, 2), buckets=BUCKETS)


def ok(result: CtlResult) -> str:
    assert result.code == 0, result.describe()
    return result.stdout


def group_of(config: dict[str, object], key: bytes) -> int:
    buckets = config["buckets"]
    assert isinstance(buckets, list)
    return int(buckets[bucket_of(key, BUCKETS)])


async def test_an_expired_leases_keys_go_at_one_entry_on_every_replica(
    cluster: ShardedCluster,
) -> None:
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=30) as kv,
    ):
        config = await arrange_groups(probe, (1, 2))
        keys = [b"expire{e}:%d" % n for n in range(3)]
        gid = group_of(config, keys[0])
        lease = await kv.lease_grant(1, key=keys[0])
        assert lease.id >> 40 == bucket_of(keys[0], BUCKETS) and lease.ttl == 1
        for key in keys:
            await kv.put(key, b"v", lease=lease.id)
        await kv.put(b"expire{e}:plain", b"stays")

        async def expired_everywhere() -> dict[str, int] | None:
            shards = await probe.shard_statuses(gid)
            seen = [None if s is None else s.get("lease_expiry") for s in shards.values()]
            if len(seen) != 3 or None in seen or any(s != seen[0] for s in seen):
                return None
            return seen[0]

        expiry = await wait_for(
            expired_everywhere, timeout=EXPIRY_DEADLINE, what="the lease's expiry on every replica"
        )
        assert expiry["leases"] == 1 and expiry["keys"] == 3
        for key in keys:
            assert await kv.get(key) is None
        assert await kv.get(b"expire{e}:plain") == b"stays"
        with pytest.raises(BadRequest, match="lease"):
            await kv.keep_alive(lease.id)
        with pytest.raises(BadRequest) as refused:
            await kv.put(keys[0], b"again", lease=lease.id)
        assert refused.value.code == "lease_not_found"


async def test_keep_alive_holds_a_key_past_its_ttl_and_revoke_ends_it(
    cluster: ShardedCluster,
) -> None:
    ttl = 1.0
    key = b"kept{k}:a"
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=30) as kv,
    ):
        await arrange_groups(probe, (1, 2))
        async with kv.lease(ttl, key=key) as lease:
            await kv.put(key, b"held", lease=lease.id)
            started = trio.current_time()
            # Three TTLs of renewals (every ttl/3) with the key there throughout.
            while trio.current_time() - started < 3 * ttl:
                assert await kv.get(key) == b"held"
                await trio.sleep(0.1)
            assert not lease.lost.is_set()
        # Leaving the block revoked the lease: its key went with it.
        assert await kv.get(key) is None
        other_bucket = next(
            b"kept%d" % n
            for n in range(100)
            if bucket_of(b"kept%d" % n, BUCKETS) != bucket_of(key, BUCKETS)
        )
        async with kv.lease(ttl, key=key) as lease:
            with pytest.raises(BadRequest) as refused:
                await kv.put(other_bucket, b"x", lease=lease.id)
            assert refused.value.code == "lease_bucket"


async def test_a_leader_kill_does_not_expire_a_live_lease(cluster: ShardedCluster) -> None:
    ttl = 2.0
    key = b"survive{s}:a"
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=30) as kv,
    ):
        config = await arrange_groups(probe, (1, 2))
        group = cluster.shards[group_of(config, key)]
        async with kv.lease(ttl, key=key) as lease:
            await kv.put(key, b"held", lease=lease.id)
            leader = await probe.wait_leader(group)
            group.kill([leader])
            try:
                await probe.wait_leader(group, [n for n in range(group.size) if n != leader])
                started = trio.current_time()
                while trio.current_time() - started < 2 * ttl:
                    assert await kv.get(key) == b"held"
                    await trio.sleep(0.1)
                assert not lease.lost.is_set()
            finally:
                group.start([leader])
        assert await kv.get(key) is None


async def test_ctl_grants_attaches_keeps_alive_and_revokes(cluster: ShardedCluster) -> None:
    servers = cluster.config_servers
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))
    lease_id = ok(await ctl(servers, "lease", "grant", "60", "--key", "ctl{l}:a")).strip()
    assert int(lease_id) > 0
    assert ok(await ctl(servers, "put", "ctl{l}:a", "v", "--lease", lease_id)) == "OK\n"
    assert ok(await ctl(servers, "lease", "keepalive", lease_id)) == "ttl=60\n"
    assert ok(await ctl(servers, "lease", "revoke", lease_id)) == "OK: deleted 1 keys\n"
    assert (await ctl(servers, "get", "ctl{l}:a")).code == 1
    gone = await ctl(servers, "lease", "keepalive", lease_id)
    assert gone.code == 1 and "lease_not_found" in gone.stderr, gone.describe()
    bad = await ctl(servers, "lease", "grant", "0.5", "--key", "k")
    assert bad.code == 2 and "TTL" in bad.stderr, bad.describe()


async def test_eight_workers_under_the_lock_keep_a_counter_exact(cluster: ShardedCluster) -> None:
    """Each worker takes the lock, reads the counter and CASes it one up: under the lock no
    CAS may fail, and the fencing tokens of successive holders only grow."""
    workers, each = 8, 4
    counter = b"locked{c}:counter"
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=30) as kv,
    ):
        await arrange_groups(probe, (1, 2))
        await kv.put(counter, b"0")
        tokens: list[int] = []

        async def worker() -> None:
            for _ in range(each):
                async with kv.lock(b"locked{c}:lock", ttl=5) as held:
                    tokens.append(held.fencing_token)
                    read = await kv.get_versioned(counter)
                    assert read.value is not None
                    bumped = b"%d" % (int(read.value) + 1)
                    assert (await kv.put(counter, bumped, if_version=read.version)).succeeded

        async with trio.open_nursery() as nursery:
            for _ in range(workers):
                nursery.start_soon(worker)
        assert await kv.get(counter) == b"%d" % (workers * each)
        assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)
        assert await kv.get(b"locked{c}:lock") is None


async def test_a_holder_that_lost_its_lock_does_not_release_the_next_holders(
    cluster: ShardedCluster,
) -> None:
    """Regression: releasing with if_version deleted the next holder's key, which is at
    version 1 again after the end of the first holder's lease deleted the first's."""
    name = b"lost{l}:lock"
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=30) as kv,
    ):
        await arrange_groups(probe, (1, 2))
        first_revoked, second_holds, first_released = trio.Event(), trio.Event(), trio.Event()
        tokens: dict[str, int] = {}

        async def first_holder() -> None:
            try:
                async with kv.lock(name, ttl=5) as first:
                    tokens["first"] = first.fencing_token
                    await kv.revoke(first.lease.id)  # as if its lease expired in a long pause
                    first_revoked.set()
                    with trio.CancelScope(shield=True):  # the pause: it notices nothing
                        await second_holds.wait()
            except LeaseLost:
                pass  # its keep-alive may have found the lease gone meanwhile
            first_released.set()  # it woke up and released: the second's key must stay

        async def second_holder() -> None:
            await first_revoked.wait()
            async with kv.lock(name, ttl=5) as second:
                tokens["second"] = second.fencing_token
                second_holds.set()
                await first_released.wait()
                assert await kv.get(name) == second.holder

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first_holder)
            nursery.start_soon(second_holder)
        assert tokens["second"] > tokens["first"]
        assert await kv.get(name) is None


async def test_a_lease_moves_with_its_bucket(cluster: ShardedCluster) -> None:
    key = b"moving{m}:a"
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(cluster.config_servers, timeout=30) as kv,
    ):
        config = await arrange_groups(probe, (1, 2))
        lease = await kv.lease_grant(60, key=key)
        await kv.put(key, b"v", lease=lease.id)
        other = 2 if group_of(config, key) == 1 else 1
        await probe.config_client.move((bucket_of(key, BUCKETS),), other)
        await probe.wait_settled()
        assert group_of(await probe.latest_config(), key) == other
        # The new owner has the lease, its key and its attachment.
        assert await kv.keep_alive(lease.id) == 60
        assert (await kv.revoke(lease.id)).deleted == 1
        assert await kv.get(key) is None


async def test_the_blocking_client_grants_puts_and_revokes(cluster: ShardedCluster) -> None:
    key = b"sync{s}:a"
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))

    def blocking() -> tuple[bytes | None, int, bytes | None]:
        with SyncClient(cluster.config_servers, timeout=30) as kv:
            lease = kv.lease_grant(30, key=key)
            kv.put(key, b"v", lease=lease.id)
            before = kv.get(key)
            kv.keep_alive(lease.id)
            deleted = kv.revoke(lease.id).deleted
            return before, deleted, kv.get(key)

    assert await trio.to_thread.run_sync(blocking) == (b"v", 1, None)


async def test_the_blocking_and_asyncio_clients_hold_leases_and_locks(
    cluster: ShardedCluster,
) -> None:
    """SyncClient's `with` and AsyncioClient's `async with` lease() and lock(); a lock
    whose lease is lost cancels the asyncio block and raises LeaseLost (issue 16)."""
    key, name = b"drivers{d}:a", b"drivers{d}:lock"
    async with ClusterProbe.open(cluster) as probe:
        await arrange_groups(probe, (1, 2))

    def blocking() -> tuple[bytes | None, bool, bytes | None]:
        with SyncClient(cluster.config_servers, timeout=30) as kv:
            with kv.lease(5, key=key) as lease:
                kv.put(key, b"v", lease=lease.id)
                assert kv.get(key) == b"v" and not lease.lost.is_set()
            with kv.lock(name, ttl=5) as held:
                ours = kv.get(name) == held.holder
            return kv.get(key), ours, kv.get(name)

    assert await trio.to_thread.run_sync(blocking) == (None, True, None)

    def in_asyncio() -> None:
        async def main() -> None:
            async with AsyncioClient(cluster.config_servers, timeout=30) as kv:
                with pytest.raises(LeaseLost):
                    async with kv.lock(name, ttl=3) as held:
                        assert await kv.get(name) == held.holder
                        await kv.revoke(held.lease.id)  # its keep-alive will find it gone
                        await asyncio.Event().wait()  # the block's work: cancelled
                assert await kv.get(name) is None

        asyncio.run(main())

    await trio.to_thread.run_sync(in_asyncio)

"""The asyncio client against real processes (issue 16 item 7): a plain `asyncio.run`
program doing put / get / versioned reads / compare-and-set, 100 concurrent asyncio tasks,
trio streams (a generator of reads, scan), a cancelled call, and close; the blocking client beside it in the same program."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import trio
from client.portal_helpers import wait_until

from eraft_trio.client import AsyncioClient, CasResult, Client, GetResult, PutResult, SyncClient
from eraft_trio.errors import BadRequest, ClientClosed

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe
from .membership import arrange_groups
from .sharded_cluster import ShardedCluster

TASKS = 100


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    return module_cluster_factory((1, 2), buckets=10)


def arranged(cluster: ShardedCluster) -> ShardedCluster:
    async def arrange() -> None:
        async with ClusterProbe.open(cluster) as probe:
            await arrange_groups(probe, (1, 2))

    trio.run(arrange)
    return cluster


def test_an_asyncio_program_puts_gets_and_compares_and_sets(cluster: ShardedCluster) -> None:
    servers = arranged(cluster).config_servers

    async def main() -> None:
        async with AsyncioClient(servers, timeout=30) as kv:
            assert await kv.get("aio/k") is None
            assert await kv.get_versioned("aio/k") == GetResult(None, 0, 0)
            first = await kv.put("aio/k", "a")
            assert isinstance(first, PutResult) and first.version == 1
            assert await kv.get("aio/k") == b"a"

            refused = await kv.put("aio/k", "b", if_absent=True)
            assert refused == CasResult(False, None, GetResult(b"a", 1, first.revision))
            taken = await kv.put("aio/k", "b", if_version=1)
            assert taken.succeeded and taken.revision is not None
            assert taken.current == GetResult(b"b", 2, taken.revision)
            assert (await kv.put("aio/k", "c", if_value=b"b")).current.version == 3
            assert not (await kv.delete("aio/k", if_version=2)).succeeded
            assert (await kv.delete("aio/k", if_value="c")).succeeded
            gone = await kv.delete("aio/k")
            assert not gone.deleted and gone.revision > taken.revision
            with pytest.raises(BadRequest):
                await kv.put("aio/k", "x" * 2_000_000)

            # The blocking client in a thread of the same program, on the same keys.
            def blocking() -> GetResult:
                with SyncClient(servers, timeout=30) as sync:
                    sync.put("aio/k", "sync")
                    return sync.get_versioned("aio/k")

            read = await asyncio.to_thread(blocking)
            assert await kv.get_versioned("aio/k") == read

    asyncio.run(main())


def test_a_hundred_concurrent_tasks_and_a_cas_counter(cluster: ShardedCluster) -> None:
    servers = arranged(cluster).config_servers

    async def main() -> None:
        kv = await AsyncioClient.connect(servers, timeout=30)
        async with kv:
            keys = [f"aio/many/{n}" for n in range(TASKS)]
            await asyncio.gather(*(kv.put(key, key) for key in keys))
            values = await asyncio.gather(*(kv.get(key) for key in keys))
            assert values == [key.encode() for key in keys]

            await kv.put("aio/counter", "0")

            async def increment() -> None:
                while True:
                    read = await kv.get_versioned("aio/counter")
                    assert read.value is not None
                    new = str(int(read.value) + 1)
                    if (await kv.put("aio/counter", new, if_version=read.version)).succeeded:
                        return

            await asyncio.gather(*(increment() for _ in range(TASKS)))
            assert await kv.get("aio/counter") == str(TASKS).encode()

    asyncio.run(main())


async def values_of(client: Client, keys: list[str]) -> AsyncIterator[bytes | None]:
    """A trio stream of real reads, standing in for the streaming calls (scan, watch)."""
    for key in keys:
        yield await client.get(key)


def test_trio_streams_reach_asyncio_a_generator_of_reads_and_scan(cluster: ShardedCluster) -> None:
    servers = arranged(cluster).config_servers
    keys = [f"aio/stream/{n}" for n in range(200)]

    async def main() -> None:
        async with AsyncioClient(servers, timeout=30) as kv:
            await asyncio.gather(*(kv.put(key, key) for key in keys))
            async with kv._stream(values_of, keys) as stream:
                assert [value async for value in stream] == [key.encode() for key in keys]
            async with kv._stream(values_of, keys) as stream:
                assert await stream.__anext__() == keys[0].encode()
            # leaving the block early closed the trio side
            portal = kv._connected()
            await asyncio.to_thread(wait_until, lambda: portal.calls_in_flight() == 0, "closed")

            scanned = [item async for item in kv.scan("aio/stream/")]
            assert [item.key for item in scanned] == sorted(key.encode() for key in keys)
            assert all(item.value == item.key and item.version == 1 for item in scanned)
            async with kv.scan("aio/stream/", keys_only=True) as stream:
                assert (await stream.__anext__()).value is None
            await asyncio.to_thread(wait_until, lambda: portal.calls_in_flight() == 0, "closed")
            with pytest.raises(BadRequest, match="limit"):
                async for _ in kv.scan("aio/", limit=-1):
                    pass

    asyncio.run(main())


def test_cancelled_calls_and_close(cluster: ShardedCluster) -> None:
    servers = arranged(cluster).config_servers

    async def main() -> None:
        kv = await AsyncioClient.connect(servers, timeout=30)
        # Cancelled at once, or after it was applied: either way the client goes on.
        tasks = [asyncio.create_task(kv.put(f"aio/cancel/{n}", "v")) for n in range(20)]
        await asyncio.sleep(0)  # one loop turn: each task has submitted its put
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert (await kv.put("aio/cancel/after", "v")).version == 1
        portal = kv._connected()
        await asyncio.to_thread(wait_until, lambda: portal.calls_in_flight() == 0, "all ended")

        thread = kv._connected().thread
        await kv.aclose()
        assert not thread.is_alive()
        with pytest.raises(ClientClosed):
            await kv.get("aio/cancel/after")

    asyncio.run(main())

"""Sessions with a lifetime on real processes: a shard node with `session_ttl_s = 1`
expires the sessions of one-put clients, and a client whose session expired under it
gets SessionExpired for its next write in that bucket instead of a possible duplicate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from integration.cluster import ProcessGroup
from integration.ports import free_addresses
from integration.role_files import GroupLayout

from eraft_trio.client import Client, kv_client
from eraft_trio.errors import SessionExpired

from .ctl_process import ctl

JOIN_TIMEOUT = 60.0
TTL_S = 1
# Expiry is polled every second on the leader, and a session lives up to a second past
# its TTL: a few seconds suffice; the deadline only bounds a broken run.
EXPIRY_DEADLINE = 30.0
CLIENTS = 20


@dataclass
class ExpiringCluster:
    config_servers: tuple[str, ...]
    shard: ProcessGroup

    async def role_stats(self) -> dict[str, int]:
        status = await self.shard.status(0)
        assert status is not None
        return dict(status["role"])

    async def wait_expired(self, at_least: int) -> int:
        """Wait until the node has expired `at_least` sessions in all; the count."""
        with trio.fail_after(EXPIRY_DEADLINE):
            while True:
                expired = int((await self.role_stats())["sessions_expired"])
                if expired >= at_least:
                    return expired
                await trio.sleep(0.2)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[ExpiringCluster]:
    """One config node and shard group 1 of one node, whose sessions live TTL_S seconds."""
    addresses = free_addresses(2)
    config = GroupLayout.config_group(addresses[:1])
    shard = GroupLayout.shard_group(
        1, addresses[1:], addresses[:1], shard_options={"session_ttl_s": TTL_S}
    )
    async with ProcessGroup(config, tmp_path) as cfg, ProcessGroup(shard, tmp_path) as group:
        cfg.start()
        group.start()
        joined = await ctl(cfg.layout.addresses, "join", "1", addresses[1], timeout=JOIN_TIMEOUT)
        assert joined.code == 0, joined.describe()
        yield ExpiringCluster(cfg.layout.addresses, group)


async def test_sessions_expire_and_an_expired_session_is_refused_not_repeated(
    cluster: ExpiringCluster,
) -> None:
    servers = cluster.config_servers
    # One-put clients: each leaves one session behind, which the node then expires.
    for n in range(CLIENTS):
        async with Client.connect(servers, timeout=JOIN_TIMEOUT) as one_put:
            await one_put.put(f"one-put-{n}", b"v")
    assert await cluster.wait_expired(CLIENTS) >= CLIENTS

    async with Client.connect(servers, timeout=JOIN_TIMEOUT) as kv:
        await kv.put("k", b"first")
        before = (await cluster.role_stats())["sessions_expired"]
        await cluster.wait_expired(before + 1)
        # The client still takes its session for alive (it used it within its idle
        # limit, a minute): exactly what a retry after a stall past the TTL looks like.
        with pytest.raises(SessionExpired, match="session_expired"):
            await kv.put("k", b"second")
        assert await kv.get("k") == b"first"
        # The client dropped that session; its next write starts a new one.
        await kv.put("k", b"third")
        assert await kv.get("k") == b"third"

    # `eraft ctl put` is a one-put client: always a new session, never refused.
    put = await ctl(servers, "put", "k", "fourth")
    assert (put.code, put.stdout) == (0, "OK\n"), put.describe()


async def test_a_client_idle_longer_than_its_limit_starts_a_new_session(
    cluster: ExpiringCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the client's idle limit below the TTL (as the defaults are: a minute and an
    hour), a session the node may have expired is never used again."""
    monkeypatch.setattr(kv_client, "SESSION_IDLE_SECONDS", TTL_S / 2)
    async with Client.connect(cluster.config_servers, timeout=JOIN_TIMEOUT) as kv:
        await kv.put("k", b"first")
        before = (await cluster.role_stats())["sessions_expired"]
        await cluster.wait_expired(before + 1)
        await kv.put("k", b"second")
        assert await kv.get("k") == b"second"

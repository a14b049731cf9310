"""[limits] max_value_bytes on real processes: a refused put stores nothing, through
`eraft ctl` (exit 2 naming the limit) and the Python client (BadRequest, not retried)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from integration.cluster import ProcessGroup
from integration.ports import free_addresses
from integration.role_files import GroupLayout

from eraft_trio.client import Client, SyncClient
from eraft_trio.errors import BadRequest
from eraft_trio.protocol.limits import DEFAULT_MAX_VALUE_BYTES

from .ctl_process import ctl

# Below Linux's 128 KiB limit on one command-line argument, so `eraft ctl put` can carry
# a value of the limit and one byte more.
LIMIT = 100_000
JOIN_TIMEOUT = 60.0


@dataclass
class LimitedCluster:
    config_servers: tuple[str, ...]
    shard: ProcessGroup

    async def puts_seen(self) -> int:
        """The shard node's count of put requests it answered (refused ones too)."""
        status = await self.shard.status(0)
        assert status is not None
        return int(status["role"]["puts"])


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LimitedCluster]:
    """One config node and shard group 1 of one node, with max_value_bytes = LIMIT."""
    addresses = free_addresses(2)
    config = GroupLayout.config_group(addresses[:1])
    shard = GroupLayout.shard_group(
        1, addresses[1:], addresses[:1], limits={"max_value_bytes": LIMIT}
    )
    async with ProcessGroup(config, tmp_path) as cfg, ProcessGroup(shard, tmp_path) as group:
        cfg.start()
        group.start()
        joined = await ctl(cfg.layout.addresses, "join", "1", addresses[1], timeout=JOIN_TIMEOUT)
        assert joined.code == 0, joined.describe()
        yield LimitedCluster(cfg.layout.addresses, group)


async def test_ctl_put_over_the_limit_exits_2_naming_it_and_stores_nothing(
    cluster: LimitedCluster,
) -> None:
    servers = cluster.config_servers
    at_limit = await ctl(servers, "put", "exact", "v" * LIMIT, timeout=JOIN_TIMEOUT)
    assert (at_limit.code, at_limit.stdout) == (0, "OK\n"), at_limit.describe()
    stored = await ctl(servers, "get", "exact")
    assert stored.stdout == "v" * LIMIT + "\n", stored.describe()

    over = await ctl(servers, "put", "over", "v" * (LIMIT + 1))
    assert (over.code, over.stdout) == (2, ""), over.describe()
    assert over.stderr == (
        f"eraft ctl put: value_too_large: value of {LIMIT + 1} bytes exceeds the limit of "
        f"{LIMIT} bytes (max_value_bytes)\n"
    )
    missing = await ctl(servers, "get", "over")
    assert (missing.code, missing.stderr) == (1, "not found\n"), missing.describe()

    # Overwriting a stored key with an oversize value leaves the old value.
    refused = await ctl(servers, "put", "exact", "w" * (LIMIT + 1))
    assert refused.code == 2, refused.describe()
    assert (await ctl(servers, "get", "exact")).stdout == "v" * LIMIT + "\n"


async def test_the_client_raises_bad_request_once_and_the_key_stays_absent(
    cluster: LimitedCluster,
) -> None:
    # The client's own check allows more than the cluster: the node's refusal is tested.
    async with Client.connect(
        cluster.config_servers, timeout=JOIN_TIMEOUT, max_value_bytes=4 * LIMIT
    ) as kv:
        await kv.put("exact", b"v" * LIMIT)
        assert await kv.get("exact") == b"v" * LIMIT
        before = await cluster.puts_seen()
        with pytest.raises(BadRequest) as refused:
            await kv.put("over", b"v" * (LIMIT + 1))
        assert refused.value.code == "value_too_large"
        assert f"limit of {LIMIT} bytes (max_value_bytes)" in str(refused.value)
        assert await cluster.puts_seen() == before + 1  # sent once, not retried
        assert await kv.get("over") is None


async def test_the_client_refuses_an_oversize_value_without_sending_it() -> None:
    """Against an address nobody listens on: anything sent would end in a timeout instead."""
    nobody = free_addresses(1)
    async with Client.connect(nobody, timeout=30) as kv:
        with pytest.raises(BadRequest) as refused:
            await kv.put("k", b"v" * (DEFAULT_MAX_VALUE_BYTES + 1))
    assert refused.value.code == "value_too_large"
    assert f"limit of {DEFAULT_MAX_VALUE_BYTES} bytes (max_value_bytes)" in str(refused.value)


def test_the_sync_client_takes_the_clusters_limit() -> None:
    with SyncClient(free_addresses(1), timeout=30, max_value_bytes=10) as kv:
        with pytest.raises(BadRequest, match="limit of 10 bytes"):
            kv.put("k", b"v" * 11)
        with pytest.raises(BadRequest, match="the limit is 500"):
            kv.delete(b"k" * 501)

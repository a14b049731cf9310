"""The eraft quick start of issue 5, step by step with `eraft ctl`, then leave 1, kill -9 of everything, restart."""

from __future__ import annotations

import json

from eraft_trio.client import Client

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe
from .ctl_process import CtlResult, ctl
from .kv_batch import get_all, put_all

KEYS = {f"key{i}": f"value {i}" for i in range(10)}


def ok(result: CtlResult) -> str:
    assert result.code == 0, result.describe()
    return result.stdout


async def get_every_key(servers: tuple[str, ...]) -> None:
    """`eraft ctl get testkey` prints its value; the client reads the other keys (a
    process start-up per key costs too much on two cores)."""
    assert ok(await ctl(servers, "get", "testkey", timeout=30)) == "testvalue\n"
    async with Client.connect(servers, timeout=30) as kv:
        found = await get_all(kv, [key.encode() for key in KEYS])
    assert found == {key.encode(): value.encode() for key, value in KEYS.items()}


async def test_quick_start_then_leave_then_kill_everything_and_restart(
    cluster_factory: ClusterFactory,
) -> None:
    cluster = cluster_factory((1, 2), start=False)
    servers = cluster.config_servers
    cluster.config.start()
    assert ok(await ctl(servers, "join", "1", ",".join(cluster.addresses(1)))) == "OK: config 1\n"
    cluster.shards[1].start()
    assert ok(await ctl(servers, "join", "2", ",".join(cluster.addresses(2)))) == "OK: config 2\n"
    cluster.shards[2].start()
    text = ok(await ctl(servers, "query"))
    assert text.splitlines()[0].split()[-1] == "2"
    assert all(address in text for gid in (1, 2) for address in cluster.addresses(gid))
    assert ok(await ctl(servers, "move", "0-4", "1")) == "OK: config 3\n"
    assert ok(await ctl(servers, "move", "5-9", "2")) == "OK: config 4\n"
    config = json.loads(ok(await ctl(servers, "query", "--json")))
    assert config["num"] == 4 and config["buckets"] == [1] * 5 + [2] * 5

    assert ok(await ctl(servers, "put", "testkey", "testvalue", timeout=30)) == "OK\n"
    assert ok(await ctl(servers, "get", "testkey")) == "testvalue\n"
    as_json = json.loads(ok(await ctl(servers, "get", "testkey", "--json")))
    assert as_json == {"key": "testkey", "value": "testvalue"}
    missing = await ctl(servers, "get", "no such key")
    assert (missing.code, missing.stdout, missing.stderr.strip()) == (1, "", "not found")
    missing_json = await ctl(servers, "get", "no such key", "--json")
    assert missing_json.code == 1
    assert json.loads(missing_json.stdout) == {"key": "no such key", "value": None}
    assert ok(await ctl(servers, "put", "doomed", "x")) == "OK\n"
    assert ok(await ctl(servers, "delete", "doomed")) == "OK\n"
    assert ok(await ctl(servers, "delete", "doomed")) == "OK\n"  # missing is not an error
    assert (await ctl(servers, "get", "doomed")).code == 1
    async with Client.connect(servers, timeout=30) as kv:
        await put_all(kv, {key.encode(): value.encode() for key, value in KEYS.items()})
    await get_every_key(servers)

    # Group 1 leaves: group 2 serves every bucket, and every key, from its own copy
    # (group 1 is killed once it has handed everything over, to be sure).
    assert ok(await ctl(servers, "leave", "1")) == "OK: config 5\n"
    async with ClusterProbe.open(cluster) as probe:
        settled = await probe.wait_settled()
    assert settled["buckets"] == [2] * 10
    cluster.shards[1].kill()
    await get_every_key(servers)

    # kill -9 of every node at once, then a restart: nothing acknowledged is lost.
    cluster.kill_all()
    cluster.start()
    await get_every_key(servers)
    assert json.loads(ok(await ctl(servers, "query", "--json", timeout=30))) == settled
    assert (await ctl(servers, "get", "doomed")).code == 1

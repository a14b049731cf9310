"""`eraft ctl join|move|leave --wait` with real processes (issue 14): a leave returns only once
the leaving group's buckets have moved and been dropped, so stopping it then loses nothing;
and a left gid is never joined again."""

from __future__ import annotations

import json

from eraft_trio.client import Client
from eraft_trio.protocol.keys import bucket_of

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe
from .ctl_process import CtlResult, ctl
from .keyspace import flat, keys_per_bucket
from .kv_batch import get_all, put_all

BUCKETS = 10
WAIT = ("--wait", "--wait-timeout", "90")


def succeeded(result: CtlResult) -> str:
    assert result.code == 0, result.describe()
    assert result.stdout.startswith("OK: config "), result.describe()
    assert "settled: config " in result.stderr, result.describe()
    return result.stderr


async def not_serving_anywhere(probe: ClusterProbe, gids: tuple[int, ...]) -> list[str]:
    """Every bucket entry, on every replica of `gids`, that is not plainly SERVING."""
    problems = []
    for gid in gids:
        for node, status in (await probe.shard_statuses(gid)).items():
            assert status is not None, f"group {gid} node {node} did not answer"
            for item in status["buckets"]:
                if item["state"] != "serving":
                    problems.append(f"g{gid} n{node}: bucket {item['bucket']} {item['state']}")
    return problems


async def test_leave_wait_returns_after_the_buckets_moved_and_the_group_may_be_stopped(
    cluster_factory: ClusterFactory,
) -> None:
    cluster = cluster_factory((1, 2), buckets=BUCKETS)
    servers = cluster.config_servers
    keys = flat(keys_per_bucket("wait", BUCKETS, 5))
    values = {key: key + b"=" + b"v" * 2000 for key in keys}
    async with (
        ClusterProbe.open(cluster) as probe,
        Client.connect(servers, timeout=30) as kv,
    ):
        succeeded(
            await ctl(servers, "join", "1", ",".join(cluster.addresses(1)), *WAIT, timeout=30)
        )
        await put_all(kv, values)
        stderr = succeeded(
            await ctl(servers, "join", "2", ",".join(cluster.addresses(2)), *WAIT, timeout=30)
        )
        assert "buckets in place" in stderr and "copied" in stderr
        k = keys[0]
        bucket = bucket_of(k, BUCKETS)
        succeeded(await ctl(servers, "move", str(bucket), "2", *WAIT, timeout=30))

        left = await ctl(servers, "leave", "1", *WAIT, timeout=30)
        stderr = succeeded(left)
        assert "group 1 may be stopped" in stderr, left.describe()
        # Straight after --wait: no copy of anything left at group 1, and group 2 serves
        # every bucket at the leave's config on every replica that answered.
        num = int(left.stdout.split()[-1])
        group1 = await probe.shard_statuses(1)
        leader_views = [s for s in group1.values() if s is not None]
        assert leader_views and all(s["num"] >= num for s in leader_views)
        assert any(s["buckets"] == [] for s in leader_views), leader_views
        group2 = await probe.shard_statuses(2)
        assert any(
            s is not None
            and s["num"] >= num
            and sorted(b["bucket"] for b in s["buckets"] if b["state"] == "serving")
            == list(range(BUCKETS))
            for s in group2.values()
        ), group2

        # The operator stops group 1 for good: nothing is lost, nothing waits on it.
        cluster.shards[1].kill()
        assert await get_all(kv, keys) == values
        await put_all(kv, {k: b"after group 1 stopped"})
        assert await kv.get(k) == b"after group 1 stopped"

        status = await ctl(servers, "status", "--json", timeout=10)
        assert status.code == 0, status.describe()
        summary = json.loads(status.stdout)["handoffs"]
        assert summary["settled"] is True, summary
        assert [(g["gid"], g["left_at"], g["may_stop"]) for g in summary["leaving"]] == [
            (1, num, True)
        ]

        # Group ids never alias: new machines under gid 1 would serve stale, empty buckets.
        again = await ctl(servers, "join", "1", "127.0.0.1:1,127.0.0.1:2", timeout=10)
        assert again.code == 2, again.describe()
        assert "gid 1 was used before; choose a new one" in again.stderr
        assert again.stderr.count("\n") == 1, again.describe()
        assert (await probe.latest_config())["num"] == num
        assert await kv.get(k) == b"after group 1 stopped"


async def test_status_names_groups_behind_and_a_leaving_group_not_to_stop(
    cluster_factory: ClusterFactory,
) -> None:
    """With group 2 down, a leave of group 1 cannot finish: status says group 2 has a
    config to apply and that group 1 must not be stopped; --wait gives up with exit 3."""
    cluster = cluster_factory((1, 2), buckets=BUCKETS)
    servers = cluster.config_servers
    keys = flat(keys_per_bucket("behind", BUCKETS, 2))
    async with Client.connect(servers, timeout=30) as kv:
        succeeded(
            await ctl(servers, "join", "1", ",".join(cluster.addresses(1)), *WAIT, timeout=30)
        )
        succeeded(
            await ctl(servers, "join", "2", ",".join(cluster.addresses(2)), *WAIT, timeout=30)
        )
        await put_all(kv, {key: b"x" for key in keys})
    cluster.shards[2].kill()
    try:
        left = await ctl(servers, "leave", "1", "--wait", "--wait-timeout", "3", timeout=10)
        assert left.code == 3, left.describe()
        assert left.stdout.startswith("OK: config "), left.describe()
        assert "group 1 (leaving)" in left.stderr and "group 2 not answering" in left.stderr
        status = await ctl(servers, "status", "--once", timeout=10)
        assert status.code == 0, status.describe()
        assert "left at config" in status.stdout and "do not stop it yet" in status.stdout
    finally:
        cluster.shards[2].start()
    settled = await ctl(servers, "leave", "1", *WAIT, timeout=30)
    # The leave itself was made: repeating it is refused, and the wait is what is left.
    assert settled.code == 2 and "unknown_gid" in settled.stderr, settled.describe()

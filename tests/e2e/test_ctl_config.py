"""`eraft ctl` join / leave / move / query against three config nodes: outputs and exit codes (docs/reference.md)."""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Any

import pytest
import trio
from integration.config_writes import fake_address
from integration.ports import free_addresses

from .cluster_factory import ClusterFactory
from .ctl_process import CtlResult, ctl, eraft
from .sharded_cluster import ShardedCluster

BUCKETS = 10


@pytest.fixture(scope="module")
def config_cluster(module_cluster_factory: ClusterFactory) -> ShardedCluster:
    """Three config nodes of 10 buckets; groups are joined with addresses nobody listens on."""
    return module_cluster_factory((), buckets=BUCKETS)


async def all_of(runs: list[Coroutine[Any, Any, CtlResult]]) -> list[CtlResult]:
    """Run ctl processes side by side; their results in order."""
    results: list[CtlResult | None] = [None] * len(runs)

    async def one(index: int) -> None:
        results[index] = await runs[index]

    async with trio.open_nursery() as nursery:
        for index in range(len(runs)):
            nursery.start_soon(one, index)
    return [result for result in results if result is not None]


def addrs(gid: int, count: int = 3) -> str:
    return ",".join(fake_address(gid * 10 + i) for i in range(count))


def ok(result: CtlResult) -> str:
    assert result.code == 0, result.describe()
    return result.stdout


def refused(result: CtlResult, code: int, *words: str) -> None:
    """Exit `code`, nothing on stdout, and one line on stderr naming what is wrong."""
    assert result.code == code, result.describe()
    assert result.stdout == "", result.describe()
    message = result.stderr.strip()
    assert message and "\n" not in message, result.describe()
    assert "Traceback" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


async def query_json(servers: tuple[str, ...], num: int | None = None) -> dict[str, Any]:
    args = ["query"] if num is None else ["query", str(num)]
    config: dict[str, Any] = json.loads(ok(await ctl(servers, *args, "--json")))
    return config


async def change(servers: tuple[str, ...], before: dict[str, Any], *args: str) -> dict[str, Any]:
    """Run a change to config `before` (the latest); check that it prints `OK: config N`
    for the next N; the new config."""
    out = ok(await ctl(servers, *args))
    assert out.split() == ["OK:", "config", str(before["num"] + 1)], out
    after = await query_json(servers)
    assert after["num"] == before["num"] + 1
    return after


async def test_join_query_move_leave_print_what_design_section_2_says(
    config_cluster: ShardedCluster,
) -> None:
    servers = config_cluster.config_servers
    start = await query_json(servers)
    assert set(start) == {"num", "buckets", "groups"}
    assert len(start["buckets"]) == BUCKETS
    for gid in map(int, start["groups"]):  # left by another test of this module
        start = await change(servers, start, "leave", str(gid))

    one = await change(servers, start, "join", "1", addrs(1))
    assert one["buckets"] == [1] * BUCKETS
    assert one["groups"] == {"1": addrs(1).split(",")}
    two = await change(servers, one, "join", "2", addrs(2))
    assert sorted(two["buckets"]) == [1] * 5 + [2] * 5  # even, fewest moves
    assert two["groups"] == {"1": addrs(1).split(","), "2": addrs(2).split(",")}

    text = ok(await ctl(servers, "query"))
    assert str(two["num"]) in text.splitlines()[0]
    for member in ("1", "2"):
        for address in two["groups"][member]:
            assert address in text

    half = await change(servers, two, "move", "0-4", "1")
    moved = await change(servers, half, "move", "5-9", "2")
    assert moved["buckets"] == [1] * 5 + [2] * 5
    listed = await change(servers, moved, "move", "0-1,7,9", "2")
    assert listed["buckets"] == [2, 2, 1, 1, 1, 2, 2, 2, 2, 2]

    registered = await change(servers, listed, "join", "3", addrs(3), "--no-rebalance")
    assert registered["buckets"] == listed["buckets"]  # only registered, nothing moves
    assert set(registered["groups"]) == {"1", "2", "3"}
    left = await change(servers, registered, "leave", "1")
    assert set(left["groups"]) == {"2", "3"}
    assert 1 not in left["buckets"] and 0 not in left["buckets"]
    assert max(left["buckets"].count(2), left["buckets"].count(3)) <= 5 + 1

    # A past config stays queryable, by number, in both forms.
    assert await query_json(servers, moved["num"]) == moved
    assert str(moved["num"]) in ok(await ctl(servers, "query", str(moved["num"]))).splitlines()[0]


async def test_bad_input_exits_2_with_one_line_and_changes_nothing(
    config_cluster: ShardedCluster,
) -> None:
    servers = config_cluster.config_servers
    config = await query_json(servers)
    if not config["groups"]:
        config = await change(servers, config, "join", "1", addrs(1))
    gid = next(iter(config["groups"]))
    unknown = str(max(map(int, config["groups"])) + 1000)

    cases: list[tuple[list[str], tuple[str, ...]]] = [
        (["move", str(BUCKETS), gid], (str(BUCKETS),)),  # bucket out of range
        (["move", f"0-{BUCKETS}", gid], (str(BUCKETS),)),
        (["move", "4-2", gid], ("4-2",)),  # malformed ranges
        (["move", "1-", gid], ("1-",)),
        (["move", "x", gid], ("x",)),
        (["move", "-1", gid], ()),
        (["move", "0", unknown], (unknown,)),  # a gid not in the config
        (["move", "0", "0"], ("0",)),
        (["leave", unknown], (unknown,)),
        (["join", gid, addrs(99)], (gid,)),  # already joined
        (["join", "0", addrs(98)], ()),
        (["join", "seven", addrs(97)], ("seven",)),
        (["join", "97", "not-an-address"], ("not-an-address",)),
        (["query", "x"], ("x",)),
    ]
    # Independent refusals: run side by side (each is a process start-up of a second).
    results = await all_of([ctl(servers, *args) for args, _ in cases])
    for result, (_, words) in zip(results, cases, strict=True):
        refused(result, 2, *words)
    assert await query_json(servers) == config


async def test_leave_of_the_last_group_holding_buckets_exits_2(
    config_cluster: ShardedCluster,
) -> None:
    servers = config_cluster.config_servers
    config = await query_json(servers)
    if not config["groups"]:
        config = await change(servers, config, "join", "1", addrs(1))
    *others, last = sorted(config["groups"], key=int)
    for gid in others:
        config = await change(servers, config, "leave", gid)
    assert set(config["buckets"]) == {int(last)}
    refused(await ctl(servers, "leave", last), 2)
    assert await query_json(servers) == config


async def test_an_unreachable_or_silent_cluster_exits_3_within_the_timeout(
    config_cluster: ShardedCluster,
) -> None:
    nobody = free_addresses(3)  # free a moment ago: nothing listens there
    commands = (["query"], ["join", "5", addrs(5)], ["move", "0", "1"], ["put", "k", "v"])
    # The guard is generous (process start-up on a busy machine); the point is that ctl
    # gives up by itself with exit 3 and a message, not a traceback or a hang.
    with trio.fail_after(60):
        results = await all_of([ctl(nobody, *args, timeout=2.0) for args in commands])
    for result in results:
        refused(result, 3)

    # Nodes that accept connections but never answer (stopped) count as unreachable too.
    group = config_cluster.config
    try:
        for node in range(group.size):
            config_cluster.pause(group, node)
        with trio.fail_after(60):
            refused(await ctl(config_cluster.config_servers, "query", timeout=2.0), 3)
    finally:
        config_cluster.resume_all()
    ok(await ctl(config_cluster.config_servers, "query"))


async def test_bad_config_servers_exit_2(config_cluster: ShardedCluster) -> None:
    good = ",".join(config_cluster.config_servers)
    runs = [
        eraft(["ctl", "-s", servers, "--timeout", "2", "query"])
        for servers in ("nonsense", "127.0.0.1:99999", "127.0.0.1:", ",", "127.0.0.1:80a")
    ]
    runs.append(eraft(["ctl", "query"], env={"ERAFT_CONFIG_SERVERS": "nonsense"}))
    runs.append(eraft(["ctl", "-s", good, "--timeout", "0", "query"]))
    *bad_servers, bad_timeout = await all_of(runs)
    for result in bad_servers:
        refused(result, 2)
    refused(bad_timeout, 2, "timeout")


async def test_config_servers_come_from_the_environment(config_cluster: ShardedCluster) -> None:
    servers = config_cluster.config_servers
    expected = await query_json(servers)
    env = {"ERAFT_CONFIG_SERVERS": ",".join(servers)}
    assert json.loads(ok(await eraft(["ctl", "query", "--json"], env=env))) == expected


async def test_any_one_config_server_is_enough(config_cluster: ShardedCluster) -> None:
    servers = config_cluster.config_servers
    expected = await query_json(servers)
    for result in await all_of(
        [ctl((server,), "query", "--json", timeout=3) for server in servers]
    ):
        assert json.loads(ok(result)) == expected

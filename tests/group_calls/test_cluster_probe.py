"""ClusterProbe over real sockets: fake nodes answer StatusRequest, others refuse or hang."""

from __future__ import annotations

import socket
from typing import Any

import trio

from eraft_trio.group_calls.cluster_probe import ClusterProbe
from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.node import StatusRequest
from eraft_trio.transport.handshake import ANY_CLUSTER
from eraft_trio.transport.server import TransportServer

CLUSTER = "eraft-probe-test"


class FakeNode:
    """Answers StatusRequest with a fixed status dict, like NodeService does."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        self.asked = 0

    def on_push(self, peer: Any, body: Any) -> None:
        pass

    async def on_request(self, peer: Any, body: Any) -> Any:
        assert isinstance(body, StatusRequest)
        self.asked += 1
        return self.status


def _config_status(num: int, groups: dict[str, list[str]]) -> dict[str, Any]:
    config = {"num": num, "buckets": [1, 1], "groups": groups}
    return {"group": 0, "raft": {"role": "follower", "term": 1}, "role": {"config": config}}


def _refused_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


async def _serve(nursery: trio.Nursery, handler: FakeNode) -> str:
    server = TransportServer("127.0.0.1", 0, CLUSTER, None, 0, handler)
    port = await nursery.start(server.serve)
    return f"127.0.0.1:{port}"


async def test_probe_asks_every_node_and_marks_the_silent_ones_down() -> None:
    hanging = trio.socket.socket()
    await hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)  # the kernel completes connects; nobody ever answers
    hanging_addr = f"127.0.0.1:{hanging.getsockname()[1]}"
    refused_addr = _refused_address()
    async with trio.open_nursery() as nursery:
        shard = FakeNode({"group": 1, "raft": {"role": "leader", "term": 2}, "role": {}})
        shard_addr = await _serve(nursery, shard)
        groups = {"1": [shard_addr, refused_addr, hanging_addr]}
        behind = FakeNode(_config_status(2, {}))
        latest = FakeNode(_config_status(3, groups))
        config_servers = (await _serve(nursery, behind), await _serve(nursery, latest))
        pool = ConnectionPool(nursery, ANY_CLUSTER)
        probe = ClusterProbe(pool, config_servers, node_timeout=0.5)
        with trio.fail_after(10):  # a hang would show here, not as a stuck test run
            snapshot = await probe.gather()
            again = await probe.gather()
        await pool.aclose()
        hanging.close()
        nursery.cancel_scope.cancel()
    assert snapshot["config"]["num"] == 3  # the newest config any config node has
    assert [g["gid"] for g in snapshot["groups"]] == [0, 1]
    nodes = snapshot["groups"][1]["nodes"]
    assert [n["address"] for n in nodes] == groups["1"]
    assert [n["up"] for n in nodes] == [True, False, False]
    assert nodes[0]["status"]["raft"]["role"] == "leader"
    assert nodes[1]["error"] and nodes[2]["error"]
    assert all(n["up"] for n in snapshot["groups"][0]["nodes"])
    assert [n["up"] for n in again["groups"][1]["nodes"]] == [True, False, False]
    assert shard.asked == 2


async def test_known_groups_are_probed_before_they_join() -> None:
    async with trio.open_nursery() as nursery:
        config_addr = await _serve(nursery, FakeNode(_config_status(0, {})))
        shard_addr = await _serve(nursery, FakeNode({"group": 7, "raft": {}, "role": {}}))
        pool = ConnectionPool(nursery, ANY_CLUSTER)
        probe = ClusterProbe(pool, (config_addr,), known_groups={7: (shard_addr,)})
        with trio.fail_after(10):
            snapshot = await probe.gather()
        await pool.aclose()
        nursery.cancel_scope.cancel()
    assert [(g["gid"], g["nodes"][0]["up"]) for g in snapshot["groups"]] == [(0, True), (7, True)]


async def test_nobody_answers() -> None:
    addr = _refused_address()
    async with trio.open_nursery() as nursery:
        pool = ConnectionPool(nursery, ANY_CLUSTER)
        with trio.fail_after(10):
            snapshot = await ClusterProbe(pool, (addr,), node_timeout=0.5).gather()
        await pool.aclose()
        nursery.cancel_scope.cancel()
    assert snapshot["config"] is None
    assert snapshot["groups"] == [
        {"gid": 0, "addresses": [addr], "nodes": [snapshot["groups"][0]["nodes"][0]]}
    ]
    assert snapshot["groups"][0]["nodes"][0]["up"] is False

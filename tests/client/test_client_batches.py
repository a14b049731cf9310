"""Exactly-once across a batched retry: puts that concurrent tasks sent in one frame were
applied, their answers lost with the connection; the client retries them (batched again)
with the same sessions, and the shard state machine applies each exactly once."""

from __future__ import annotations

from typing import Any

import trio

from eraft_trio.client.kv_client import Client
from eraft_trio.protocol.config import ConfigQuery
from eraft_trio.protocol.replies import ConfigView
from eraft_trio.protocol.shard import KvGet, KvPut
from eraft_trio.roles.shard import replies
from eraft_trio.roles.shard.commands import NewConfig, Put, encode_command
from eraft_trio.roles.shard.state_machine import ShardStateMachine
from eraft_trio.storage.view import MemoryView
from eraft_trio.transport.handshake import PeerInfo
from eraft_trio.transport.server import TransportServer

PUTS = 8


class CountingView(MemoryView):
    def __init__(self) -> None:
        super().__init__()
        self.kv_writes: dict[bytes, int] = {}

    def put(self, table: str, key: bytes, value: bytes) -> None:
        if table == "kv":
            self.kv_writes[key] = self.kv_writes.get(key, 0) + 1
        super().put(table, key, value)


class OneShardGroup:
    """The config group and shard group 1 in one server, applying writes with the real
    shard state machine; once the first PUTS puts are applied it drops every connection
    before answering them, as a leader crash after the commit would."""

    def __init__(self) -> None:
        self.server: TransportServer | None = None
        self.machine = ShardStateMachine(1)
        self.view = CountingView()
        self.index = 0
        self.puts_received = 0
        self.config: dict[str, Any] = {}

    def start_config(self, address: str) -> None:
        self.config = {"num": 1, "buckets": [1] * 10, "groups": {"1": [address]}}
        assert self._apply(encode_command(NewConfig(self.config)))["ok"]

    def _apply(self, command: bytes) -> Any:
        self.index += 1
        return self.machine.apply(self.view, self.index, command)

    def on_push(self, peer: PeerInfo, body: Any) -> None:
        raise AssertionError("no pushes here")

    async def on_request(self, peer: PeerInfo, body: Any) -> Any:
        if isinstance(body, ConfigQuery):
            return ConfigView(**self.config)
        if isinstance(body, KvGet):
            return replies.to_value(self.machine.read(self.view, ("get", body.key)))
        assert isinstance(body, KvPut)
        self.puts_received += 1
        reply = self._apply(encode_command(Put(body.client_id, body.seq, body.key, body.value)))
        if self.puts_received == PUTS:
            assert self.server is not None
            for conn in list(self.server._connections):
                await conn.aclose()  # applied, never answered
        return replies.to_written(reply)


async def test_a_batched_retry_after_lost_answers_applies_each_put_once(
    nursery: trio.Nursery,
) -> None:
    group = OneShardGroup()
    server = TransportServer("127.0.0.1", 0, "test", 0, 1, group)
    group.server = server
    await nursery.start(server.serve)
    address = f"127.0.0.1:{server.port}"
    group.start_config(address)
    async with Client.connect([address], timeout=20) as kv:
        await kv.get(b"warm-up")  # config and connection in place, so the puts go together

        async def put(i: int) -> None:
            await kv.put(b"key-%d" % i, b"value-%d" % i)

        with trio.fail_after(20):
            async with trio.open_nursery() as puts:
                for i in range(PUTS):
                    puts.start_soon(put, i)
        for i in range(PUTS):
            assert await kv.get(b"key-%d" % i) == b"value-%d" % i
    stats = server.statistics()
    assert stats["request_batches"] >= 2  # the first attempt and the retry both batched
    assert group.puts_received > PUTS  # the lost answers were retried
    assert sorted(group.view.kv_writes.values()) == [1] * PUTS  # yet applied exactly once

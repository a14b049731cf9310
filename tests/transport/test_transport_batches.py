"""Batched calls on the wire: calls that concurrent tasks make in one scheduler pass go out
as one RequestBatch frame and are answered as if each had come alone (own reply, own
error), in ResponseBatch frames; a lone call is never held back; a malformed batch closes
the connection; an older server that refuses batches gets one frame per call after."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from transport_helpers import (
    CLUSTER,
    HOST,
    FastHandler,
    RecordingHandler,
    raw_connection,
    read_until_closed,
    start_server,
)

from eraft_trio.protocol import envelope as messages
from eraft_trio.protocol.envelope import ErrorFrame, Request, RequestBatch, ResponseBatch
from eraft_trio.transport import server as server_module
from eraft_trio.transport.codec import decode
from eraft_trio.transport.connection import BATCH_BYTES, FramedConnection
from eraft_trio.transport.errors import ConnectionLost, RemoteError
from eraft_trio.transport.framing import FREE_FRAME_BYTES, HEADER_SIZE
from eraft_trio.transport.rpc import RpcClient


async def calls_together(client: RpcClient, bodies: list[Any]) -> list[Any]:
    """Make every call from its own task, all started in the same scheduler pass."""
    results: list[Any] = [None] * len(bodies)

    async def one(i: int) -> None:
        try:
            results[i] = await client.call(bodies[i], timeout=10)
        except RemoteError as exc:
            results[i] = exc

    with trio.fail_after(10):
        async with trio.open_nursery() as calls:
            for i in range(len(bodies)):
                calls.start_soon(one, i)
    return results


async def test_concurrent_calls_share_a_frame_and_keep_their_own_replies_and_errors(
    nursery: trio.Nursery,
) -> None:
    server = await start_server(nursery, RecordingHandler())
    async with RpcClient((HOST, server.port), CLUSTER) as client:
        bodies: list[Any] = [f"call {i}" for i in range(30)]
        bodies[7] = "fail"  # the handler raises on this one only
        results = await calls_together(client, bodies)
        session = client._session
        assert session is not None and session.conn.batch_frames >= 1
    for i, result in enumerate(results):
        if i == 7:
            assert isinstance(result, RemoteError) and result.code == messages.INTERNAL
        else:
            assert result == ("echo", f"call {i}")
    stats = server.statistics()
    assert stats["request_batches"] >= 1
    assert stats["requests"] == 30
    assert (stats["requests_in_flight"], stats["inflight_bytes"]) == (0, 0)


async def test_a_lone_call_goes_out_alone_at_once(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, RecordingHandler())
    async with RpcClient((HOST, server.port), CLUSTER) as client:
        assert await client.call("only", timeout=5) == ("echo", "only")
        session = client._session
        assert session is not None and session.conn.batch_frames == 0
    assert server.statistics()["request_batches"] == 0


async def test_answers_ready_together_come_back_in_one_response_batch(
    nursery: trio.Nursery,
) -> None:
    handler = FastHandler()
    server = await start_server(nursery, handler)
    conn = await raw_connection(server.port)
    await conn.send(RequestBatch(ids=[1, 2, 3], bodies=[("fast", "a"), ("fast", "b"), "slow"]))
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.pending) == 2 and handler.requests)
        first = await conn.receive()  # the one answered by a task, alone
    assert first == messages.Response(id=3, body=("echo", "slow"))
    handler.answer_all()
    with trio.fail_after(5):
        answer = await conn.receive()
    assert answer == ResponseBatch(ids=[1, 2], bodies=[("fast", "a"), ("fast", "b")])


@pytest.mark.parametrize(
    "batch",
    [RequestBatch(ids=[1, 2], bodies=["one"]), RequestBatch(ids=[], bodies=[])],
)
async def test_a_malformed_batch_closes_the_connection(
    nursery: trio.Nursery, batch: RequestBatch
) -> None:
    server = await start_server(nursery, RecordingHandler())
    conn = await raw_connection(server.port)
    await conn.send(batch)
    with trio.fail_after(5):
        received = await read_until_closed(conn)
    assert [m.code for m in received if isinstance(m, ErrorFrame)] == [messages.MALFORMED]
    assert server.statistics()["protocol_errors"] == 1


async def test_after_an_older_server_refuses_a_batch_calls_go_one_frame_each(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server from before batches: a RequestBatch is an unexpected message to it.
    class NotKnown:
        pass

    monkeypatch.setattr(server_module, "RequestBatch", NotKnown)
    server = await start_server(nursery, RecordingHandler())
    async with RpcClient((HOST, server.port), CLUSTER) as client:
        lost = 0

        async def one(i: int) -> None:
            nonlocal lost
            try:
                assert await client.call(i, timeout=5) == ("echo", i)
            except ConnectionLost:
                lost += 1  # the refused batch: its callers retry, as after any lost connection

        with trio.fail_after(10):
            async with trio.open_nursery() as calls:
                for i in range(5):
                    calls.start_soon(one, i)
        assert lost == 5
        assert await calls_together(client, list(range(5))) == [("echo", i) for i in range(5)]
        assert client.statistics()["connects"] == 2
        session = client._session
        assert session is not None and session.conn.batch_frames == 0


def test_batches_stay_under_the_batch_size_and_large_calls_go_alone() -> None:
    left, _ = trio.testing.memory_stream_pair()
    conn = FramedConnection(left)
    conn.batch_calls = True
    # Many tiny calls (their ids weigh as much as their bodies), a large one among them.
    bodies: list[Any] = [b"x"] * 6000 + [b"y" * BATCH_BYTES] + [b"z"] * 6000
    for call_id, body in enumerate(bodies):
        conn.queue_call(call_id, body)
    frames = conn._call_frames()
    sent: list[tuple[int, Any]] = []
    for frame in frames:
        message = decode(frame[HEADER_SIZE:])
        if isinstance(message, RequestBatch):
            assert len(frame) <= FREE_FRAME_BYTES  # read without reserving node budget
            sent += list(zip(message.ids, message.bodies, strict=True))
        else:
            assert isinstance(message, Request)
            sent.append((message.id, message.body))
    assert sent == list(enumerate(bodies))  # every call once, in order
    assert len(frames) >= 4  # the tiny ones needed more than one batch each side
    assert [type(decode(f[HEADER_SIZE:])) for f in frames].count(Request) == 1

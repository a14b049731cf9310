"""The server over real sockets: handshake refusals, concurrent RPCs, bad input isolated per connection."""

from __future__ import annotations

import struct

import msgpack
import pytest
import trio
from transport_helpers import (
    CLUSTER,
    HOST,
    RecordingHandler,
    raw_connection,
    read_until_closed,
    start_server,
    wait_until,
)

from eraft_trio.protocol import envelope as messages
from eraft_trio.protocol.envelope import ErrorFrame, Hello, Push, Request, Response, Welcome
from eraft_trio.raft.types import Heartbeat
from eraft_trio.transport.codec import encode
from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.errors import HandshakeRejected, RemoteError
from eraft_trio.transport.framing import encode_frame
from eraft_trio.transport.handshake import ANY_CLUSTER, client_handshake
from eraft_trio.transport.limits import ConnectionLimits
from eraft_trio.transport.rpc import RpcClient


@pytest.mark.parametrize(
    ("hello", "code"),
    [
        (Hello(version=99, cluster=CLUSTER, node=None, group=0), messages.BAD_VERSION),
        (Hello(version=1, cluster="other", node=1, group=0), messages.WRONG_CLUSTER),
        (Push(body=1), messages.BAD_HANDSHAKE),
    ],
)
async def test_bad_hello_gets_an_error_frame_and_a_close(
    nursery: trio.Nursery, hello: object, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(nursery)
    conn = await raw_connection(server.port, handshake=False)
    await conn.send(hello)
    with trio.fail_after(5):
        received = await read_until_closed(conn)
    assert [type(m) for m in received] == [ErrorFrame]
    assert received[0].code == code
    assert server.statistics()["handshake_failures"] == 1
    # The log line names where the refused connection came from.
    assert isinstance(conn.stream, trio.SocketStream)
    host, port = conn.stream.socket.getsockname()[:2]
    assert any(f"{host}:{port}" in record.getMessage() for record in caplog.records)


async def test_rpc_client_sees_the_refusal_as_handshake_rejected(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    async with RpcClient((HOST, server.port), "another-cluster") as client:
        with pytest.raises(HandshakeRejected) as caught:
            await client.call("hi", timeout=5)
    assert caught.value.code == messages.WRONG_CLUSTER


async def test_silent_client_is_dropped_after_the_handshake_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(nursery, handshake_timeout=3.0)
    conn = await raw_connection(server.port, handshake=False)
    with trio.fail_after(60):
        received = await read_until_closed(conn)
    assert [m.code for m in received] == [messages.BAD_HANDSHAKE]


async def test_welcome_names_the_server(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    conn = await raw_connection(server.port, handshake=False)
    welcome = await client_handshake(conn, cluster=CLUSTER, node=4, group=2)
    assert welcome == Welcome(version=messages.PROTOCOL_VERSION, cluster=CLUSTER, node=0)


async def test_many_concurrent_calls_on_one_connection_get_their_own_answers(
    nursery: trio.Nursery,
) -> None:
    handler = RecordingHandler()

    async def respond_out_of_order(body: int) -> int:
        # Later requests finish first, so answers come back in a different order.
        for _ in range(200 - body):
            await trio.lowlevel.checkpoint()
        return body * 10

    handler.respond = respond_out_of_order
    server = await start_server(nursery, handler)
    results: dict[int, int] = {}
    async with RpcClient((HOST, server.port), CLUSTER) as client:

        async def one_call(i: int) -> None:
            results[i] = await client.call(i, timeout=10)

        with trio.fail_after(10):
            async with trio.open_nursery() as calls:
                for i in range(200):
                    calls.start_soon(one_call, i)
        assert client.statistics()["connects"] == 1
    assert results == {i: i * 10 for i in range(200)}
    assert server.statistics()["connections_total"] == 1


async def test_responses_ready_together_are_written_together(nursery: trio.Nursery) -> None:
    handler = RecordingHandler()
    server = await start_server(nursery, handler)
    conn = await raw_connection(server.port)
    for i in range(50):
        conn.queue(Request(id=i, body="block"))
    await conn.flush()
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.requests) == 50)
    receives_before = conn.reader.receives
    handler.release.set()
    answers: list[Response] = []
    with trio.fail_after(5):
        while len(answers) < 50:
            answers.extend(await conn.receive_batch())
    assert sorted(a.id for a in answers) == list(range(50))
    # 50 responses released at once arrive in far fewer reads than one per response.
    assert conn.reader.receives - receives_before < 10


async def test_handler_failure_answers_that_request_only(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    async with RpcClient((HOST, server.port), CLUSTER) as client:
        with pytest.raises(RemoteError) as caught:
            await client.call("fail", timeout=5)
        assert caught.value.code == messages.INTERNAL
        assert await client.call("after", timeout=5) == ("echo", "after")
        assert client.statistics()["connects"] == 1


async def test_pushes_reach_the_handler_with_the_senders_identity(nursery: trio.Nursery) -> None:
    handler = RecordingHandler()
    server = await start_server(nursery, handler)
    stream = await trio.open_tcp_stream(HOST, server.port)
    conn = FramedConnection(stream)
    await client_handshake(conn, cluster=CLUSTER, node=2, group=7)
    await conn.send(Push(body=Heartbeat(term=1, src=2, dst=0, commit=5)))
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.pushes) == 1)
    peer, body = handler.pushes[0]
    assert (peer.node, peer.group, peer.is_client) == (2, 7, False)
    assert body == Heartbeat(term=1, src=2, dst=0, commit=5)


BAD_INPUTS = {
    "garbage": (encode_frame(b"\xc1\xc1\xc1"), messages.MALFORMED),
    "unknown type": (
        encode_frame(msgpack.packb(msgpack.ExtType(1, msgpack.packb([9999, 1])))),
        messages.MALFORMED,
    ),
    "oversize": (struct.pack(">I", 2 << 20), messages.FRAME_TOO_LARGE),
    "unexpected": (encode_frame(encode(Welcome(1, CLUSTER, 3))), messages.UNEXPECTED),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
async def test_bad_frame_closes_only_that_connection(nursery: trio.Nursery, name: str) -> None:
    frame, code = BAD_INPUTS[name]
    server = await start_server(
        nursery, limits=ConnectionLimits(client_frame_bytes=1 << 20, peer_frame_bytes=1 << 20)
    )
    async with RpcClient((HOST, server.port), CLUSTER) as good:
        assert await good.call(1, timeout=5) == ("echo", 1)
        bad = await raw_connection(server.port)
        await bad.stream.send_all(frame)
        with trio.fail_after(5):
            received = await read_until_closed(bad)
        assert [(type(m), m.code) for m in received] == [(ErrorFrame, code)]
        assert await good.call(2, timeout=5) == ("echo", 2)
        assert good.statistics()["connects"] == 1
    assert server.statistics()["protocol_errors"] == 1


async def test_garbage_before_the_hello_is_refused(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    bad = await raw_connection(server.port, handshake=False)
    await bad.stream.send_all(encode_frame(b"\xc1"))
    with trio.fail_after(5):
        received = await read_until_closed(bad)
    assert [m.code for m in received] == [messages.MALFORMED]


async def test_truncated_frame_then_close_leaves_the_server_serving(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    bad = await raw_connection(server.port)
    await bad.stream.send_all(encode_frame(encode(Request(1, "x" * 100)))[:30])
    await bad.aclose()
    with trio.fail_after(5):
        await wait_until(lambda: server.statistics()["connections_open"] == 0)
    async with RpcClient((HOST, server.port), CLUSTER) as good:
        assert await good.call("still here", timeout=5) == ("echo", "still here")
    assert server.statistics()["protocol_errors"] == 1


async def test_close_stops_serving(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    port = server.port
    server.close()
    with trio.fail_after(5):
        await wait_until(lambda: not server.statistics()["listening"])
    with pytest.raises(OSError):
        await trio.open_tcp_stream(HOST, port)


async def test_unencodable_reply_and_failing_push_handler_cost_nothing_else(
    nursery: trio.Nursery,
) -> None:
    handler = RecordingHandler()

    async def unencodable(body: object) -> object:
        return object() if body == "bad reply" else body

    handler.respond = unencodable
    failing_pushes: list[object] = []

    def failing_on_push(peer: object, body: object) -> None:
        failing_pushes.append(body)
        raise RuntimeError("push handler bug")

    handler.on_push = failing_on_push  # type: ignore[method-assign]
    server = await start_server(nursery, handler)
    conn = await raw_connection(server.port)
    await conn.send(Push(body=1))
    await conn.send(Request(id=1, body="bad reply"))
    await conn.send(Request(id=2, body="fine"))
    with trio.fail_after(5):
        replies = [await conn.receive(), await conn.receive()]
    answers = {m.id: m.body for m in replies if isinstance(m, Response)}
    failure = answers[1]
    assert isinstance(failure, ErrorFrame) and failure.code == messages.INTERNAL
    assert answers[2] == "fine"
    assert failing_pushes == [1]
    assert server.statistics()["handler_errors"] == 2


async def test_stop_accepting_keeps_open_connections_serving(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    async with RpcClient((HOST, server.port), CLUSTER) as client:
        assert await client.call(1, timeout=5) == ("echo", 1)
        server.stop_accepting()
        with trio.fail_after(5):
            await wait_until(lambda: not server.statistics()["listening"])
        with pytest.raises(OSError):
            await trio.open_tcp_stream(HOST, server.port)
        assert await client.call(2, timeout=5) == ("echo", 2)


async def test_a_client_may_name_no_cluster_but_a_node_may_not(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    async with RpcClient((HOST, server.port), ANY_CLUSTER) as client:
        assert await client.call("who", timeout=5) == ("echo", "who")
    conn = await raw_connection(server.port, handshake=False)
    with pytest.raises(HandshakeRejected) as caught:
        await client_handshake(conn, cluster=ANY_CLUSTER, node=1, group=0)
    assert caught.value.code == messages.WRONG_CLUSTER

"""Connection limits over real sockets: the handshake frame limit, caps refused at accept, the
client and peer frame limits, and the in-flight byte budget."""

from __future__ import annotations

import socket
import struct

import trio
import trio.testing
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
from eraft_trio.protocol.envelope import ErrorFrame, Request, Response
from eraft_trio.transport.codec import decode, encode
from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.framing import encode_frame
from eraft_trio.transport.handshake import client_handshake
from eraft_trio.transport.inflight import ConnectionShare, InflightBudget
from eraft_trio.transport.limits import ConnectionLimits


async def test_a_large_header_before_the_hello_closes_at_once(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    bad = await raw_connection(server.port, handshake=False)
    # 5 KiB announced, none of it sent: the server must not wait for the body.
    await bad.stream.send_all(struct.pack(">I", 5 << 10))
    with trio.fail_after(5):
        received = await read_until_closed(bad)
    assert [m.code for m in received] == [messages.FRAME_TOO_LARGE]
    assert server.statistics()["frames_too_large"] == 1


async def test_connections_beyond_the_handshake_cap_are_refused_busy(nursery: trio.Nursery) -> None:
    limits = ConnectionLimits(max_connections=4, max_unauthenticated=1)
    server = await start_server(nursery, limits=limits)
    holder = await raw_connection(server.port, handshake=False)  # in its handshake
    with trio.fail_after(5):
        while server.statistics()["connections_unauthenticated"] < 1:
            await trio.sleep(0.01)
        refused = await raw_connection(server.port, handshake=False)
        received = await read_until_closed(refused)
    assert [(type(m), m.code) for m in received] == [(ErrorFrame, messages.BUSY)]
    stats = server.statistics()
    assert stats["connections_refused_unauthenticated"] == 1
    assert stats["connections_refused"] == 1
    # Once the holder is done with its handshake, the slot is free again.
    await client_handshake(holder, cluster=CLUSTER, node=None, group=0)
    with trio.fail_after(5):
        while server.statistics()["connections_unauthenticated"]:
            await trio.sleep(0.01)
    await raw_connection(server.port)


async def test_a_burst_beyond_the_handshake_cap_is_refused_in_one_pass(
    nursery: trio.Nursery,
) -> None:
    # Eight connections made without letting the server run (blocking connects, which
    # the kernel completes from the backlog): its accept loop finds them all waiting and
    # takes them in one pass, counting each as it takes it, so exactly the cap of them
    # is served and the rest are refused.
    limits = ConnectionLimits(max_connections=16, max_unauthenticated=3)
    server = await start_server(nursery, limits=limits)
    tasks = TaskCounter()
    trio.lowlevel.add_instrument(tasks)
    clients = [socket.create_connection((HOST, server.port)) for _ in range(8)]
    try:
        await trio.testing.wait_all_tasks_blocked()
        trio.lowlevel.remove_instrument(tasks)
        # A task for each connection served, none for those refused.
        assert tasks.spawned == 3
        stats = server.statistics()
        assert stats["connections_unauthenticated"] == 3
        assert stats["connections_total"] == 3
        assert stats["connections_refused_unauthenticated"] == 5
        # A refused one was told why; a served one hears nothing before its Hello.
        answers = [await trio.to_thread.run_sync(read_all_blocking, c) for c in clients[3:]]
        for answer in answers:
            assert decode(answer[4:]).code == messages.BUSY
    finally:
        for client in clients:
            client.close()


async def test_connections_beyond_the_total_cap_are_refused_busy(nursery: trio.Nursery) -> None:
    limits = ConnectionLimits(max_connections=2, max_unauthenticated=2)
    server = await start_server(nursery, limits=limits)
    served = [await raw_connection(server.port) for _ in range(2)]
    refused = await raw_connection(server.port, handshake=False)
    with trio.fail_after(5):
        received = await read_until_closed(refused)
    assert [(type(m), m.code) for m in received] == [(ErrorFrame, messages.BUSY)]
    assert "max_connections = 2" in received[0].message
    stats = server.statistics()
    assert (stats["connections_refused_full"], stats["connections_open"]) == (1, 2)
    for conn in served:
        await conn.aclose()


async def test_a_refused_connection_reset_by_its_client_costs_nothing_else(
    nursery: trio.Nursery,
) -> None:
    limits = ConnectionLimits(max_connections=4, max_unauthenticated=1)
    server = await start_server(nursery, limits=limits)
    holder = await raw_connection(server.port, handshake=False)
    with trio.fail_after(5):
        await wait_until(lambda: server.statistics()["connections_unauthenticated"] == 1)
    # Reset (SO_LINGER 0) as soon as connected: the busy frame may find it gone.
    for _ in range(5):
        gone = socket.create_connection((HOST, server.port))
        gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        gone.close()
    with trio.fail_after(5):
        await wait_until(lambda: server.statistics()["connections_refused"] == 5)
    await client_handshake(holder, cluster=CLUSTER, node=None, group=0)
    await raw_connection(server.port)  # served as before
    assert server.statistics()["connections_open"] == 2


class TaskCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.spawned = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1


def read_all_blocking(sock: socket.socket) -> bytes:
    """Everything `sock` receives until the other side closes it."""
    sock.settimeout(5)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


async def test_clients_and_nodes_have_their_own_frame_limits(nursery: trio.Nursery) -> None:
    limits = ConnectionLimits(client_frame_bytes=100 << 10, peer_frame_bytes=300 << 10)
    server = await start_server(nursery, limits=limits)
    body = b"x" * (200 << 10)
    client = await raw_connection(server.port)
    # The header alone is refused: the body is never read.
    await client.stream.send_all(encode_frame(encode(Request(1, body)))[:4])
    with trio.fail_after(5):
        received = await read_until_closed(client)
    assert [m.code for m in received] == [messages.FRAME_TOO_LARGE]

    node = FramedConnection(await trio.open_tcp_stream("127.0.0.1", server.port))
    await client_handshake(node, cluster=CLUSTER, node=1, group=1)
    await node.send(Request(2, body))
    with trio.fail_after(5):
        reply = await node.receive()
    assert isinstance(reply, Response) and reply.body == ("echo", body)


async def test_requests_over_the_budget_wait_for_room(nursery: trio.Nursery) -> None:
    handler = RecordingHandler()

    async def hold(body: object) -> object:
        await handler.release.wait()
        return "done"

    handler.respond = hold
    limits = ConnectionLimits(
        client_frame_bytes=200 << 10,
        peer_frame_bytes=200 << 10,
        connection_inflight_bytes=300 << 10,
        max_inflight_bytes=300 << 10,
    )
    server = await start_server(nursery, handler, limits=limits)
    conn = await raw_connection(server.port)
    big = "b" * (150 << 10)
    await conn.send(Request(1, "small"))
    await conn.send(Request(2, big))
    # 2 x 150 KiB do not fit beside each other: the server stops reading, and the
    # sender (in the background) may well be held up by TCP until room is made.
    nursery.start_soon(conn.send, Request(3, big))
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.requests) == 2)
    await trio.testing.wait_all_tasks_blocked()
    assert len(handler.requests) == 2
    assert server.statistics()["inflight_bytes"] <= limits.max_inflight_bytes
    handler.release.set()
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.requests) == 3)


async def test_the_budget_serves_waiters_in_order_and_survives_cancellation() -> None:
    budget = InflightBudget(10)
    assert budget.try_take(8)
    order: list[str] = []

    cancelled = trio.CancelScope()

    async def take(name: str, n: int) -> None:
        with cancelled if name == "cancelled" else trio.CancelScope():
            await budget.take(n)
            order.append(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(take, "cancelled", 5)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(take, "big", 9)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(take, "small", 1)  # fits now, but must not overtake "big"
        await trio.testing.wait_all_tasks_blocked()
        cancelled.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert order == []  # "small" would fit, but "big" came first
        budget.give_back(8)
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(order) == ["big", "small"]
    assert budget.used == 10


async def test_a_take_cancelled_as_it_starts_keeps_nothing_from_the_budget() -> None:
    """Regression (review): the bytes were taken, then the checkpoint after it raised
    Cancelled, so the share never recorded them and give_back_all could not return them:
    each such race lost up to a frame from the node's budget until restart."""
    budget = InflightBudget(10 << 20)
    share = ConnectionShare(budget, 4 << 20)
    with trio.CancelScope() as scope:
        scope.cancel()  # the connection's writer failed and cancelled its tasks
        await share.take(2 << 20)  # the reader reserving a large frame's bytes
    share.give_back_all()  # what the server does once the connection is gone
    assert budget.used == 0

"""PeerSender: delivers, coalesces, drops when full, binds its source address, reconnects."""

from __future__ import annotations

import functools

import pytest
import trio
from transport_helpers import CLUSTER, HOST, RecordingHandler, start_server, wait_until

from eraft_trio.raft.types import AppendEntries, Entry, Heartbeat
from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.handshake import server_handshake
from eraft_trio.transport.peer import PeerSender


def heartbeat(i: int) -> Heartbeat:
    return Heartbeat(term=1, src=1, dst=0, commit=i)


def make_sender(port: int, **options: object) -> PeerSender:
    return PeerSender((HOST, port), cluster=CLUSTER, node=1, group=1, **options)  # type: ignore[arg-type]


async def test_messages_queued_before_connecting_go_out_in_one_write(
    nursery: trio.Nursery,
) -> None:
    handler = RecordingHandler()
    server = await start_server(nursery, handler)
    sender = make_sender(server.port)
    assert all(sender.send(heartbeat(i)) for i in range(100))
    await nursery.start(sender.run)
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.pushes) == 100)
    assert handler.push_bodies() == [heartbeat(i) for i in range(100)]
    stats = sender.statistics()
    assert (stats["sent"], stats["writes"], stats["dropped"]) == (100, 1, 0)
    assert stats["connected"] and stats["queue_length"] == 0


async def test_large_append_entries_arrive_intact(nursery: trio.Nursery) -> None:
    handler = RecordingHandler()
    server = await start_server(nursery, handler)
    sender = make_sender(server.port)
    await nursery.start(sender.run)
    message = AppendEntries(
        2, 1, 0, 0, 0, tuple(Entry(2, i, b"v" * 1000) for i in range(1, 2001)), 0
    )
    assert sender.send(message)
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.pushes) == 1)
    assert handler.push_bodies() == [message]


def test_full_queue_drops_and_says_so() -> None:
    sender = make_sender(1, queue_limit=3)
    assert [sender.send(heartbeat(i)) for i in range(5)] == [True, True, True, False, False]
    assert sender.statistics()["dropped"] == 2
    assert sender.statistics()["queue_length"] == 3


def test_byte_limit_of_the_queue_drops_too() -> None:
    sender = make_sender(1, queue_bytes_limit=1000)
    big = AppendEntries(1, 1, 0, 0, 0, (Entry(1, 1, b"x" * 600),), 0)
    assert [sender.send(big), sender.send(big)] == [True, False]


async def test_outgoing_connection_binds_the_nodes_own_host(nursery: trio.Nursery) -> None:
    handler = RecordingHandler()
    server = await start_server(nursery, handler)
    sender = make_sender(server.port, own_addr="127.0.0.2:7001")
    await nursery.start(sender.run)
    sender.send(heartbeat(1))
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.pushes) == 1)
    peer, _ = handler.pushes[0]
    assert peer.address.startswith("127.0.0.2:")


def test_wildcard_own_host_does_not_bind() -> None:
    assert make_sender(1, own_addr="0.0.0.0:7001").local_host is None
    assert make_sender(1, own_addr="127.0.0.3:7001").local_host == "127.0.0.3"


async def test_reconnects_after_the_server_restarts_and_delivers(nursery: trio.Nursery) -> None:
    handler = RecordingHandler()
    server = await start_server(nursery, handler)
    port = server.port
    sender = make_sender(port, backoff_max=0.1)
    await nursery.start(sender.run)
    sender.send(heartbeat(1))
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.pushes) == 1)
    server.close()
    with trio.fail_after(5):
        await wait_until(lambda: not sender.statistics()["connected"])
    # Queued while the peer is down: delivered once it is back.
    assert sender.send(heartbeat(2))
    restarted = await start_server(nursery, handler, port=port)
    with trio.fail_after(10):
        await handler.wait_for(lambda: heartbeat(2) in handler.push_bodies())
    assert restarted.statistics()["connections_total"] == 1
    assert sender.statistics()["reconnects"] == 1


async def test_wrong_cluster_keeps_retrying_without_connecting(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(nursery)
    sender = PeerSender((HOST, server.port), cluster="elsewhere", node=1, group=1)
    await nursery.start(sender.run)
    with trio.fail_after(30):
        await wait_until(lambda: sender.statistics()["connect_failures"] >= 3)
    assert sender.statistics()["connects"] == 0
    assert server.statistics()["handshake_failures"] >= 3


async def test_stalled_write_times_out_and_reconnects(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A peer that stops reading (a cut link stalls, it does not reset) is given up on."""
    accepted: list[FramedConnection] = []

    async def handshake_then_never_read(stream: trio.SocketStream) -> None:
        conn = FramedConnection(stream)
        await server_handshake(conn, cluster=CLUSTER, node=0)
        accepted.append(conn)
        await trio.sleep_forever()

    listeners = await nursery.start(
        functools.partial(trio.serve_tcp, handshake_then_never_read, 0, host=HOST)
    )
    port = listeners[0].socket.getsockname()[1]
    sender = make_sender(port, write_timeout=5.0)
    await nursery.start(sender.run)
    chunk = AppendEntries(1, 1, 0, 0, 0, (Entry(1, 1, b"z" * (4 << 20)),), 0)
    with trio.fail_after(120):
        await wait_until(lambda: sender.statistics()["connected"])
        # Keep the queue fed until the socket buffers fill and a write stalls.
        while sender.statistics()["connects"] < 2:
            sender.send(chunk)
            await trio.sleep(0.5)
    stats = sender.statistics()
    assert stats["lost"] >= 1
    assert len(accepted) >= 2


@pytest.mark.parametrize("own_addr", [None, "127.0.0.1:1"])
async def test_close_stops_run_and_refuses_sends(
    nursery: trio.Nursery, own_addr: str | None
) -> None:
    server = await start_server(nursery)
    sender = make_sender(server.port, own_addr=own_addr)
    done = trio.Event()

    async def run_then_flag() -> None:
        await sender.run()
        done.set()

    nursery.start_soon(run_then_flag)
    with trio.fail_after(5):
        await wait_until(lambda: sender.statistics()["connected"])
        sender.close()
        await done.wait()
    assert not sender.send(heartbeat(1))

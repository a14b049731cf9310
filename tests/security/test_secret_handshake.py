"""The cluster secret's challenge-response: who gets in, who is refused, and that refusals read nothing."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import trio

from eraft_trio.protocol.envelope import (
    AUTH_FAILED,
    AUTH_REQUIRED,
    BAD_HANDSHAKE,
    Challenge,
    ErrorFrame,
    Hello,
    Request,
    Response,
)
from eraft_trio.raft.types import Heartbeat
from eraft_trio.transport.codec import encode
from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.errors import HandshakeRejected
from eraft_trio.transport.framing import encode_frame
from eraft_trio.transport.handshake import client_handshake
from eraft_trio.transport.peer import PeerSender
from eraft_trio.transport.security import NO_SECURITY, Security, load_secret, parse_secret

from .conftest import OTHER_SECRET, SECRET
from .servers import CLUSTER, HOST, call_once, start_server


def with_secret(*lines: str) -> Security:
    return Security(secret=parse_secret("\n".join(lines).encode(), "test"))


async def wait_until(predicate: Any) -> None:
    """Poll server statistics, which have no event to wait on; callers bound it."""
    while not predicate():
        await trio.sleep(0.005)


def refusals(caplog: pytest.LogCaptureFixture, code: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith(f"refused connection from {HOST}:") and code in r.getMessage()
    ]


class RecordingStream(trio.abc.Stream):
    """A TCP stream that keeps a copy of every byte each direction carried."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.socket = stream.socket
        self.sent = bytearray()
        self.received = bytearray()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.sent += data
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.stream.receive_some(max_bytes)
        self.received += data
        return data

    async def aclose(self) -> None:
        await self.stream.aclose()


async def everything_until_closed(conn: FramedConnection) -> list[Any]:
    received = []
    with trio.fail_after(5):
        while (message := await conn.receive()) is not None:
            received.append(message)
    return received


async def test_a_client_with_the_secret_is_served(nursery: trio.Nursery, secret_file: Path) -> None:
    security = Security(secret=load_secret(secret_file))
    server, handler = await start_server(nursery, security)
    assert await call_once(server.port, security, "put k v") == ("echo", "put k v")
    assert [body for _, body in handler.requests] == ["put k v"]
    assert server.statistics()["handshake_failures"] == 0


async def test_a_client_without_the_secret_is_refused_and_nothing_is_read(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    server, handler = await start_server(nursery, with_secret(SECRET))
    with pytest.raises(HandshakeRejected) as refused:
        await call_once(server.port, NO_SECURITY, "put k v")
    assert refused.value.code == AUTH_REQUIRED
    assert "requires the cluster secret" in refused.value.message
    with trio.fail_after(5):
        await wait_until(lambda: server.statistics()["handshake_failures"] == 1)
    assert handler.requests == [] and handler.pushes == []
    assert len(refusals(caplog, AUTH_REQUIRED)) == 1


async def test_a_client_with_a_wrong_secret_is_refused(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    server, handler = await start_server(nursery, with_secret(SECRET))
    with pytest.raises(HandshakeRejected) as refused:
        await call_once(server.port, with_secret(OTHER_SECRET), "put k v")
    assert refused.value.code == AUTH_FAILED
    with trio.fail_after(5):
        await wait_until(lambda: server.statistics()["handshake_failures"] == 1)
    assert handler.requests == []
    assert len(refusals(caplog, AUTH_FAILED)) == 1


async def test_a_request_sent_ahead_of_the_proof_is_never_handled(nursery: trio.Nursery) -> None:
    server, handler = await start_server(nursery, with_secret(SECRET))
    stream = await trio.open_tcp_stream(HOST, server.port)
    conn = FramedConnection(stream)
    # Pipelined without waiting for the Challenge: the server must not take it as a proof.
    conn.queue(Hello(version=1, cluster=CLUSTER, node=None, group=0))
    conn.queue(Request(id=1, body="put k v"))
    await conn.flush()
    received = await everything_until_closed(conn)
    await conn.aclose()
    assert isinstance(received[0], Challenge)
    assert received[1:] == [ErrorFrame(AUTH_REQUIRED, "expected ClientProof, got Request")]
    assert handler.requests == []


async def test_a_replayed_handshake_is_refused(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    """Record every byte of one good connection (handshake and a write), send them again."""
    caplog.set_level(logging.WARNING)
    security = with_secret(SECRET)
    server, handler = await start_server(nursery, security)
    recording = RecordingStream(await trio.open_tcp_stream(HOST, server.port))
    conn = FramedConnection(recording)
    await client_handshake(conn, cluster=CLUSTER, node=None, group=0, secret=security.secret)
    await conn.send(Request(id=1, body="put k v"))
    with trio.fail_after(5):
        assert await conn.receive() == Response(id=1, body=("echo", "put k v"))
    await conn.aclose()
    assert len(handler.requests) == 1

    replay = FramedConnection(await trio.open_tcp_stream(HOST, server.port))
    await replay.stream.send_all(bytes(recording.sent))
    received = await everything_until_closed(replay)
    await replay.aclose()
    # A new nonce was asked for, so the recorded proof no longer verifies.
    assert isinstance(received[0], Challenge)
    assert received[1:] == [ErrorFrame(AUTH_FAILED, "wrong cluster secret")]
    assert len(handler.requests) == 1  # the replayed write was never read
    assert len(refusals(caplog, AUTH_FAILED)) == 1


async def test_a_replayed_server_cannot_impersonate_a_node(nursery: trio.Nursery) -> None:
    """A fake server that plays back a real node's side of a good handshake is refused."""
    security = with_secret(SECRET)
    server, _ = await start_server(nursery, security)
    recording = RecordingStream(await trio.open_tcp_stream(HOST, server.port))
    conn = FramedConnection(recording)
    await client_handshake(conn, cluster=CLUSTER, node=None, group=0, secret=security.secret)
    await conn.aclose()
    recorded = bytes(recording.received)

    async def impostor(stream: trio.SocketStream) -> None:
        await stream.receive_some()  # the Hello
        await stream.send_all(recorded)  # Challenge, ServerProof, Welcome as recorded
        await stream.receive_some()  # the ClientProof
        await trio.sleep_forever()

    listeners = await nursery.start(trio.serve_tcp, impostor, 0)
    port = listeners[0].socket.getsockname()[1]
    with pytest.raises(HandshakeRejected) as refused:
        await call_once(port, security)
    assert refused.value.code == AUTH_FAILED
    assert "could not prove the cluster secret" in refused.value.message


async def test_a_client_with_a_secret_refuses_a_node_that_asks_for_none(
    nursery: trio.Nursery,
) -> None:
    server, handler = await start_server(nursery, NO_SECURITY)
    with pytest.raises(HandshakeRejected) as refused:
        await call_once(server.port, with_secret(SECRET), "put k v")
    assert refused.value.code == AUTH_FAILED
    assert "did not ask for the cluster secret" in refused.value.message
    assert handler.requests == []  # the request was never sent


async def test_without_secrets_nothing_changes(nursery: trio.Nursery) -> None:
    server, handler = await start_server(nursery, NO_SECURITY)
    assert await call_once(server.port, NO_SECURITY) == ("echo", "hello")
    assert len(handler.requests) == 1


async def test_a_silent_client_is_refused_after_the_handshake_timeout(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    server, _ = await start_server(nursery, with_secret(SECRET), handshake_timeout=0.2)
    conn = FramedConnection(await trio.open_tcp_stream(HOST, server.port))
    await conn.send(Hello(version=1, cluster=CLUSTER, node=None, group=0))
    received = await everything_until_closed(conn)
    await conn.aclose()
    assert isinstance(received[0], Challenge)
    assert received[1].code == BAD_HANDSHAKE
    assert len(refusals(caplog, BAD_HANDSHAKE)) == 1


OLD, NEW = SECRET, OTHER_SECRET


@pytest.mark.parametrize(
    ("server_lines", "client_lines", "accepted"),
    [
        # The rotation of docs/security.md: 1. add NEW as a second line everywhere,
        # 2. make it the first line everywhere, 3. drop OLD; any two neighbouring
        # steps can talk, since each side accepts every line and proves with its first.
        ((OLD, NEW), (OLD,), True),
        ((NEW, OLD), (OLD, NEW), True),
        ((OLD, NEW), (NEW, OLD), True),
        ((NEW,), (NEW, OLD), True),
        ((NEW,), (OLD,), False),  # a client left behind is refused at the end
        ((OLD, NEW), (NEW,), False),  # and so is one that skipped a step
    ],
    ids=["step1", "step2-node", "step2-client", "step3", "left-behind", "skipped-step"],
)
async def test_a_secret_file_of_several_lines_allows_rotation(
    nursery: trio.Nursery,
    server_lines: tuple[str, ...],
    client_lines: tuple[str, ...],
    accepted: bool,
) -> None:
    server, handler = await start_server(nursery, with_secret(*server_lines))
    if accepted:
        assert await call_once(server.port, with_secret(*client_lines)) == ("echo", "hello")
    else:
        with pytest.raises(HandshakeRejected):
            await call_once(server.port, with_secret(*client_lines))
    assert len(handler.requests) == (1 if accepted else 0)


async def test_peer_senders_need_the_secret_too(nursery: trio.Nursery) -> None:
    server, handler = await start_server(nursery, with_secret(SECRET))
    member = PeerSender((HOST, server.port), cluster=CLUSTER, node=1, group=1,
                        security=with_secret(SECRET))  # fmt: skip
    impostor = PeerSender((HOST, server.port), cluster=CLUSTER, node=2, group=1,
                          backoff_min=0.01, backoff_max=0.01)  # fmt: skip
    await nursery.start(member.run)
    await nursery.start(impostor.run)
    assert member.send(Heartbeat(term=1, src=1, dst=0, commit=0))
    assert impostor.send(Heartbeat(term=9, src=2, dst=0, commit=0))
    with trio.fail_after(5):
        await handler.wait_for_pushes(1)
        await wait_until(lambda: impostor.statistics()["connect_failures"] >= 3)
    assert [(peer.node, body.term) for peer, body in handler.pushes] == [(1, 1)]
    assert not impostor.statistics()["connected"]
    member.close()
    impostor.close()


def test_a_frame_recorded_as_bytes_is_what_the_codec_writes() -> None:
    """The replay test compares decoded frames; this pins the frame format it relies on."""
    frame = encode_frame(encode(ErrorFrame(AUTH_FAILED, "x")))
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4

"""TLS on the transport: trusted servers and clients get in, plain TCP and strangers do not."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pytest
import trio

from eraft_trio.protocol.envelope import (
    AUTH_FAILED,
    TLS_FAILED,
    TLS_REQUIRED,
    ErrorFrame,
    Hello,
    Request,
)
from eraft_trio.raft.types import Heartbeat
from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.errors import ConnectionLost, HandshakeRejected
from eraft_trio.transport.peer import PeerSender
from eraft_trio.transport.rpc import RpcClient
from eraft_trio.transport.security import (
    NO_SECURITY,
    Security,
    SecurityConfigError,
    node_security,
)

from .certificates import Pki
from .conftest import OTHER_SECRET, SECRET, write_secret
from .servers import CLUSTER, HOST, call_once, start_server


def tls_node(pki: Pki, *, mutual: bool = False, secret_file: Path | None = None) -> Security:
    return node_security(
        cert_file=pki.node.cert,
        key_file=pki.node.key,
        ca_file=pki.ca,
        require_client_cert=mutual,
        secret_file=secret_file,
    )


def refused_lines(caplog: pytest.LogCaptureFixture, code: str) -> list[str]:
    prefix = f"refused connection from {HOST}:"
    return [m for r in caplog.records if (m := r.getMessage()).startswith(prefix) and code in m]


async def wait_for_refusals(caplog: pytest.LogCaptureFixture, code: str) -> list[str]:
    """The server logs after the client has already given up: poll for its line."""
    with trio.fail_after(5):
        while not (lines := refused_lines(caplog, code)):
            await trio.sleep(0.005)
    return lines


async def test_a_client_that_trusts_the_ca_is_served(nursery: trio.Nursery, pki: Pki) -> None:
    server, handler = await start_server(nursery, tls_node(pki))
    reply = await call_once(server.port, Security.from_files(ca_file=pki.ca), "put k v")
    assert reply == ("echo", "put k v")
    assert [body for _, body in handler.requests] == ["put k v"]


async def test_plain_tcp_to_a_tls_port_is_refused(
    nursery: trio.Nursery, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    server, handler = await start_server(nursery, tls_node(pki))
    with pytest.raises(HandshakeRejected) as refused:
        await call_once(server.port, NO_SECURITY, "put k v")
    assert refused.value.code == TLS_REQUIRED
    assert len(await wait_for_refusals(caplog, TLS_REQUIRED)) == 1
    assert handler.requests == []


async def test_plain_frames_sent_blind_to_a_tls_port_are_never_read(
    nursery: trio.Nursery, pki: Pki
) -> None:
    server, handler = await start_server(nursery, tls_node(pki))
    conn = FramedConnection(await trio.open_tcp_stream(HOST, server.port))
    conn.queue(Hello(version=1, cluster=CLUSTER, node=None, group=0))
    conn.queue(Request(id=1, body="put k v"))
    await conn.flush()
    with trio.fail_after(5):
        first = await conn.receive()
        # Closed: cleanly, or reset because our unread request was still in its buffer.
        with contextlib.suppress(ConnectionLost):
            assert await conn.receive() is None
    await conn.aclose()
    assert isinstance(first, ErrorFrame) and first.code == TLS_REQUIRED
    assert handler.requests == []


async def test_a_tls_client_refuses_a_plain_node(nursery: trio.Nursery, pki: Pki) -> None:
    server, handler = await start_server(nursery, NO_SECURITY)
    with pytest.raises(HandshakeRejected) as refused:
        await call_once(server.port, Security.from_files(ca_file=pki.ca))
    assert refused.value.code == TLS_FAILED
    assert handler.requests == []


async def test_a_node_with_a_certificate_of_another_ca_is_refused(
    nursery: trio.Nursery, pki: Pki
) -> None:
    rogue = node_security(cert_file=pki.rogue_node.cert, key_file=pki.rogue_node.key)
    server, handler = await start_server(nursery, rogue)
    with pytest.raises(HandshakeRejected) as refused:
        await call_once(server.port, Security.from_files(ca_file=pki.ca))
    assert refused.value.code == TLS_FAILED
    assert "certificate" in refused.value.message
    assert handler.requests == []


async def test_the_host_name_is_checked_unless_turned_off(nursery: trio.Nursery, pki: Pki) -> None:
    """The node's certificate names 127.0.0.1 only; "localhost" is another name."""
    server, _ = await start_server(nursery, tls_node(pki))
    for check, accepted in ((True, False), (False, True)):
        security = Security.from_files(ca_file=pki.ca, check_hostname=check)
        async with RpcClient(("localhost", server.port), CLUSTER, security=security) as client:
            if accepted:
                assert await client.call("hi", timeout=5) == ("echo", "hi")
            else:
                with pytest.raises(HandshakeRejected) as refused:
                    await client.call("hi", timeout=5)
                assert refused.value.code == TLS_FAILED


@pytest.mark.parametrize("client", ["none", "rogue"])
async def test_mutual_tls_refuses_clients_without_a_trusted_certificate(
    nursery: trio.Nursery, pki: Pki, caplog: pytest.LogCaptureFixture, client: str
) -> None:
    caplog.set_level(logging.WARNING)
    server, handler = await start_server(nursery, tls_node(pki, mutual=True))
    cert = {"none": None, "rogue": pki.rogue_node}[client]
    security = Security.from_files(
        ca_file=pki.ca,
        cert_file=cert.cert if cert else None,
        key_file=cert.key if cert else None,
    )
    with pytest.raises(HandshakeRejected) as refused:
        await call_once(server.port, security, "put k v")
    assert refused.value.code == TLS_FAILED
    assert len(await wait_for_refusals(caplog, TLS_FAILED)) == 1
    assert handler.requests == []


async def test_mutual_tls_serves_a_client_with_a_certificate_of_the_ca(
    nursery: trio.Nursery, pki: Pki
) -> None:
    server, handler = await start_server(nursery, tls_node(pki, mutual=True))
    security = Security.from_files(
        ca_file=pki.ca, cert_file=pki.client.cert, key_file=pki.client.key
    )
    assert await call_once(server.port, security, "put k v") == ("echo", "put k v")
    assert len(handler.requests) == 1


async def test_members_talk_over_mutual_tls(nursery: trio.Nursery, pki: Pki) -> None:
    """A node's own certificate serves and, towards its peers, identifies it as a client."""
    server, handler = await start_server(nursery, tls_node(pki, mutual=True))
    sender = PeerSender((HOST, server.port), cluster=CLUSTER, node=1, group=1,
                        security=tls_node(pki, mutual=True))  # fmt: skip
    await nursery.start(sender.run)
    assert sender.send(Heartbeat(term=1, src=1, dst=0, commit=0))
    with trio.fail_after(5):
        await handler.wait_for_pushes(1)
    assert [(peer.node, body) for peer, body in handler.pushes] == [
        (1, Heartbeat(term=1, src=1, dst=0, commit=0))
    ]
    sender.close()


async def test_tls_and_the_secret_together(nursery: trio.Nursery, pki: Pki, tmp_path: Path) -> None:
    node = tls_node(pki, secret_file=write_secret(tmp_path / "node.key", SECRET))
    server, handler = await start_server(nursery, node)
    good = Security.from_files(ca_file=pki.ca, secret=SECRET)
    assert await call_once(server.port, good) == ("echo", "hello")
    with pytest.raises(HandshakeRejected) as refused:
        await call_once(server.port, Security.from_files(ca_file=pki.ca, secret=OTHER_SECRET))
    assert refused.value.code == AUTH_FAILED
    assert len(handler.requests) == 1


def test_unreadable_files_are_named(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "absent.crt"
    with pytest.raises(SecurityConfigError) as refused:
        node_security(cert_file=missing, key_file=pki.node.key)
    assert str(missing) in str(refused.value)
    with pytest.raises(SecurityConfigError) as refused:
        Security.from_files(ca_file=missing)
    assert refused.value.key == "--ca-file" and str(missing) in str(refused.value)
    with pytest.raises(SecurityConfigError) as refused:
        node_security(cert_file=pki.node.cert, key_file=pki.client.key)  # not its key
    assert str(pki.node.cert) in str(refused.value)

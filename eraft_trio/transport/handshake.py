"""The connection handshake: the connecting side's Hello, the accepting side's Welcome or refusal.

Both halves live here, and nowhere else, so that authentication (an HMAC challenge
and response over a cluster secret, DESIGN §8) can be added to these two functions
without touching the server, the peer sender or the RPC client.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import trio

from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.errors import (
    ConnectFailed,
    ConnectionLost,
    HandshakeRejected,
    ProtocolError,
    TransportError,
)
from eraft_trio.transport.messages import (
    BAD_HANDSHAKE,
    BAD_VERSION,
    PROTOCOL_VERSION,
    WRONG_CLUSTER,
    ErrorFrame,
    Hello,
    Welcome,
)

DEFAULT_HANDSHAKE_TIMEOUT = 5.0
# The cluster a client names when it does not know the cluster id.
ANY_CLUSTER = ""
# How long a refusal may take to write before the connection is closed without it.
ERROR_FRAME_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Who is at the other end of an accepted connection, as its Hello said."""

    address: str  # "host:port" of the remote socket
    node: int | None  # None: a client
    group: int  # the sender's Raft group id (0: the config group)
    cluster: str
    version: int

    @property
    def is_client(self) -> bool:
        return self.node is None


async def client_handshake(
    conn: FramedConnection,
    *,
    cluster: str,
    node: int | None,
    group: int,
    timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    version: int = PROTOCOL_VERSION,
) -> Welcome:
    """Introduce ourselves; the server's Welcome, or HandshakeRejected with its reason."""
    with trio.move_on_after(timeout) as scope:
        await conn.send(Hello(version=version, cluster=cluster, node=node, group=group))
        reply = await conn.receive()
    if scope.cancelled_caught:
        raise ConnectFailed(f"no answer to Hello from {conn.remote} within {timeout}s")
    if reply is None:
        raise ConnectFailed(f"{conn.remote} closed the connection during the handshake")
    if isinstance(reply, ErrorFrame):
        raise HandshakeRejected(reply.code, reply.message)
    if not isinstance(reply, Welcome):
        raise ProtocolError(f"expected Welcome from {conn.remote}, got {type(reply).__name__}")
    if reply.version != version or (reply.cluster != cluster and cluster != ANY_CLUSTER):
        raise HandshakeRejected(
            BAD_HANDSHAKE,
            f"{conn.remote} answered for version {reply.version} of cluster {reply.cluster!r}",
        )
    return reply


async def server_handshake(
    conn: FramedConnection,
    *,
    cluster: str,
    node: int | None,
    timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
) -> PeerInfo:
    """Read the Hello and answer it; on refusal send an ErrorFrame and raise HandshakeRejected.

    ProtocolError (a first frame that does not decode) and ConnectionLost propagate:
    the caller answers the former with its own ErrorFrame.
    """
    with trio.move_on_after(timeout) as scope:
        hello = await conn.receive()
    if scope.cancelled_caught:
        await _refuse(conn, BAD_HANDSHAKE, f"no Hello within {timeout}s")
    if hello is None:
        raise ConnectionLost(f"{conn.remote} closed the connection before its Hello")
    if not isinstance(hello, Hello):
        await _refuse(conn, BAD_HANDSHAKE, f"expected Hello, got {type(hello).__name__}")
    if hello.version != PROTOCOL_VERSION:
        await _refuse(
            conn,
            BAD_VERSION,
            f"protocol version {hello.version} not supported (this node speaks {PROTOCOL_VERSION})",
        )
    # A client may name no cluster (it knows only some addresses of the config group,
    # not the id derived from all of them); nodes must always name ours.
    client_without_cluster = hello.node is None and hello.cluster == ANY_CLUSTER
    if hello.cluster != cluster and not client_without_cluster:
        await _refuse(conn, WRONG_CLUSTER, f"this is cluster {cluster!r}, not {hello.cluster!r}")
    await conn.send(Welcome(version=PROTOCOL_VERSION, cluster=cluster, node=node))
    return PeerInfo(
        address=conn.remote,
        node=hello.node,
        group=hello.group,
        cluster=hello.cluster,
        version=hello.version,
    )


async def send_error_frame(conn: FramedConnection, code: str, message: str) -> None:
    """Best effort: tell the other side why we are closing, without waiting long."""
    with trio.move_on_after(ERROR_FRAME_TIMEOUT):
        with contextlib.suppress(TransportError):
            await conn.send(ErrorFrame(code=code, message=message))


async def _refuse(conn: FramedConnection, code: str, message: str) -> None:
    await send_error_frame(conn, code, message)
    raise HandshakeRejected(code, message)

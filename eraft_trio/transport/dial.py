"""Open an outgoing connection: TCP from our own host, optional TLS, then the handshake."""

from __future__ import annotations

from dataclasses import dataclass

import trio

from eraft_trio.protocol.address import Address
from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.errors import ConnectFailed
from eraft_trio.transport.handshake import client_handshake
from eraft_trio.transport.security import Security
from eraft_trio.transport.tls import secure_client_stream


@dataclass(frozen=True, slots=True)
class DialSettings:
    """Everything an outgoing connection needs besides the address it goes to."""

    cluster: str
    node: int | None  # None for a client
    group: int
    local_host: str | None  # bind the source address here (None: any)
    security: Security
    connect_timeout: float
    handshake_timeout: float
    max_frame_size: int
    write_timeout: float


async def dial(addr: Address, settings: DialSettings) -> FramedConnection:
    """A handshaken connection to `addr`, or ConnectFailed / HandshakeRejected / ProtocolError.

    Binding the source address to our own host is what lets per-address firewall
    rules partition nodes in tests (docs/chaos.md, the faults).
    """
    with trio.move_on_after(settings.connect_timeout) as scope:
        try:
            stream = await trio.open_tcp_stream(*addr, local_address=settings.local_host)
        except OSError as exc:
            raise ConnectFailed(str(exc)) from exc
    if scope.cancelled_caught:
        raise ConnectFailed(f"no connection within {settings.connect_timeout}s")
    secured = await secure_client_stream(
        stream, settings.security.client_tls, addr[0], settings.handshake_timeout
    )
    conn = FramedConnection(
        secured, max_frame_size=settings.max_frame_size, write_timeout=settings.write_timeout
    )
    try:
        await client_handshake(
            conn,
            cluster=settings.cluster,
            node=settings.node,
            group=settings.group,
            timeout=settings.handshake_timeout,
            secret=settings.security.secret,
        )
    except BaseException:
        await conn.aclose()
        raise
    return conn

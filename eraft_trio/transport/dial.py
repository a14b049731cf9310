"""Open an outgoing connection: TCP from our own host, optional TLS, then the handshake."""

from __future__ import annotations

import trio

from eraft_trio.transport.address import Address
from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.errors import ConnectFailed
from eraft_trio.transport.handshake import client_handshake
from eraft_trio.transport.security import Security
from eraft_trio.transport.tls import secure_client_stream


async def dial(
    addr: Address,
    *,
    local_host: str | None,
    cluster: str,
    node: int | None,
    group: int,
    security: Security,
    connect_timeout: float,
    handshake_timeout: float,
    max_frame_size: int,
    write_timeout: float,
) -> FramedConnection:
    """A handshaken connection to `addr`, or ConnectFailed / HandshakeRejected / ProtocolError.

    Binding the source address to our own host is what lets per-address firewall
    rules partition nodes in tests (DESIGN section 9).
    """
    with trio.move_on_after(connect_timeout) as scope:
        try:
            stream = await trio.open_tcp_stream(*addr, local_address=local_host)
        except OSError as exc:
            raise ConnectFailed(str(exc)) from exc
    if scope.cancelled_caught:
        raise ConnectFailed(f"no connection within {connect_timeout}s")
    secured = await secure_client_stream(stream, security.client_tls, addr[0], handshake_timeout)
    conn = FramedConnection(secured, max_frame_size=max_frame_size, write_timeout=write_timeout)
    try:
        await client_handshake(
            conn,
            cluster=cluster,
            node=node,
            group=group,
            timeout=handshake_timeout,
            secret=security.secret,
        )
    except BaseException:
        await conn.aclose()
        raise
    return conn

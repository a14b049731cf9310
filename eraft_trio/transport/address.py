"""What the transport needs of addresses beyond parsing them (protocol/address.py)."""

from __future__ import annotations

import trio

from eraft_trio.protocol.address import format_address

# Hosts that mean "every interface": a socket cannot use them as a source address.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def bind_host(host: str | None) -> str | None:
    """The source address for outgoing connections from `host`; None when it is a wildcard."""
    if host is None or host in WILDCARD_HOSTS:
        return None
    return host


def stream_peer_address(stream: trio.abc.Stream) -> str:
    """ "host:port" of the other end of a socket stream, or "?" when it has none."""
    socket = getattr(stream, "socket", None)
    if socket is None:
        return "?"
    try:
        name = socket.getpeername()
    except OSError:
        return "?"
    return format_address((str(name[0]), int(name[1])))

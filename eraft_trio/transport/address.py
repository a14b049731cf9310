"""Network addresses as (host, port) pairs, parsed from and printed as "host:port"."""

from __future__ import annotations

import trio

Address = tuple[str, int]
# Hosts that mean "every interface": a socket cannot use them as a source address.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def parse_address(addr: str | Address) -> Address:
    """("h", p) from "h:p" (or "[v6]:p"), or a (host, port) pair checked as is."""
    if isinstance(addr, tuple):
        host, port = addr
    else:
        host, sep, port_text = addr.rpartition(":")
        if not sep or not port_text.isdigit():
            raise ValueError(f"address {addr!r} is not host:port")
        port = int(port_text)
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
    if not isinstance(host, str) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"address {addr!r} is not host:port")
    return host, port


def format_address(addr: Address) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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

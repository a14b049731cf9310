"""Node addresses: "host:port", or "[v6]:port" for an IPv6 host, as one type and one parser.

Every address a user writes (role files, `-s`, `ctl join`, member changes) and every one
a node dials goes through `parse_address`, so they all agree on what an address is.
"""

from __future__ import annotations

from typing import NamedTuple


class Address(NamedTuple):
    host: str  # without brackets: "::1", not "[::1]"
    port: int

    def __str__(self) -> str:
        return format_address(self)


def parse_address(addr: str | tuple[str, int], *, any_port: bool = False) -> Address:
    """The Address of "host:port" (the port after the last colon; brackets around the
    host are removed), or of a (host, port) pair checked as is. ValueError, naming the
    address, for an empty host or a port outside 1..65535 (0..65535 with `any_port`, for
    a listen address that lets the system pick)."""
    if isinstance(addr, tuple):
        host, port = addr
        if not isinstance(host, str) or type(port) is not int:
            raise ValueError(f"{addr!r} is not host:port")
    else:
        host, sep, port_text = addr.rpartition(":")
        if not sep or not (port_text.isascii() and port_text.isdecimal()):
            raise ValueError(f"{addr!r} is not host:port")
        port = int(port_text)
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
    lowest = 0 if any_port else 1
    if not host or "[" in host or "]" in host or not lowest <= port <= 65535:
        raise ValueError(f"{addr!r} is not host:port")
    return Address(host, port)


def format_address(addr: tuple[str, int]) -> str:
    """ "host:port", with the host in brackets when it is an IPv6 address."""
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def host_of(addr: str) -> str:
    """The host of an address, or the text itself when it is not one (for display)."""
    try:
        return parse_address(addr).host
    except ValueError:
        return addr

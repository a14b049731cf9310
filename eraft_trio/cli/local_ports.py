"""Whether `eraft local`'s nodes could listen on their ports, and a shift that would let them."""

from __future__ import annotations

import socket

from eraft_trio.cli.local_layout import LayoutError, LocalLayout
from eraft_trio.protocol.address import parse_address

SUGGEST_STEP = 100  # small shifts keep the ports recognisable (8188 for 8088, ...)
SUGGEST_TRIES = 50


def can_listen(host: str, port: int) -> bool:
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[
            0
        ]
    except OSError:
        return True  # let the node report an unresolvable host in its own words
    with socket.socket(family, kind, proto) as sock:
        # As the node's listener does: connections in TIME_WAIT do not make a port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(sockaddr)
        except OSError:
            return False
    return True


def free_base_port(layout: LocalLayout) -> int | None:
    """A --base-port above `layout`'s whose every port is free now, or None if none is near."""
    for step in range(1, SUGGEST_TRIES + 1):
        candidate = LocalLayout(
            layout.groups, layout.replicas, layout.base_port + step * SUGGEST_STEP
        )
        try:
            candidate.check()
        except LayoutError:
            return None  # past the highest port: every further candidate is too
        if all(
            can_listen(parse_address(candidate.config_servers[0]).host, p)
            for p in candidate.ports()
        ):
            return candidate.base_port
    return None

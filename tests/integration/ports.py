"""Free loopback ports for test nodes, found by binding port 0 and reading what the kernel gave."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_ports(count: int, host: str = HOST) -> list[int]:
    """`count` distinct ports that were free a moment ago.

    All probe sockets stay open until every port is chosen, so the kernel cannot hand
    the same port out twice; a port can still be taken by someone else before the node
    binds it, which is rare enough on loopback to accept in tests.
    """
    probes: list[socket.socket] = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind((host, 0))
            probes.append(probe)
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_addresses(count: int, host: str = HOST) -> tuple[str, ...]:
    return tuple(f"{host}:{port}" for port in free_ports(count, host))

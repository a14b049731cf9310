"""In-process servers for the security tests: a TransportServer that records what it was asked."""

from __future__ import annotations

from typing import Any

import trio

from eraft_trio.errors import single_exception
from eraft_trio.transport.handshake import PeerInfo
from eraft_trio.transport.rpc import RpcClient
from eraft_trio.transport.security import NO_SECURITY, Security
from eraft_trio.transport.server import TransportServer

CLUSTER = "security-test"
HOST = "127.0.0.1"


class RecordingHandler:
    """Answers every request with ("echo", body) and remembers pushes and requests."""

    def __init__(self) -> None:
        self.pushes: list[tuple[PeerInfo, Any]] = []
        self.requests: list[tuple[PeerInfo, Any]] = []
        self.changed = trio.Event()

    def on_push(self, peer: PeerInfo, body: Any) -> None:
        self.pushes.append((peer, body))
        self.changed.set()

    async def on_request(self, peer: PeerInfo, body: Any) -> Any:
        self.requests.append((peer, body))
        self.changed.set()
        return ("echo", body)

    async def wait_for_pushes(self, count: int) -> None:
        while len(self.pushes) < count:
            self.changed = trio.Event()
            await self.changed.wait()


async def start_server(
    nursery: trio.Nursery, security: Security = NO_SECURITY, **options: Any
) -> tuple[TransportServer, RecordingHandler]:
    handler = RecordingHandler()
    server = TransportServer(HOST, 0, CLUSTER, 0, 1, handler, security=security, **options)
    await nursery.start(server.serve)
    return server, handler


async def call_once(port: int, security: Security, body: Any = "hello") -> Any:
    """One request over a new client connection: the reply, or the transport error raised."""
    try:
        async with RpcClient((HOST, port), CLUSTER, security=security) as client:
            return await client.call(body, timeout=5)
    except BaseExceptionGroup as group:
        raise single_exception(group) from None

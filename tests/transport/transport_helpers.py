"""Shared pieces of the transport tests: a recording handler, raw connections, condition waits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.handshake import PeerInfo, client_handshake
from eraft_trio.transport.server import Answer, TransportServer

CLUSTER = "test-cluster"
HOST = "127.0.0.1"


class RecordingHandler:
    """Records pushes; answers a request with ("echo", body), or as `respond` says."""

    def __init__(self) -> None:
        self.pushes: list[tuple[PeerInfo, Any]] = []
        self.push_times: list[float] = []  # trio.current_time() of each push
        self.requests: list[Any] = []
        self.request_peers: list[PeerInfo] = []
        self.respond: Callable[[Any], Any] | None = None
        self.release = trio.Event()  # requests whose body is "block" wait for this
        self._changed = trio.Event()

    def on_push(self, peer: PeerInfo, body: Any) -> None:
        self.pushes.append((peer, body))
        self.push_times.append(trio.current_time())
        self._changed.set()

    async def on_request(self, peer: PeerInfo, body: Any) -> Any:
        self.requests.append(body)
        self.request_peers.append(peer)
        self._changed.set()
        if body == "block":
            await self.release.wait()
        if body == "fail":
            raise RuntimeError("handler failure on purpose")
        if self.respond is not None:
            return await self.respond(body)
        return ("echo", body)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once `predicate()` holds, checked after every push or request."""
        while not predicate():
            self._changed = trio.Event()
            await self._changed.wait()

    def push_bodies(self) -> list[Any]:
        return [body for _, body in self.pushes]


class FastHandler(RecordingHandler):
    """Starts ("fast", x) requests itself and keeps their answers until `answer_all`;
    ("now", x) it answers at once; anything else goes to on_request (a task)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[Any] = []
        self.pending: list[tuple[Any, Answer]] = []

    def start_request(self, peer: PeerInfo, body: Any, answer: Answer) -> bool:
        if not (isinstance(body, list | tuple) and body and body[0] in ("fast", "now", "raise")):
            return False
        self.started.append(body)
        self._changed.set()
        kind, value = body
        if kind == "raise":
            raise RuntimeError("start failed on purpose")
        if kind == "now":
            answer(object() if value == "unencodable" else ("now", value), None)
        else:
            self.pending.append((value, answer))
        return True

    def answer_all(self, error: BaseException | None = None) -> None:
        pending, self.pending = self.pending, []
        for value, answer in pending:
            answer(("fast", value), error)


async def start_server(
    nursery: trio.Nursery,
    handler: RecordingHandler | None = None,
    *,
    port: int = 0,
    **options: Any,
) -> TransportServer:
    server = TransportServer(HOST, port, CLUSTER, 0, 1, handler or RecordingHandler(), **options)
    await nursery.start(server.serve)
    return server


async def raw_connection(port: int, *, handshake: bool = True) -> FramedConnection:
    stream = await trio.open_tcp_stream(HOST, port)
    conn = FramedConnection(stream)
    if handshake:
        await client_handshake(conn, cluster=CLUSTER, node=None, group=0)
    return conn


async def read_until_closed(conn: FramedConnection) -> list[Any]:
    """Every message the server sends until it closes the connection."""
    received: list[Any] = []
    while True:
        message = await conn.receive()
        if message is None:
            return received
        received.append(message)


async def wait_until(predicate: Callable[[], bool], poll: float = 0.005) -> None:
    """Poll a condition that has no event to wait on; callers bound it with fail_after."""
    while not predicate():
        await trio.sleep(poll)

"""One persistent outgoing connection to a peer, for one-way (Raft) messages with a bounded queue."""

from __future__ import annotations

import collections
import logging
from typing import Any

import trio

from eraft_trio.protocol.address import Address, format_address, parse_address
from eraft_trio.protocol.envelope import ErrorFrame, Push
from eraft_trio.transport.address import bind_host
from eraft_trio.transport.codec import encode
from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.dial import DialSettings, dial
from eraft_trio.transport.errors import (
    ConnectionLost,
    HandshakeRejected,
    TransportError,
)
from eraft_trio.transport.faults import FAULTS
from eraft_trio.transport.framing import DEFAULT_MAX_FRAME_SIZE, encode_frame
from eraft_trio.transport.handshake import DEFAULT_HANDSHAKE_TIMEOUT
from eraft_trio.transport.security import NO_SECURITY, Security

log = logging.getLogger(__name__)

DEFAULT_QUEUE_LIMIT = 4096
DEFAULT_QUEUE_BYTES_LIMIT = 64 << 20
DEFAULT_BACKOFF_MIN = 0.05
DEFAULT_BACKOFF_MAX = 1.0
DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_PEER_WRITE_TIMEOUT = 5.0


class PeerSender:
    """Sends Push frames to one peer over one connection, reconnecting as needed.

    `send()` never blocks: it queues, or drops and returns False when the queue is
    full, because Raft retransmits what is lost. `await nursery.start(sender.run)`
    runs the connection: connect (from `own_addr`'s host, so per-address partition
    rules apply to this node), handshake, then write everything queued in one
    send_all per wake-up; on failure reconnect with capped exponential backoff.
    """

    def __init__(
        self,
        addr: str | Address,
        *,
        cluster: str,
        node: int,
        group: int,
        own_addr: str | Address | None = None,
        queue_limit: int = DEFAULT_QUEUE_LIMIT,
        queue_bytes_limit: int = DEFAULT_QUEUE_BYTES_LIMIT,
        backoff_min: float = DEFAULT_BACKOFF_MIN,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        write_timeout: float = DEFAULT_PEER_WRITE_TIMEOUT,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        security: Security = NO_SECURITY,
    ) -> None:
        self.addr = parse_address(addr)
        own = parse_address(own_addr) if own_addr is not None else None
        self.dialing = DialSettings(
            cluster=cluster,
            node=node,
            group=group,
            local_host=bind_host(own[0]) if own is not None else None,
            security=security,
            connect_timeout=connect_timeout,
            handshake_timeout=handshake_timeout,
            max_frame_size=max_frame_size,
            write_timeout=write_timeout,
        )
        # Fault rules name this sender by its node's address and the peer by its own.
        self.fault_src = format_address(own) if own is not None else ""
        self.fault_dst = format_address(self.addr)
        self.queue_limit = queue_limit
        self.queue_bytes_limit = queue_bytes_limit
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.connected = False
        self._queue: collections.deque[bytes] = collections.deque()
        self._queue_bytes = 0
        self._wakeup = trio.Event()
        self._peer_up = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._closed = False
        self._stats = {
            "sent": 0,
            "dropped": 0,  # refused by a full queue
            "lost": 0,  # taken from the queue, then the write failed
            "writes": 0,
            "connects": 0,
            "connect_failures": 0,
        }

    def send(self, message: Any) -> bool:
        """Queue `message` for the peer; False when it was dropped (queue full, or closed).

        Encodes at once, so an unencodable message raises EncodeError here, in the caller.
        """
        if self._closed:
            return False
        frame = encode_frame(encode(Push(body=message)), self.dialing.max_frame_size)
        if not FAULTS:
            return self._enqueue(frame)
        delays = FAULTS.plan(self.fault_src, self.fault_dst)
        accepted = not delays  # a message the fault table drops looks sent, as on a real wire
        for delay in delays:
            if delay > 0.0 and self._nursery is not None:
                self._nursery.start_soon(self._enqueue_later, frame, delay)
                accepted = True
            else:
                accepted = self._enqueue(frame) or accepted
        return accepted

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Keep a connection to the peer and drain the queue into it, until cancelled or closed."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                await self._connection_loop()
            finally:
                self._nursery = None
                nursery.cancel_scope.cancel()

    def close(self) -> None:
        """Stop: run() returns, later send() calls return False."""
        self._closed = True
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    @property
    def local_host(self) -> str | None:
        return self.dialing.local_host

    def statistics(self) -> dict[str, Any]:
        return {
            "peer": self.fault_dst,
            "connected": self.connected,
            "queue_length": len(self._queue),
            "queue_bytes": self._queue_bytes,
            "reconnects": max(self._stats["connects"] - 1, 0),
            **self._stats,
        }

    # --- the queue ------------------------------------------------------------------------

    def _enqueue(self, frame: bytes) -> bool:
        if (
            len(self._queue) >= self.queue_limit
            or self._queue_bytes + len(frame) > self.queue_bytes_limit
        ):
            self._stats["dropped"] += 1
            return False
        self._queue.append(frame)
        self._queue_bytes += len(frame)
        self._wakeup.set()
        return True

    async def _enqueue_later(self, frame: bytes, delay: float) -> None:
        await trio.sleep(delay)
        self._enqueue(frame)

    # --- the connection -------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        backoff = self.backoff_min
        while True:
            try:
                conn = await self._connect()
            except (OSError, TransportError) as exc:
                self._stats["connect_failures"] += 1
                # Say it once per outage (and always for a refusal, a configuration error).
                first = backoff == self.backoff_min
                loud = first or isinstance(exc, HandshakeRejected)
                level = logging.WARNING if loud else logging.DEBUG
                log.log(level, "cannot connect to %s: %s", self.fault_dst, exc)
                if await self._back_off(backoff):
                    backoff = self.backoff_min
                else:
                    backoff = min(backoff * 2, self.backoff_max)
                continue
            self._stats["connects"] += 1
            self.connected = True
            backoff = self.backoff_min
            try:
                await self._pump(conn)
            except ConnectionLost as exc:
                log.info("connection to %s lost: %s", self.fault_dst, exc)
            finally:
                self.connected = False
                await conn.aclose()
            # A peer that accepts and then drops us at once must not make this loop spin.
            await trio.sleep(backoff)

    def peer_is_up(self) -> None:
        """The peer just reached us: if we are waiting to redial it, redial now.

        After a restart of the whole group the first node up has backed off to a second
        between tries by the time the others listen; without this its votes and answers
        to them would wait out that second.
        """
        if not self.connected:
            self._peer_up.set()

    async def _back_off(self, delay: float) -> bool:
        """Sleep `delay`, or less if the peer shows it is up; True in that case."""
        with trio.move_on_after(delay):
            await self._peer_up.wait()
        woken = self._peer_up.is_set()
        self._peer_up = trio.Event()
        return woken

    async def _connect(self) -> FramedConnection:
        return await dial(self.addr, self.dialing)

    async def _pump(self, conn: FramedConnection) -> None:
        """Write the queue into `conn` until it breaks; always ends in ConnectionLost."""
        reasons: list[str] = []
        async with trio.open_nursery() as nursery:
            # Raised exceptions would reach us wrapped in an ExceptionGroup; each task
            # records why it stopped and cancels the other instead.
            nursery.start_soon(self._watch_incoming, conn, reasons, nursery.cancel_scope)
            try:
                await self._drain(conn)
            except ConnectionLost as exc:
                reasons.append(str(exc))
            nursery.cancel_scope.cancel()
        raise ConnectionLost(reasons[0] if reasons else "connection closed")

    async def _drain(self, conn: FramedConnection) -> None:
        while True:
            while not self._queue:
                self._wakeup = trio.Event()
                await self._wakeup.wait()
            frames = list(self._queue)
            self._queue.clear()
            self._queue_bytes = 0
            for frame in frames:
                conn.queue_frame(frame)
            try:
                await conn.flush()
            except ConnectionLost:
                self._stats["lost"] += len(frames)
                raise
            self._stats["sent"] += len(frames)
            self._stats["writes"] += 1

    async def _watch_incoming(
        self, conn: FramedConnection, reasons: list[str], scope: trio.CancelScope
    ) -> None:
        """Notice the peer closing (or refusing us) now rather than at the next write."""
        try:
            while True:
                message = await conn.receive()
                if message is None:
                    reasons.append("closed by the peer")
                    break
                if isinstance(message, ErrorFrame):
                    log.warning(
                        "%s closed the connection: %s: %s",
                        self.fault_dst,
                        message.code,
                        message.message,
                    )
                    reasons.append(f"refused by the peer: {message.code}")
                    break
        except TransportError as exc:
            reasons.append(str(exc))
        scope.cancel()

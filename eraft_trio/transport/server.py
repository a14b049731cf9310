"""The listening side: accepts connections, handshakes, hands pushes and requests to a handler."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import trio

from eraft_trio.protocol.envelope import (
    BUSY,
    FRAME_TOO_LARGE,
    INTERNAL,
    MALFORMED,
    UNEXPECTED,
    ErrorFrame,
    Push,
    Request,
    RequestBatch,
)
from eraft_trio.transport.acceptor import accept_forever, plain_sockets
from eraft_trio.transport.address import stream_peer_address
from eraft_trio.transport.codec import encode
from eraft_trio.transport.connection import DEFAULT_WRITE_TIMEOUT, FramedConnection
from eraft_trio.transport.errors import (
    ConnectionLost,
    EncodeError,
    HandshakeRejected,
    ProtocolError,
)
from eraft_trio.transport.framing import DEFAULT_MAX_FRAME_SIZE, FrameTooLarge, encode_frame
from eraft_trio.transport.handshake import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    PeerInfo,
    send_error_frame,
    server_handshake,
)
from eraft_trio.transport.inflight import ConnectionShare, InflightBudget
from eraft_trio.transport.limits import ConnectionLimits
from eraft_trio.transport.security import NO_SECURITY, Security
from eraft_trio.transport.stage_trace import stage
from eraft_trio.transport.tls import accept_tls

log = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENT_REQUESTS = 64
# A send that would wait is given up on: a refusal at accept is one small write to a
# fresh socket, whose send buffer is empty, and it must never make the accept loop wait.
_DONT_WAIT = getattr(socket, "MSG_DONTWAIT", 0)
# Lines per second about refused or misbehaving connections: a flood of them must not
# cost the node its time in formatting and writing log lines (the counters keep counting).
BAD_CONNECTION_LOG_LINES_PER_SECOND = 10


class LogRateLimit:
    """At most `per_second` lines a second; says how many it held back when it lets one by."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._second = -1
        self._lines = 0
        self.suppressed = 0

    def allow(self) -> bool:
        second = int(trio.current_time())
        if second != self._second:
            self._second, self._lines = second, 0
        if self._lines >= self.per_second:
            self.suppressed += 1
            return False
        self._lines += 1
        return True

    def note(self) -> str:
        """ " (N similar lines not logged)" once lines were held back, and starts counting anew."""
        if not self.suppressed:
            return ""
        held, self.suppressed = self.suppressed, 0
        return f" ({held} similar lines not logged)"


# How a handler answers a request it started (see FastRequestHandler): once, with the
# reply, or with the exception that stopped it (answered as an `internal` error).
Answer = Callable[[Any, BaseException | None], None]


class TransportHandler(Protocol):
    def on_push(self, peer: PeerInfo, body: Any) -> None:
        """A one-way message arrived; must not block (queue it and return)."""
        ...

    async def on_request(self, peer: PeerInfo, body: Any) -> Any:
        """Answer one request; the return value travels back as the Response body."""
        ...


class FastRequestHandler(TransportHandler, Protocol):
    def start_request(self, peer: PeerInfo, body: Any, answer: Answer) -> bool:
        """Start answering `body` from the connection's reader, without a task: return
        True and call `answer` exactly once, now or later (from trio's thread); or return
        False, without calling it, to have `on_request` answer it in a task of its own.

        Must not block: it is what keeps a connection's requests cheap (no task, no
        cancel scope each), so it only queues work (a proposal, a read) and returns.
        """
        ...


class _FastRequests:
    """The requests of one connection answered through `start_request` and not yet
    answered; once the connection ends, a late answer is dropped (its bytes and slot
    were given back with the connection's)."""

    __slots__ = ("open", "outstanding")

    def __init__(self) -> None:
        self.open = True
        self.outstanding = 0


class UnexpectedMessage(ProtocolError):
    """A well-formed message this side of a connection does not accept (a Welcome, say)."""


class TransportServer:
    """Serves one node's listening socket until `close()` or cancellation.

    `await nursery.start(server.serve)` returns the bound port once listening (port 0
    picks a free one; `server.port` holds it afterwards).

    `limits` bound what connections cost (docs/security.md, "Limits"): beyond
    `max_connections` open, or `max_unauthenticated` still in their handshake, a new
    connection is refused at once (`busy`); a frame larger than the handshake limit
    before the handshake, or than the client or peer limit after it, closes the
    connection as soon as its header arrives; received requests hold a share of the
    node's in-flight budget until answered, and a connection that wants more waits.
    """

    def __init__(
        self,
        host: str,
        port: int,
        cluster: str,
        node: int | None,
        group: int,
        handler: TransportHandler,
        *,
        limits: ConnectionLimits | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS,
        security: Security = NO_SECURITY,
    ) -> None:
        self.host = host
        self.port = port
        self.cluster = cluster
        self.node = node
        self.group = group
        self.handler = handler
        # Handlers that can start a request without a task get the fast path.
        self._start_request: Callable[[PeerInfo, Any, Answer], bool] | None = getattr(
            handler, "start_request", None
        )
        self.limits = limits or ConnectionLimits()
        # What we send: our own replies, bounded by the codec's limit, not the peer's.
        self.max_frame_size = max_frame_size
        self.inflight = InflightBudget(self.limits.max_inflight_bytes)
        self._connections: set[FramedConnection] = set()
        self._bad_connection_log = LogRateLimit(BAD_CONNECTION_LOG_LINES_PER_SECOND)
        self.handshake_timeout = handshake_timeout
        self.write_timeout = write_timeout
        self.max_concurrent_requests = max_concurrent_requests
        self.security = security
        self.listening = False
        self._scope: trio.CancelScope | None = None
        self._accept_scope = trio.CancelScope()
        # Why a connection is refused at accept, and the busy frame that says so, by the
        # counter it is counted in: encoded once, as a flood is refused many times a second.
        limits = self.limits
        self._refusals = {
            name: (reason, encode_frame(encode(ErrorFrame(BUSY, reason))))
            for name, reason in (
                (
                    "connections_refused_full",
                    f"too many connections (max_connections = {limits.max_connections})",
                ),
                (
                    "connections_refused_unauthenticated",
                    "too many connections in their handshake "
                    f"(max_unauthenticated_connections = {limits.max_unauthenticated})",
                ),
            )
        }
        self._stats = {
            "connections_open": 0,
            "connections_unauthenticated": 0,
            "connections_total": 0,
            "connections_refused_full": 0,
            "connections_refused_unauthenticated": 0,
            "frames_too_large": 0,
            "handshake_failures": 0,
            "protocol_errors": 0,
            "pushes": 0,
            "requests": 0,
            "requests_fast": 0,
            "request_batches": 0,
            "requests_in_flight": 0,
            "handler_errors": 0,
            "responses_written": 0,
        }

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        with trio.CancelScope() as scope:
            self._scope = scope
            try:
                # Connections live in this nursery, the accept loop in its own cancel
                # scope, so that stop_accepting() can end one and not the other.
                async with trio.open_nursery() as connections:
                    await connections.start(self._accept, listeners, connections)
                    log.info("listening on %s:%d", self.host, self.port)
                    task_status.started(self.port)
            finally:
                self.listening = False

    def stop_accepting(self) -> None:
        """Close the listening socket; open connections carry on (serve() returns when they end)."""
        self._accept_scope.cancel()

    def close(self) -> None:
        """Stop listening and drop every connection (serve() returns)."""
        self._accept_scope.cancel()
        if self._scope is not None:
            self._scope.cancel()

    async def _accept(
        self,
        listeners: list[trio.SocketListener],
        connections: trio.Nursery,
        *,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        sockets = plain_sockets(listeners)
        on_accept = partial(self._on_accept, connections=connections)
        with self._accept_scope:
            self.listening = True
            try:
                async with trio.open_nursery() as loops:
                    for listening in sockets:
                        loops.start_soon(accept_forever, listening, on_accept)
                    task_status.started()
            finally:
                self.listening = False
                # Each loop closes its socket; this covers a cancel that came before
                # they started (closing twice is harmless, and needs no await).
                for listening in sockets:
                    listening.close()

    def statistics(self) -> dict[str, Any]:
        limits = self.limits
        return {
            "listening": self.listening,
            "port": self.port,
            **self._stats,
            "connections_refused": self._stats["connections_refused_full"]
            + self._stats["connections_refused_unauthenticated"],
            "buffered_bytes": sum(c.reader.buffered_bytes() for c in self._connections),
            **self.inflight.statistics(),
            "max_connections": limits.max_connections,
            "max_unauthenticated": limits.max_unauthenticated,
        }

    # --- one connection -------------------------------------------------------------------

    def _on_accept(self, sock: socket.socket, connections: trio.Nursery) -> None:
        """Refuse the connection at once (no task, nothing read) or start serving it;
        it is counted from here, so the caps hold across a batch of accepts."""
        refusal = self._refusal()
        if refusal is not None:
            self._refuse_at_accept(sock, refusal)
            return
        try:
            tcp = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
        except OSError as exc:
            log.debug("accepted connection unusable: %s", exc)
            sock.close()
            return
        stats = self._stats
        stats["connections_open"] += 1
        stats["connections_unauthenticated"] += 1
        stats["connections_total"] += 1
        connections.start_soon(self._handle_connection, tcp)

    async def _handle_connection(self, tcp: trio.SocketStream) -> None:
        stats = self._stats
        authenticated = False
        remote = stream_peer_address(tcp)
        stream: trio.abc.Stream = tcp
        share = ConnectionShare(self.inflight, self.limits.connection_inflight_bytes)
        conn: FramedConnection | None = None
        try:
            try:
                stream = await self._secure(tcp)
                conn = FramedConnection(
                    stream,
                    max_frame_size=self.max_frame_size,
                    write_timeout=self.write_timeout,
                    receive_limit=self.limits.handshake_frame_bytes,
                    reserve=share.take,
                )
                conn.answers = True
                self._connections.add(conn)
                peer = await server_handshake(
                    conn,
                    cluster=self.cluster,
                    node=self.node,
                    timeout=self.handshake_timeout,
                    secret=self.security.secret,
                )
            except HandshakeRejected as exc:
                stats["handshake_failures"] += 1
                if self._bad_connection_log.allow():
                    note = self._bad_connection_log.note()
                    log.warning("refused connection from %s: %s%s", remote, exc, note)
                return
            except ProtocolError as exc:
                stats["handshake_failures"] += 1
                assert conn is not None  # _secure raises HandshakeRejected, not ProtocolError
                await self._close_for_bad_input(conn, exc, "before its Hello")
                return
            except (ConnectionLost, trio.BrokenResourceError, OSError) as exc:
                log.debug("connection from %s lost in the handshake: %s", remote, exc)
                return
            authenticated = True
            stats["connections_unauthenticated"] -= 1
            conn.reader.max_frame_size = self.limits.frame_limit(peer.is_client)
            await self._serve_peer(conn, peer, share)
        except Exception:
            # A bug here must cost one connection, not the listener and every other peer.
            log.exception("closing connection from %s after an unexpected error", remote)
        finally:
            stats["connections_open"] -= 1
            if not authenticated:
                stats["connections_unauthenticated"] -= 1
            if conn is not None:
                self._connections.discard(conn)
            share.give_back_all()  # a frame half received, requests read but not started
            await stream.aclose()

    def _refusal(self) -> str | None:
        """The counter of the reason a connection accepted now must be closed at once
        (counted), or None to serve it."""
        stats, limits = self._stats, self.limits
        if stats["connections_open"] >= limits.max_connections:
            refusal = "connections_refused_full"
        elif stats["connections_unauthenticated"] >= limits.max_unauthenticated:
            refusal = "connections_refused_unauthenticated"
        else:
            return None
        stats[refusal] += 1
        return refusal

    def _refuse_at_accept(self, sock: socket.socket, refusal: str) -> None:
        """Close without reading a byte; in plain TCP, say why first (one small write
        that never waits), so a client retries later instead of reporting a broken
        connection."""
        reason, frame = self._refusals[refusal]
        refused = (
            self._stats["connections_refused_full"]
            + self._stats["connections_refused_unauthenticated"]
        )
        if refused == 1 or refused % 1000 == 0:  # a flood must not flood the log too
            log.warning("refusing connections: %s (%d so far)", reason, refused)
        try:
            if self.security.server_tls is None:
                sock.send(frame, _DONT_WAIT)
        except OSError:
            pass  # gone already, or no room: closed without a word
        finally:
            sock.close()

    async def _secure(self, tcp: trio.SocketStream) -> trio.abc.Stream:
        """The TLS stream over `tcp` when this node serves TLS, else `tcp` itself."""
        context = self.security.server_tls
        if context is None:
            return tcp
        return await accept_tls(tcp, context, self.handshake_timeout)

    async def _serve_peer(
        self, conn: FramedConnection, peer: PeerInfo, share: ConnectionShare
    ) -> None:
        # A Semaphore acquired by the reader before spawning: with every slot busy the
        # reader stops reading, so a flooding client is slowed by TCP backpressure.
        slots = trio.Semaphore(self.max_concurrent_requests)
        fast = _FastRequests()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self._write_loop, conn, nursery.cancel_scope)
                try:
                    await self._read_loop(conn, peer, slots, share, nursery, fast)
                except ProtocolError as exc:
                    await self._close_for_bad_input(conn, exc, _describe(peer))
                except ConnectionLost as exc:
                    log.debug("connection from %s lost: %s", conn.remote, exc)
                # The other side is gone or unwelcome: its unanswered requests have no one to answer.
                nursery.cancel_scope.cancel()
        finally:
            # Requests started on the fast path and still unanswered: nobody to answer.
            fast.open = False
            self._stats["requests_in_flight"] -= fast.outstanding

    async def _write_loop(
        self, conn: FramedConnection, scope: trio.CancelScope, *, task_status: Any
    ) -> None:
        """The connection's one writer: responses of many requests go out together."""
        try:
            await conn.run_writer(task_status=task_status)
        except ConnectionLost as exc:
            log.debug("cannot answer %s: %s", conn.remote, exc)
            scope.cancel()  # nobody to answer: stop the requests still running

    async def _read_loop(
        self,
        conn: FramedConnection,
        peer: PeerInfo,
        slots: trio.Semaphore,
        share: ConnectionShare,
        nursery: trio.Nursery,
        fast: _FastRequests,
    ) -> None:
        while True:
            messages = await conn.receive_batch_reserved()
            if not messages:
                return
            for message, size, reserved in messages:
                kind = type(message)
                if kind is Push:
                    self._stats["pushes"] += 1
                    self._deliver_push(peer, message.body)
                    if reserved:
                        share.give_back(size)
                elif kind is Request:
                    stage("server_receive", 1)
                    await self._take_request(
                        conn, peer, message, size, reserved, slots, share, nursery, fast
                    )
                elif kind is RequestBatch:
                    ids, bodies = message.ids, message.bodies
                    if not ids or len(ids) != len(bodies):
                        raise ProtocolError("a RequestBatch needs as many ids as bodies")
                    self._stats["request_batches"] += 1
                    stage("server_receive", len(ids))
                    conn.batch_calls = True  # it speaks batches: answer in batches too
                    # Each request holds its part of the frame's bytes until answered.
                    part, extra = divmod(size, len(ids))
                    for n, (call_id, body) in enumerate(zip(ids, bodies, strict=True)):
                        await self._take_request(
                            conn,
                            peer,
                            Request(id=call_id, body=body),
                            part + (extra if n == 0 else 0),
                            reserved,
                            slots,
                            share,
                            nursery,
                            fast,
                        )
                else:
                    raise UnexpectedMessage(f"unexpected {kind.__name__} after the handshake")

    async def _take_request(
        self,
        conn: FramedConnection,
        peer: PeerInfo,
        request: Request,
        size: int,
        reserved: bool,
        slots: trio.Semaphore,
        share: ConnectionShare,
        nursery: trio.Nursery,
        fast: _FastRequests,
    ) -> None:
        try:
            slots.acquire_nowait()  # no scheduler round trip per request
        except trio.WouldBlock:
            await slots.acquire()
        # Its bytes stay counted until it is answered; a connection (or a
        # node) over its budget stops reading here, and TCP slows the sender.
        if not (reserved or share.try_take(size)):
            await share.take(size)
        if not self._start_fast(conn, peer, request, size, slots, share, fast):
            nursery.start_soon(self._run_request, conn, peer, request, size, slots, share, nursery)

    def _start_fast(
        self,
        conn: FramedConnection,
        peer: PeerInfo,
        request: Request,
        size: int,
        slots: trio.Semaphore,
        share: ConnectionShare,
        fast: _FastRequests,
    ) -> bool:
        """Hand the request to the handler's `start_request`, if it has one and takes it;
        the answer is queued on the connection for its writer, which sends every answer
        queued in one scheduler pass in one write."""
        start = self._start_request
        if start is None:
            return False
        stats = self._stats
        answered = False

        def answer(value: Any, error: BaseException | None) -> None:
            nonlocal answered
            if answered:
                return  # a handler calling twice must not give back twice
            answered = True
            if not fast.open:
                return
            fast.outstanding -= 1
            stats["requests_in_flight"] -= 1
            share.give_back(size)
            slots.release()
            if error is not None:
                stats["handler_errors"] += 1
                log.error(
                    "request handler failed on %s from %s",
                    type(request.body).__name__,
                    peer.address,
                    exc_info=error,
                )
                value = ErrorFrame(INTERNAL, f"{type(error).__name__}: {error}")
            self._queue_response(conn, peer, request.id, value)
            stage("reply_queued", request.id)
            conn.push_nowait()
            stats["responses_written"] += 1

        fast.outstanding += 1
        stats["requests_in_flight"] += 1
        try:
            taken = start(peer, request.body, answer)
        except Exception as exc:
            answer(None, exc)
            taken = True
        if not taken:
            fast.outstanding -= 1
            stats["requests_in_flight"] -= 1
            return False
        stats["requests"] += 1
        stats["requests_fast"] += 1
        return True

    def _queue_response(
        self, conn: FramedConnection, peer: PeerInfo, request_id: int, body: Any
    ) -> None:
        try:
            conn.queue_call(request_id, body)
        except (EncodeError, FrameTooLarge) as exc:
            self._stats["handler_errors"] += 1
            log.error("reply to %s from %s not sent: %s", _describe(peer), conn.remote, exc)
            conn.queue_call(request_id, ErrorFrame(INTERNAL, str(exc)))

    def _deliver_push(self, peer: PeerInfo, body: Any) -> None:
        try:
            self.handler.on_push(peer, body)
        except Exception:
            # A handler bug must not cost the peer its connection; Raft tolerates the loss.
            self._stats["handler_errors"] += 1
            log.exception("push handler failed on %s from %s", type(body).__name__, peer.address)

    async def _run_request(
        self,
        conn: FramedConnection,
        peer: PeerInfo,
        request: Request,
        size: int,
        slots: trio.Semaphore,
        share: ConnectionShare,
        nursery: trio.Nursery,
    ) -> None:
        self._stats["requests"] += 1
        self._stats["requests_in_flight"] += 1
        try:
            result = await self._call_handler(peer, request.body)
            self._queue_response(conn, peer, request.id, result)
            # Responses that become ready while another task is writing go out with its
            # write; if that write fails, the connection's nursery is cancelled.
            await conn.push()
            self._stats["responses_written"] += 1
        except ConnectionLost as exc:
            log.debug("cannot answer %s: %s", conn.remote, exc)
            nursery.cancel_scope.cancel()
        finally:
            self._stats["requests_in_flight"] -= 1
            share.give_back(size)
            slots.release()

    async def _call_handler(self, peer: PeerInfo, body: Any) -> Any:
        try:
            return await self.handler.on_request(peer, body)
        except Exception as exc:
            self._stats["handler_errors"] += 1
            log.exception("request handler failed on %s from %s", type(body).__name__, peer.address)
            return ErrorFrame(INTERNAL, f"{type(exc).__name__}: {exc}")

    async def _close_for_bad_input(
        self, conn: FramedConnection, exc: ProtocolError, who: str
    ) -> None:
        self._stats["protocol_errors"] += 1
        if isinstance(exc, FrameTooLarge):
            self._stats["frames_too_large"] += 1
        if self._bad_connection_log.allow():
            note = self._bad_connection_log.note()
            log.warning("closing connection from %s (%s): %s%s", conn.remote, who, exc, note)
        await send_error_frame(conn, _error_code(exc), str(exc))


def _error_code(exc: ProtocolError) -> str:
    if isinstance(exc, FrameTooLarge):
        return FRAME_TOO_LARGE
    if isinstance(exc, UnexpectedMessage):
        return UNEXPECTED
    return MALFORMED


def _describe(peer: PeerInfo) -> str:
    return "client" if peer.node is None else f"node {peer.node} of group {peer.group}"

"""Request/response calls to one server over one connection, many in flight at once."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import trio

from eraft_trio.protocol.address import Address, format_address, parse_address
from eraft_trio.protocol.envelope import (
    UNEXPECTED,
    ErrorFrame,
    Request,
    Response,
    ResponseBatch,
)
from eraft_trio.transport.address import bind_host
from eraft_trio.transport.connection import DEFAULT_WRITE_TIMEOUT, FramedConnection
from eraft_trio.transport.dial import DialSettings, dial
from eraft_trio.transport.errors import (
    ConnectFailed,
    ConnectionLost,
    ProtocolError,
    RemoteError,
    RequestTimeout,
    TransportError,
)
from eraft_trio.transport.faults import FAULTS, SEND_NOW
from eraft_trio.transport.framing import DEFAULT_MAX_FRAME_SIZE
from eraft_trio.transport.handshake import DEFAULT_HANDSHAKE_TIMEOUT
from eraft_trio.transport.security import NO_SECURITY, Security
from eraft_trio.transport.stage_trace import stage

log = logging.getLogger(__name__)

DEFAULT_CALL_TIMEOUT = 10.0
DEFAULT_RPC_CONNECT_TIMEOUT = 2.0


@dataclass(slots=True, eq=False)
class _PendingCall:
    done: trio.Event = field(default_factory=trio.Event)
    reply: Any = None
    lost: str | None = None  # why the connection broke before the reply came


@dataclass(slots=True, eq=False)
class _Session:
    """One connection and the calls waiting on it; a broken session is never reused."""

    conn: FramedConnection
    pending: dict[int, _PendingCall] = field(default_factory=dict)
    alive: bool = True


class RpcClient:
    """Calls one server: `reply = await client.call(body, timeout)`.

    The connection opens on the first call and reopens on the first call after it
    broke. A reader task per connection hands each Response to its caller, so it
    needs a nursery: use `async with RpcClient(...) as client`, or
    `await nursery.start(client.run)` and `await client.aclose()` when done.

    Calls made in the same scheduler pass (by concurrent tasks) go out as one
    RequestBatch frame; a call never waits for others to join it. A server too old to
    know batches refuses the first one (`unexpected`): the calls on that connection fail
    as a lost connection, and from then on this client sends one frame per call.
    """

    def __init__(
        self,
        addr: str | Address,
        cluster: str,
        local_host: str | None = None,
        *,
        node: int | None = None,
        group: int = 0,
        connect_timeout: float = DEFAULT_RPC_CONNECT_TIMEOUT,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        security: Security = NO_SECURITY,
    ) -> None:
        self.addr = parse_address(addr)
        self.dialing = DialSettings(
            cluster=cluster,
            node=node,
            group=group,
            local_host=bind_host(local_host),
            security=security,
            connect_timeout=connect_timeout,
            handshake_timeout=handshake_timeout,
            max_frame_size=max_frame_size,
            write_timeout=write_timeout,
        )
        self.fault_src = local_host or ""
        self.fault_dst = format_address(self.addr)
        self._session: _Session | None = None
        self._connect_lock = trio.Lock()
        self._next_id = 1
        self._nursery: trio.Nursery | None = None
        self._nursery_manager: Any = None
        self._closed = False
        self._closed_event = trio.Event()
        self._batching = True
        self._stats = {
            "calls": 0,
            "timeouts": 0,
            "connections_lost": 0,
            "connects": 0,
            "connect_failures": 0,
        }

    # --- lifetime -------------------------------------------------------------------------

    async def __aenter__(self) -> RpcClient:
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        await self.aclose()
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()
        self._nursery = None
        result: bool | None = await self._nursery_manager.__aexit__(exc_type, exc, tb)
        return result

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Host the reader tasks in the caller's nursery until aclose()."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                await self._closed_event.wait()
            finally:
                self._nursery = None
                nursery.cancel_scope.cancel()

    async def aclose(self) -> None:
        """Close the connection; calls in flight fail with ConnectionLost, later ones at once."""
        self._closed = True
        self._closed_event.set()
        session, self._session = self._session, None
        if session is not None:
            self._fail(session, "the client was closed")
            await session.conn.aclose()

    def statistics(self) -> dict[str, Any]:
        session = self._session
        return {
            "server": self.fault_dst,
            "connected": session is not None and session.alive,
            "in_flight": len(session.pending) if session is not None else 0,
            **self._stats,
        }

    # --- calls ----------------------------------------------------------------------------

    async def call(self, body: Any, timeout: float | None = DEFAULT_CALL_TIMEOUT) -> Any:
        """The server's reply to `body`.

        Raises RequestTimeout after `timeout` seconds (None: wait forever),
        ConnectFailed when no connection could be made (the request was not sent),
        ConnectionLost when the connection broke with the request in flight,
        RemoteError when the server's handler failed on it.
        """
        self._stats["calls"] += 1
        reply: Any = None
        with trio.move_on_after(timeout if timeout is not None else float("inf")) as scope:
            reply = await self._call(body)
        if scope.cancelled_caught:
            self._stats["timeouts"] += 1
            raise RequestTimeout(f"no answer from {self.fault_dst} within {timeout}s")
        if isinstance(reply, ErrorFrame):
            raise RemoteError(reply.code, reply.message)
        return reply

    async def _call(self, body: Any) -> Any:
        session = await self._current_session()
        call_id = self._next_id
        self._next_id += 1
        request = Request(id=call_id, body=body)
        pending = _PendingCall()
        session.pending[call_id] = pending
        try:
            delays = FAULTS.plan(self.fault_src, self.fault_dst) if FAULTS else SEND_NOW
            # A dropped request is simply never written: the caller times out.
            for delay in delays:
                if delay > 0.0 and self._nursery is not None:
                    self._nursery.start_soon(self._send_later, session, request, delay)
                else:
                    stage("client_send", call_id)
                    await self._send(session, request)
            await pending.done.wait()
        finally:
            session.pending.pop(call_id, None)
        if pending.lost is not None:
            raise ConnectionLost(pending.lost)
        return pending.reply

    async def _send(self, session: _Session, request: Request) -> None:
        # EncodeError here leaves the connection intact.
        session.conn.queue_call(request.id, request.body)
        # The session's writer task writes it; a failed write answers every pending call.
        try:
            await session.conn.push()
        except ConnectionLost as exc:  # no writer task any more: the connection broke
            self._fail(session, str(exc))
            await session.conn.aclose()
            raise

    async def _send_later(self, session: _Session, request: Request, delay: float) -> None:
        await trio.sleep(delay)
        if session.alive:
            # Its caller learns of a failure from _fail, or times out.
            with contextlib.suppress(TransportError):
                await self._send(session, request)

    # --- the connection -------------------------------------------------------------------

    async def _current_session(self) -> _Session:
        session = self._session
        if session is not None and session.alive and not self._closed:
            return session  # the common case, without taking the lock (or a checkpoint)
        async with self._connect_lock:
            if self._closed:
                raise ConnectFailed(f"the client of {self.fault_dst} is closed")
            session = self._session
            if session is not None and session.alive:
                return session
            if self._nursery is None:
                raise RuntimeError("RpcClient needs `async with` or nursery.start(client.run)")
            try:
                conn = await self._connect()
            except (ConnectFailed, ConnectionLost, ProtocolError) as exc:
                self._stats["connect_failures"] += 1
                raise ConnectFailed(f"cannot connect to {self.fault_dst}: {exc}") from exc
            except TransportError:
                self._stats["connect_failures"] += 1
                raise
            self._stats["connects"] += 1
            conn.batch_calls = self._batching
            session = _Session(conn)
            self._session = session
            self._nursery.start_soon(self._read_responses, session)
            await self._nursery.start(self._write_requests, session)
            return session

    async def _connect(self) -> FramedConnection:
        return await dial(self.addr, self.dialing)

    async def _write_requests(self, session: _Session, *, task_status: Any) -> None:
        try:
            await session.conn.run_writer(task_status=task_status)
        except ConnectionLost as exc:
            self._fail(session, str(exc))
            await session.conn.aclose()

    async def _read_responses(self, session: _Session) -> None:
        reason = "closed by the server"
        try:
            while session.alive:
                messages = await session.conn.receive_batch()
                if not messages:
                    break
                stage("client_receive", len(messages))
                for message in messages:
                    if type(message) is Response:
                        self._answer(session, message.id, message.body)
                    elif type(message) is ResponseBatch:
                        for call_id, body in zip(message.ids, message.bodies, strict=False):
                            self._answer(session, call_id, body)
                    elif isinstance(message, ErrorFrame):
                        if message.code == UNEXPECTED and session.conn.batch_frames:
                            self._batching = False  # an older server: one frame per call
                        raise ConnectionLost(
                            f"{self.fault_dst} closed the connection: "
                            f"{message.code}: {message.message}"
                        )
                    else:
                        raise ProtocolError(f"unexpected {type(message).__name__} from server")
        except TransportError as exc:
            reason = str(exc)
        if session.alive:
            self._fail(session, reason)
        await session.conn.aclose()

    @staticmethod
    def _answer(session: _Session, call_id: int, body: Any) -> None:
        pending = session.pending.get(call_id)
        # A reply to a call that timed out (or a duplicate) has no one waiting.
        if pending is not None and not pending.done.is_set():
            pending.reply = body
            pending.done.set()

    def _fail(self, session: _Session, reason: str) -> None:
        if not session.alive:
            return
        session.alive = False
        if self._session is session:
            self._session = None
        self._stats["connections_lost"] += 1
        log.debug("connection to %s lost: %s", self.fault_dst, reason)
        for pending in session.pending.values():
            if not pending.done.is_set():
                pending.lost = reason
                pending.done.set()

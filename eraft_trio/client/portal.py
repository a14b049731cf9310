"""ClientPortal: one trio Client running in a background thread, for programs that do not
run trio. The blocking SyncClient and the AsyncioClient are thin drivers over it: each
call is submitted here and comes back as a concurrent.futures.Future, which SyncClient
waits on and AsyncioClient awaits (asyncio.wrap_future).

Cancelling a call's future cancels the call on the trio side (asyncio cancels the
wrapped future when the awaiting task is cancelled), so an abandoned call never keeps
running. Closing the portal cancels every call still running (their futures raise
ClientClosed), closes the Client and ends the thread.

Why a thread and not trio's guest mode (trio.lowlevel.start_guest_run on the asyncio
loop): the blocking client needs a thread anyway, and one mechanism for both drivers is
the point; a thread keeps the client's timeouts and retries running while the host loop
is blocked by a slow callback; any number of clients can coexist, where a thread (an
asyncio loop's included) hosts at most one trio run (start_guest_run refuses a second),
so the clients of one loop would have to share a run with an owner; and the host loop
needs no support for it. The cost, two thread hops per call, is small beside a network round trip.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any, Concatenate, ParamSpec, TypeVar

import trio

from eraft_trio.client.kv_client import Client
from eraft_trio.errors import ClientClosed

P = ParamSpec("P")
R = TypeVar("R")


class ClientPortal:
    """Starts the thread at once; `ready` resolves when the Client is connected, or with
    the error Client.connect raised (a BadRequest for a bad address, say)."""

    def __init__(
        self, config_servers: Sequence[str], options: dict[str, Any], *, name: str
    ) -> None:
        self.ready: Future[None] = Future()
        self.stopped: Future[None] = Future()  # resolves when the thread's trio run ended
        self._client: Client | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._calls: trio.Nursery | None = None
        self._stop = trio.Event()
        self._closing = False
        self._failure: BaseException | None = None  # what ended the run, when not close()
        # Every submitted future not yet resolved: those still unresolved when the run
        # ends fail then (a start callback trio never ran would leave its caller waiting).
        self._outstanding: set[Future[Any]] = set()
        self._outstanding_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, args=(tuple(config_servers), options), daemon=True, name=name
        )
        self._thread.start()

    # --- from any thread --------------------------------------------------------------

    def submit(
        self,
        fn: Callable[Concatenate[Client, P], Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Future[R]:
        """Run `await fn(client, *args, **kwargs)` in the trio thread; its outcome as a
        Future, whose cancel() cancels the call. ClientClosed when the portal is closed."""
        future: Future[R] = Future()
        scope = trio.CancelScope()

        def start() -> None:  # in the trio thread, inside a run_sync_soon callback
            calls = self._calls
            if calls is None or self._stop.is_set():
                _settle(future, error=self.closed_error())
                return
            try:
                calls.start_soon(self._run_call, future, scope, fn, args, kwargs)
            except RuntimeError:
                # The nursery closed before the run set _stop (the Client failed under
                # it): an exception here would end the trio run itself.
                _settle(future, error=self.closed_error())

        with self._outstanding_lock:
            self._outstanding.add(future)
        future.add_done_callback(self._forget)
        try:
            self.run_sync_soon(start)
        except BaseException:
            self._forget(future)
            raise
        future.add_done_callback(
            lambda done: self._cancel_soon(scope) if done.cancelled() else None
        )
        return future

    def run_sync_soon(self, fn: Callable[[], object]) -> None:
        """Call `fn()` in the trio thread soon (callbacks run in the order given)."""
        token = self._token
        if token is None or self._closing:
            raise self.closed_error()
        try:
            token.run_sync_soon(fn)
        except trio.RunFinishedError:
            raise self.closed_error() from None

    def close_soon(self) -> None:
        """Start closing: running calls are cancelled, then the Client closes and the
        thread ends (`stopped` resolves). Idempotent; never blocks."""
        if self._closing:
            return
        # _closing first, the token after: _main sets the token first and _closing after,
        # so one of the two sees the other's (a close while connecting never hangs).
        self._closing = True
        token = self._token
        if token is not None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(self._stop.set)

    def close(self) -> None:
        """close_soon(), then wait for the thread to end."""
        self.close_soon()
        self._thread.join()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def calls_in_flight(self) -> int:
        """Calls (and streams) running in the trio thread now; for tests and metrics."""
        calls = self._calls
        return 0 if calls is None else len(calls.child_tasks)

    # --- the trio thread ----------------------------------------------------------------

    def _run(self, servers: tuple[str, ...], options: dict[str, Any]) -> None:
        try:
            trio.run(self._main, servers, options)
        except BaseException as exc:  # _main catches all; this is a bug in trio or here
            self._failure = exc
        finally:
            if not self.ready.done():
                self.ready.set_exception(self._failure or self.closed_error())
            with self._outstanding_lock:
                unresolved = list(self._outstanding)
            for future in unresolved:
                _settle(future, error=self.closed_error())
            self.stopped.set_result(None)

    async def _main(self, servers: tuple[str, ...], options: dict[str, Any]) -> None:
        try:
            async with Client.connect(servers, **options) as client, trio.open_nursery() as calls:
                self._client = client
                self._calls = calls
                self._token = trio.lowlevel.current_trio_token()
                if self._closing:  # close_soon() ran before there was a token to use
                    self._stop.set()
                self.ready.set_result(None)
                await self._stop.wait()
                calls.cancel_scope.cancel()
        except BaseException as exc:  # noqa: BLE001 - handed to the callers instead
            if self.ready.done():
                self._failure = exc
            else:
                self.ready.set_exception(exc)
        finally:
            self._stop.set()  # later submissions are refused, not started

    async def _run_call(
        self,
        future: Future[Any],
        scope: trio.CancelScope,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        assert self._client is not None
        if future.cancelled():
            return
        with scope:  # cancelled by future.cancel(): then nobody waits for the outcome
            try:
                result = await fn(self._client, *args, **kwargs)
            except BaseException as exc:
                if is_cancellation(exc):
                    if not scope.cancel_called:  # the portal is closing under the call
                        _settle(future, error=self.closed_error())
                    raise
                _settle(future, error=exc)  # whatever it is: the caller's to handle
                cancelled = cancelled_part(exc)
                if cancelled is not None:
                    raise cancelled from None  # trio's own, given back; the rest is delivered
            else:
                _settle(future, result=result)

    def _forget(self, future: Future[Any]) -> None:
        with self._outstanding_lock:
            self._outstanding.discard(future)

    def _cancel_soon(self, scope: trio.CancelScope) -> None:
        with contextlib.suppress(ClientClosed):  # the close cancels every call anyway
            self.run_sync_soon(scope.cancel)

    def closed_error(self) -> ClientClosed:
        """The error for a call the portal cannot run: closed, failed or not ready."""
        if self._failure is not None:
            return ClientClosed(f"the client stopped: {self._failure!r}")
        if self._token is None and not self._closing:
            return ClientClosed("the client is not connected yet")
        return ClientClosed("the client is closed")


def is_cancellation(exc: BaseException) -> bool:
    """Whether `exc` is trio's Cancelled, bare or grouped by nurseries (strict groups)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)[1] is None
    return isinstance(exc, trio.Cancelled)


def cancelled_part(exc: BaseException) -> BaseException | None:
    """The Cancelled inside `exc` (itself, or a group of them), None when there is none."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)[0]
    return exc if isinstance(exc, trio.Cancelled) else None


def _settle(future: Future[Any], *, result: Any = None, error: BaseException | None = None) -> None:
    """Resolve `future` unless it was cancelled (its caller is gone) or is resolved."""
    if future.done() or not future.set_running_or_notify_cancel():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)

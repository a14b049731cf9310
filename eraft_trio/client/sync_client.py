"""SyncClient: the blocking client, running a trio Client in a background thread."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import trio

from eraft_trio.client.kv_client import DEFAULT_CONFIG_SERVERS, DEFAULT_TIMEOUT, Client
from eraft_trio.client.results import CasResult, DeleteResult, GetResult, PutResult
from eraft_trio.protocol.limits import DEFAULT_MAX_VALUE_BYTES
from eraft_trio.transport.security import Security


class SyncClient:
    def __init__(
        self,
        config_servers: Sequence[str] = DEFAULT_CONFIG_SERVERS,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        security: Security | None = None,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        """Keywords as Client.connect's (security defaults from ERAFT_SECRET_FILE etc.)."""
        options: dict[str, Any] = {"security": security, "max_value_bytes": max_value_bytes}
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._client: Client | None = None
        self._stop: trio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run,
            args=(tuple(config_servers), timeout, options),
            daemon=True,
            name="eraft-sync-client",
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _run(self, servers: tuple[str, ...], timeout: float, options: dict[str, Any]) -> None:
        async def main() -> None:
            try:
                async with Client.connect(servers, timeout=timeout, **options) as client:
                    self._client = client
                    self._token = trio.lowlevel.current_trio_token()
                    self._stop = trio.Event()
                    self._ready.set()
                    await self._stop.wait()
            except BaseException as exc:
                self._error = exc
                self._ready.set()

        trio.run(main)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._token is None:
            raise RuntimeError("SyncClient is closed")
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    @overload
    def put(self, key: str | bytes, value: str | bytes) -> PutResult: ...
    @overload
    def put(self, key: str | bytes, value: str | bytes, *, if_version: int) -> CasResult: ...
    @overload
    def put(
        self, key: str | bytes, value: str | bytes, *, if_absent: Literal[True]
    ) -> CasResult: ...
    @overload
    def put(self, key: str | bytes, value: str | bytes, *, if_value: str | bytes) -> CasResult: ...

    def put(
        self,
        key: str | bytes,
        value: str | bytes,
        *,
        if_version: int | None = None,
        if_absent: bool = False,
        if_value: str | bytes | None = None,
    ) -> PutResult | CasResult:
        """Client.put's, blocking."""
        client = self._connected()
        put = functools.partial(
            client.put, if_version=if_version, if_absent=if_absent, if_value=if_value
        )
        result: PutResult | CasResult = self._call(put, key, value)
        return result

    def get(self, key: str | bytes) -> bytes | None:
        result: bytes | None = self._call(self._connected().get, key)
        return result

    def get_versioned(self, key: str | bytes) -> GetResult:
        result: GetResult = self._call(self._connected().get_versioned, key)
        return result

    @overload
    def delete(self, key: str | bytes) -> DeleteResult: ...
    @overload
    def delete(self, key: str | bytes, *, if_version: int) -> CasResult: ...
    @overload
    def delete(self, key: str | bytes, *, if_value: str | bytes) -> CasResult: ...

    def delete(
        self,
        key: str | bytes,
        *,
        if_version: int | None = None,
        if_value: str | bytes | None = None,
    ) -> DeleteResult | CasResult:
        """Client.delete's, blocking."""
        delete = functools.partial(
            self._connected().delete, if_version=if_version, if_value=if_value
        )
        result: DeleteResult | CasResult = self._call(delete, key)
        return result

    def _connected(self) -> Client:
        assert self._client is not None
        return self._client

    def close(self) -> None:
        if self._token is None:
            return
        stop = self._stop
        assert stop is not None
        trio.from_thread.run_sync(stop.set, trio_token=self._token)
        self._token = None
        self._thread.join()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

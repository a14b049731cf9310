"""ConnectionPool: one multiplexed RPC connection per server address, opened on first use."""

from __future__ import annotations

from typing import Any

import trio

from eraft_trio.errors import BadRequest
from eraft_trio.protocol.envelope import AUTH_FAILED, AUTH_REQUIRED, TLS_FAILED, TLS_REQUIRED
from eraft_trio.transport.errors import HandshakeRejected
from eraft_trio.transport.rpc import RpcClient
from eraft_trio.transport.security import Security

# Refusals that retrying cannot cure: the secret or the certificates do not match.
SECURITY_REFUSALS = frozenset({AUTH_REQUIRED, AUTH_FAILED, TLS_REQUIRED, TLS_FAILED})


class ConnectionPool:
    """`security` None: the settings ERAFT_SECRET_FILE / ERAFT_CA_FILE / ERAFT_CERT_FILE /
    ERAFT_KEY_FILE name, so every client tool honours them.

    With `security_refusals_are_final`, a server refusing our secret or certificate
    raises BadRequest at once instead of a transport error that callers retry until
    their deadline: a user with the wrong secret hears so now, not after the timeout.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        cluster: str,
        local_host: str | None = None,
        *,
        security: Security | None = None,
        security_refusals_are_final: bool = False,
    ):
        self._nursery = nursery
        self.cluster = cluster
        self.local_host = local_host
        self.security = security if security is not None else Security.from_env()
        self.security_refusals_are_final = security_refusals_are_final
        self._clients: dict[str, RpcClient] = {}
        self._starting: dict[str, trio.Event] = {}

    async def _client(self, addr: str) -> RpcClient:
        client = self._clients.get(addr)
        if client is not None:
            return client
        starting = self._starting.get(addr)
        if starting is not None:
            await starting.wait()
            return self._clients[addr]
        self._starting[addr] = event = trio.Event()
        try:
            client = RpcClient(addr, self.cluster, self.local_host, security=self.security)
            await self._nursery.start(client.run)
            self._clients[addr] = client
        finally:
            del self._starting[addr]
            event.set()
        return client

    async def call(self, addr: str, body: Any, timeout: float) -> Any:
        """The server's reply; raises the transport's errors (TransportError), or
        BadRequest for a security refusal when those are final."""
        client = await self._client(addr)
        try:
            return await client.call(body, timeout=timeout)
        except HandshakeRejected as exc:
            if self.security_refusals_are_final and exc.code in SECURITY_REFUSALS:
                raise BadRequest(exc.code, f"{addr}: {exc.message}") from None
            raise

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

"""ConnectionPool: one multiplexed RPC connection per server address, opened on first use."""

from __future__ import annotations

from typing import Any

import trio

from eraft_trio.transport.rpc import RpcClient


class ConnectionPool:
    def __init__(self, nursery: trio.Nursery, cluster: str, local_host: str | None = None):
        self._nursery = nursery
        self.cluster = cluster
        self.local_host = local_host
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
            client = RpcClient(addr, self.cluster, self.local_host)
            await self._nursery.start(client.run)
            self._clients[addr] = client
        finally:
            del self._starting[addr]
            event.set()
        return client

    async def call(self, addr: str, body: Any, timeout: float) -> Any:
        """The server's reply; raises the transport's errors (TransportError)."""
        client = await self._client(addr)
        return await client.call(body, timeout=timeout)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

"""The simulated network's RPC path: a ConnectionPool whose calls cross SimNetwork.

The real callers run on it unchanged: the client (client/kv_client.py), the config
client and the shard role's loops (GroupCaller following not_leader, backing off,
re-reading the config on wrong_group). Each request goes through the wire codec to the
node at its address, where the node's real NodeService answers it, through its fast
path when it has one (gets and writes), as the TCP server does. Failures are the
transport's: a node that is down refuses the connection (ConnectFailed: never sent);
a request or reply a partition swallowed, or a node that crashed while handling it,
is a RequestTimeout (the outcome unknown); a handler's exception is a RemoteError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio

from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.envelope import INTERNAL, ErrorFrame
from eraft_trio.sim.cluster.network import Endpoint, SimNetwork
from eraft_trio.transport import codec
from eraft_trio.transport.errors import ConnectFailed, RemoteError, RequestTimeout
from eraft_trio.transport.handshake import PeerInfo
from eraft_trio.transport.security import NO_SECURITY

PROTOCOL_VERSION = 1


class SimPool(ConnectionPool):
    """Calls from network node `src` (a node, or a client's own number) to `addresses`."""

    def __init__(
        self,
        nursery: trio.Nursery,
        network: SimNetwork,
        src: int,
        addresses: Mapping[str, int],
        *,
        node: int | None = None,
        group: int = 0,
    ) -> None:
        super().__init__(nursery, "sim", security=NO_SECURITY)
        self._network = network
        self._src = src
        self._addresses = addresses
        # Who we are to the server, as a Hello would say: a client, or node of a group.
        self._peer = PeerInfo(f"sim{src}:0", node, group, "sim", PROTOCOL_VERSION)
        self.calls = 0

    async def call(self, addr: str, body: Any, timeout: float) -> Any:
        dst = self._addresses.get(addr)
        if dst is None:
            raise ConnectFailed(f"cannot connect to {addr}: no such host")
        self.calls += 1
        with trio.move_on_after(timeout):
            try:
                wire = await self._network.request(self._src, dst, codec.encode(body), self._answer)
            except ConnectionRefusedError as exc:
                raise ConnectFailed(f"cannot connect to {addr}: {exc}") from None
            if wire is not None:
                reply = codec.decode(wire)
                if isinstance(reply, ErrorFrame):
                    raise RemoteError(reply.code, reply.message)
                return reply
            await trio.sleep_forever()
        raise RequestTimeout(f"no answer from {addr} within {timeout}s")

    async def _answer(self, endpoint: Endpoint, body: Any) -> Any:
        service = endpoint.service
        if service is None:
            return ErrorFrame(INTERNAL, "this node serves no requests")
        done = trio.Event()
        outcome: list[Any] = []

        def answer(value: Any, error: BaseException | None) -> None:
            outcome.append(value if error is None else _failed(error))
            done.set()

        if service.start_request(self._peer, body, answer):
            await done.wait()
            return outcome[0]
        try:
            return await service.on_request(self._peer, body)
        except Exception as exc:  # the server answers an ErrorFrame; the caller sees it
            return _failed(exc)

    async def aclose(self) -> None:
        pass


def _failed(error: BaseException) -> ErrorFrame:
    """A handler's failure as the server answers it (transport/server.py)."""
    return ErrorFrame(INTERNAL, f"{type(error).__name__}: {error}")

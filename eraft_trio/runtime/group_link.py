"""GroupLink: how a node reaches the other members of its Raft group.

The members change with the group's membership (docs/divergence.md, "Membership"):
`set_peers` starts a sender and a client for each new member and stops those of
members that left, so a removed node is no longer sent anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio

from eraft_trio.protocol.address import parse_address
from eraft_trio.raft.types import Message
from eraft_trio.transport.peer import PeerSender
from eraft_trio.transport.rpc import RpcClient
from eraft_trio.transport.security import NO_SECURITY, Security


class PeerUnknown(Exception):
    """A call to a node that is not (or no longer) a member this node knows the address of."""


class GroupLink:
    """One PeerSender per peer for one-way Raft messages; one RpcClient per peer for calls
    that need an answer (snapshot chunks). Every connection leaves from this node's host."""

    def __init__(
        self,
        peers: tuple[str, ...],
        own_id: int,
        *,
        cluster: str,
        group: int,
        security: Security = NO_SECURITY,
        own_addr: str | None = None,
    ) -> None:
        """`peers`: the address of each node by id (the role file's list), `own_id`'s
        included unless `own_addr` gives it (a joining node, which knows no list)."""
        self.own_id = own_id
        self._own_addr = own_addr if own_addr is not None else peers[own_id]
        self._cluster = cluster
        self._group = group
        self._security = security
        self._own_host = parse_address(self._own_addr).host  # "::1" from "[::1]:7000"
        self.addresses: dict[int, str] = {}
        self.senders: dict[int, PeerSender] = {}
        self.clients: dict[int, RpcClient] = {}
        self._scopes: dict[int, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None
        self.set_peers({i: addr for i, addr in enumerate(peers) if i != own_id})

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for peer in list(self.senders):
                await nursery.start(self._run_peer, peer)
            self._nursery = nursery
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def set_peers(self, addresses: Mapping[int, str]) -> None:
        """Reach exactly these peers (id -> address) from now on."""
        wanted = {i: a for i, a in addresses.items() if i != self.own_id}
        for peer in [p for p in self.addresses if wanted.get(p) != self.addresses[p]]:
            self._drop(peer)
        for peer, addr in wanted.items():
            if peer not in self.addresses:
                self._add(peer, addr)

    def _add(self, peer: int, addr: str) -> None:
        self.addresses[peer] = addr
        self.senders[peer] = PeerSender(
            addr,
            cluster=self._cluster,
            node=self.own_id,
            group=self._group,
            own_addr=self._own_addr,
            security=self._security,
        )
        self.clients[peer] = RpcClient(
            addr,
            self._cluster,
            self._own_host,
            node=self.own_id,
            group=self._group,
            security=self._security,
        )
        if self._nursery is not None:
            self._nursery.start_soon(self._run_peer, peer)

    def _drop(self, peer: int) -> None:
        del self.addresses[peer]
        sender = self.senders.pop(peer)
        sender.close()
        self.clients.pop(peer)
        scope = self._scopes.pop(peer, None)
        if scope is not None:
            scope.cancel()  # the client's calls in flight fail; its connection closes

    async def _run_peer(self, peer: int, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        sender, client = self.senders.get(peer), self.clients.get(peer)
        if sender is None or client is None:
            task_status.started()
            return  # dropped before it started
        with trio.CancelScope() as scope:
            self._scopes[peer] = scope
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(sender.run)
                    await nursery.start(client.run)
                    task_status.started()
            finally:
                if self._scopes.get(peer) is scope:
                    del self._scopes[peer]
                with trio.CancelScope(shield=True):
                    await client.aclose()

    def send(self, peer: int, message: Message) -> bool:
        sender = self.senders.get(peer)
        return sender.send(message) if sender is not None else False

    def is_connected(self, peer: int) -> bool:
        sender = self.senders.get(peer)
        return sender is not None and sender.connected

    def heard_from(self, peer: int) -> None:
        sender = self.senders.get(peer)
        if sender is not None:
            sender.peer_is_up()

    async def call(self, peer: int, request: Any, timeout: float) -> Any:
        client = self.clients.get(peer)
        if client is None:
            raise PeerUnknown(f"node {peer} is not a member this node can reach")
        return await client.call(request, timeout=timeout)

    def statistics(self) -> dict[str, Any]:
        return {str(i): s.statistics() for i, s in self.senders.items()}

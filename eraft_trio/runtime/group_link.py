"""GroupLink: how a node reaches the other members of its Raft group."""

from __future__ import annotations

from typing import Any

import trio

from eraft_trio.raft.types import Message
from eraft_trio.transport.address import parse_address
from eraft_trio.transport.peer import PeerSender
from eraft_trio.transport.rpc import RpcClient
from eraft_trio.transport.security import NO_SECURITY, Security


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
    ) -> None:
        self.peers = peers
        self.own_id = own_id
        own_addr = peers[own_id]
        self.senders = {
            i: PeerSender(
                addr,
                cluster=cluster,
                node=own_id,
                group=group,
                own_addr=own_addr,
                security=security,
            )
            for i, addr in enumerate(peers)
            if i != own_id
        }
        own_host = parse_address(own_addr)[0]  # "::1" from "[::1]:7000", not "[::1]"
        self.clients = {
            i: RpcClient(addr, cluster, own_host, node=own_id, group=group, security=security)
            for i, addr in enumerate(peers)
            if i != own_id
        }

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for sender in self.senders.values():
                await nursery.start(sender.run)
            for client in self.clients.values():
                await nursery.start(client.run)
            task_status.started()

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
        return await self.clients[peer].call(request, timeout=timeout)

    def statistics(self) -> dict[str, Any]:
        return {str(i): s.statistics() for i, s in self.senders.items()}

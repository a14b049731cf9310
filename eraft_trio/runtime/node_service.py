"""NodeService: the transport handler of a node, routing what arrives to Raft or the role."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import trio

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.node import (
    Drain,
    MemberChange,
    MemberList,
    SnapshotChunk,
    StatusRequest,
    TransferLeadership,
)
from eraft_trio.protocol.replies import DONE, Drained
from eraft_trio.raft.types import MESSAGE_TYPES
from eraft_trio.runtime.membership_service import member_change, member_list
from eraft_trio.runtime.raft_node import RaftNode
from eraft_trio.transport.handshake import PeerInfo
from eraft_trio.transport.server import Answer

log = logging.getLogger(__name__)


class RoleHandler(Protocol):
    async def handle(self, peer: PeerInfo, body: Any) -> Any:
        """Answer a client request of this role."""
        ...

    def statistics(self) -> dict[str, Any]: ...


class NodeService:
    def __init__(self, node: RaftNode, role: RoleHandler, *, group: int, extra_stats: Any = None):
        self.node = node
        self.role = role
        self.group = group
        self.extra_stats = extra_stats
        self.rejected_pushes = 0
        self.latency: dict[str, list[Any]] = {}

    def _is_member(self, peer: PeerInfo, src: int) -> bool:
        # Raft messages only from members of our own group, naming themselves truthfully.
        return (
            peer.node is not None
            and peer.group == self.group
            and peer.node == src
            and self.node.knows(src)
        )

    def on_push(self, peer: PeerInfo, body: Any) -> None:
        if isinstance(body, MESSAGE_TYPES) and self._is_member(peer, body.src):  # type: ignore[attr-defined]
            self.node.step(body)  # type: ignore[arg-type]
            return
        self.rejected_pushes += 1
        if self.rejected_pushes <= 10 or self.rejected_pushes % 1000 == 0:
            log.warning("dropped push %s from %s", type(body).__name__, peer.address)

    async def on_request(self, peer: PeerInfo, body: Any) -> Any:
        started = trio.current_time()
        try:
            return await self._answer(peer, body)
        finally:
            self._count(body, started)

    def start_request(self, peer: PeerInfo, body: Any, answer: Answer) -> bool:
        """The transport's fast path: the role's requests that only queue work (reads and
        writes of keys) start here, in the connection's reader, and answer when done."""
        start: Callable[[PeerInfo, Any, Answer], bool] | None = getattr(self.role, "start", None)
        if start is None:
            return False
        started = trio.current_time()

        def answered(value: Any, error: BaseException | None) -> None:
            self._count(body, started)
            answer(value, error)

        return start(peer, body, answered)

    def _count(self, body: Any, started: float) -> None:
        # count and total seconds per request type: enough for a Prometheus summary
        slot = self.latency.setdefault(type(body).__name__, [0, 0.0])
        slot[0] += 1
        slot[1] += trio.current_time() - started

    async def _answer(self, peer: PeerInfo, body: Any) -> Any:
        if isinstance(body, SnapshotChunk):
            if not self._is_member(peer, body.src):
                return ErrorReply(ErrorCode.NOT_A_MEMBER)
            return await self.node.receive_snapshot_chunk(body)
        if isinstance(body, StatusRequest):
            return self.statistics()
        if isinstance(body, TransferLeadership):
            try:
                self.node.transfer_leadership(body.target)
            except Exception as exc:
                return ErrorReply(ErrorCode.TRANSFER, str(exc))
            return DONE
        if isinstance(body, MemberList):
            return member_list(self.node, body)
        if isinstance(body, MemberChange):
            return await member_change(self.node, body)
        if isinstance(body, Drain):
            self.node.set_drained(bool(body.drained))
            return Drained(self.node.core.drained, self.node.core.role.value)
        return await self.role.handle(peer, body)

    def statistics(self) -> dict[str, Any]:
        stats: dict[str, Any] = {
            "group": self.group,
            "raft": self.node.statistics(),
            "storage": self.node.store.statistics(),
            "role": self.role.statistics(),
            "request_latency": {
                op: {"count": count, "sum_s": total}
                for op, (count, total) in sorted(self.latency.items())
            },
        }
        if self.extra_stats is not None:
            stats.update(self.extra_stats())
        return stats

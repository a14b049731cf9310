"""The leader's side of a watch: one long poll, answered at once when there is something
to say, else held until a commit brings a matching change or the wait is over.

The first read is linearizable (ReadIndex), so a watch never starts behind a write the
client already saw acknowledged. While it waits it is woken by each apply batch
(RaftNode.wait_applied), not by a timer, and looks again in this node's applied state:
everything there is committed, so what it finds is true, and the read barrier already
proved this node current. A node that loses leadership while a watch waits answers
what it has (nothing); the client's next poll finds the new leader.
"""

from __future__ import annotations

from typing import Any

import trio

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.watch import WatchPage, WatchRequest
from eraft_trio.roles.shard import replies, watch_reads
from eraft_trio.runtime.errors import NotLeaderError
from eraft_trio.runtime.raft_node import RaftNode

MAX_WAIT_MS = 30_000  # the longest a request is held open, whatever it asks
MAX_EVENTS = 10_000  # per page, whatever it asks
MAX_BYTES = 4 << 20
MAX_POSITIONS = 1 << 16  # buckets one request may name
MAX_OPEN = 1024  # watches held open at once by one node; more are answered busy


class WatchServer:
    def __init__(self, node: RaftNode) -> None:
        self.node = node
        self.open = 0
        self.served = 0

    async def serve(self, request: WatchRequest) -> WatchPage | ErrorReply:
        problem = _problem(request)
        if problem is not None:
            return ErrorReply(ErrorCode.BAD_REQUEST, f"bad watch request: {problem}")
        if not self.node.is_leader:
            raise NotLeaderError(self.node.leader_address)
        if self.open >= MAX_OPEN:
            return ErrorReply(ErrorCode.BUSY, f"{MAX_OPEN} watches open at this node already")
        self.open += 1
        self.served += 1
        try:
            return await self._serve(request)
        finally:
            self.open -= 1

    async def _serve(self, request: WatchRequest) -> WatchPage | ErrorReply:
        deadline = trio.current_time() + min(request.max_wait_ms, MAX_WAIT_MS) / 1000
        limits = (min(request.max_events, MAX_EVENTS), min(request.max_bytes, MAX_BYTES))
        positions = [list(position) for position in request.positions]
        query = ("watch", positions, request.key, request.prefix, *limits)
        result = await self.node.read(query)
        # A bucket asked "from now" (revision 0) is answered at once with its revision,
        # so the client knows where its watch starts.
        from_now = any(start == 0 for _, start in positions)
        while True:
            refused = replies.error_of(result)
            if refused is not None:
                return refused
            if from_now or _worth_answering(result) or trio.current_time() >= deadline:
                break
            with trio.move_on_at(deadline):
                await self.node.wait_applied()
            if not self.node.is_leader:
                break  # answer what we have; the client's next poll finds the leader
            # Ask again from where the last look ended (non-matching changes skipped).
            positions = [[bucket, start] for bucket, _, start, _ in result["buckets"]]
            query = ("watch", positions, request.key, request.prefix, *limits)
            result = self.node.read_local(query)
        return WatchPage(result["num"], result["buckets"])


def _worth_answering(result: dict[str, Any]) -> bool:
    return any(status != watch_reads.OK or events for _, status, _, events in result["buckets"])


def _problem(request: WatchRequest) -> str | None:
    if not isinstance(request.positions, list) or not request.positions:
        return "positions must be a non-empty list of [bucket, revision]"
    if len(request.positions) > MAX_POSITIONS:
        return f"at most {MAX_POSITIONS} buckets per request"
    for value in (request.max_events, request.max_bytes, request.max_wait_ms):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return "max_events, max_bytes and max_wait_ms must be integers >= 0"
    if request.max_events == 0 or request.max_bytes == 0:
        return "max_events and max_bytes must be positive"
    return None

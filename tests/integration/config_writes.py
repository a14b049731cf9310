"""Acknowledged config writes for tests: Joins sent to the leader, retried exactly-once by session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trio

from eraft_trio.protocol.config import ConfigChange, ConfigQuery, Join
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.replies import ConfigChanged, ConfigView
from eraft_trio.transport.errors import TransportError

from .cluster import ProcessGroup

RETRY_PAUSE = 0.05
CALL_TIMEOUT = 3.0
# Answers after which the same request may simply be sent again (to the same or another node).
RETRIABLE = frozenset({ErrorCode.NOT_LEADER, ErrorCode.RETRY})


@dataclass(frozen=True)
class Ack:
    """A join the config group acknowledged: group `gid` is in config `num` and after."""

    gid: int
    num: int


def fake_address(gid: int) -> str:
    """A distinct address per gid (the config role refuses one address in two groups);
    nothing listens there: these tests only exercise the config group."""
    return f"127.0.0.2:{10000 + gid}"


class ConfigWriter:
    """One client session (`client_id`, seq 1, 2, ...) writing to a config ProcessGroup.

    Each call retries with the same seq until the leader acknowledges it, across leader
    changes and lost connections: the session table makes the retries exactly-once, so
    an Ack means that join was applied once and fsynced on a majority.
    """

    def __init__(self, group: ProcessGroup, client_id: int) -> None:
        self.group = group
        self.client_id = client_id
        self.seq = 0
        self.leader = 0  # a guess, corrected by not_leader answers
        self.retries = 0

    async def join(self, gid: int, *, timeout: float = 30.0) -> Ack:
        self.seq += 1
        command = Join({gid: (fake_address(gid),)})
        reply = await self.call_leader(
            ConfigChange(self.client_id, self.seq, command), timeout=timeout
        )
        if type(reply) is not ConfigChanged:
            raise AssertionError(f"join of {gid} refused: {reply}")
        return Ack(gid, reply.num)

    async def query(self, num: int = -1, *, timeout: float = 30.0) -> dict[str, Any]:
        """Config `num` (-1: the latest) as a linearizable read on the leader."""
        reply = await self.call_leader(ConfigQuery(num), timeout=timeout)
        if type(reply) is not ConfigView:
            raise AssertionError(f"query of config {num} failed: {reply}")
        return reply.to_json()

    async def call_leader(self, body: Any, *, timeout: float) -> Any:
        """The first answer that is not a redirect or a retry; reads and session writes are
        safe to repeat, which is what makes resending after an unknown outcome correct."""
        with trio.fail_after(timeout):
            while True:
                try:
                    reply = await self.group.call(self.leader, body, timeout=CALL_TIMEOUT)
                except TransportError:
                    reply = None  # unreachable: try the next node
                if reply is not None and type(reply) is not ErrorReply:
                    return reply
                if reply is not None and reply.code not in RETRIABLE:
                    raise AssertionError(f"{type(body).__name__} failed: {reply}")
                self.retries += 1
                self._follow(reply)
                await trio.sleep(RETRY_PAUSE)

    def _follow(self, reply: ErrorReply | None) -> None:
        hinted = None if reply is None else self.group.node_of(reply.leader)
        if hinted is not None:
            self.leader = hinted
        elif reply is None or reply.code == "not_leader":
            # No hint (an election is on) or the node is down: try the next one.
            self.leader = (self.leader + 1) % self.group.size

"""GroupCaller: call the leader of one Raft group, following redirects and failing over."""

from __future__ import annotations

from typing import Any

from eraft_trio.errors import EraftError, ServerError
from eraft_trio.group_calls.deadline import Deadline
from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.transport.errors import ConnectFailed, TransportError


class GroupUnreachable(EraftError):
    """No member of the group accepted a connection (raised only when asked for)."""


class GroupCaller:
    """Remembers which member led last time; on not_leader follows the hint, on retry,
    not_ready or a transport failure backs off and tries the next member."""

    def __init__(self, pool: ConnectionPool, addresses: tuple[str, ...]) -> None:
        self.pool = pool
        self.addresses = tuple(addresses)
        self.leader: str | None = None
        self._next = 0

    def _pick(self) -> str:
        if self.leader is not None:
            return self.leader
        addr = self.addresses[self._next % len(self.addresses)]
        self._next += 1
        return addr

    async def call(self, body: Any, deadline: Deadline, *, raise_unreachable: bool = False) -> Any:
        """The leader's reply, which may still be an ErrorReply (not one retried here).

        With `raise_unreachable`, a round in which no member accepted a connection raises
        GroupUnreachable instead of backing off, so a caller whose routing may be stale
        (the group left and was stopped) can look again before trying once more.
        """
        unreachable = 0
        while True:
            addr = self._pick()
            try:
                reply = await self.pool.call(addr, body, deadline.try_timeout())
            except ConnectFailed as exc:
                self.leader = None
                unreachable += 1
                if unreachable % len(self.addresses) == 0:
                    if raise_unreachable:
                        raise GroupUnreachable(f"no member of {self.addresses} answers") from exc
                    await deadline.backoff(f"{addr}: {exc}")
                continue
            except TransportError as exc:
                self.leader = None
                await deadline.backoff(f"{addr}: {exc}")
                continue
            if type(reply) is ErrorReply:
                code = reply.code
                if code is ErrorCode.NOT_LEADER:
                    # Follow the hint even when it is not among the addresses we were given
                    # (`-s` may name one follower only): it comes from a member of the group.
                    self.leader = reply.leader or None
                    if self.leader is None or self.leader == addr:
                        self.leader = None
                        await deadline.backoff(f"{addr}: no leader")
                    continue
                if code is ErrorCode.RETRY or code is ErrorCode.NOT_READY:
                    await deadline.backoff(f"{addr}: {code}")
                    continue
                if code is ErrorCode.INTERNAL:
                    raise ServerError(f"{addr}: {reply.message}")
            self.leader = addr
            return reply

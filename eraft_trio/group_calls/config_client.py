"""ConfigClient: queries and exactly-once join / leave / move against the config group."""

from __future__ import annotations

import random
from typing import Any

import trio

from eraft_trio.errors import BadRequest
from eraft_trio.group_calls.deadline import Deadline
from eraft_trio.group_calls.group_caller import GroupCaller
from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.config import ConfigChange, ConfigCommand, ConfigQuery, Join, Leave, Move
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.replies import ConfigChanged, ConfigView


class ConfigClient:
    def __init__(self, pool: ConnectionPool, servers: tuple[str, ...], timeout: float) -> None:
        self.group = GroupCaller(pool, servers)
        self.timeout = timeout
        self.client_id = random.getrandbits(62)
        self._seq = 0
        self._lock = trio.Lock()  # one change in flight per session (exactly-once)

    async def query(self, num: int = -1) -> dict[str, Any]:
        """Config `num` (-1: latest) as {"num", "buckets", "groups"}."""
        reply = await self.group.call(ConfigQuery(num), Deadline(self.timeout))
        return _config_or_raise(reply)

    async def next_config(self, num: int) -> dict[str, Any] | None:
        """The config after `num`, or None when `num` is the latest."""
        reply = await self.group.call(ConfigQuery(num, after=True), Deadline(self.timeout))
        if type(reply) is ErrorReply and reply.code is ErrorCode.NO_SUCH_CONFIG:
            return None
        return _config_or_raise(reply)

    async def join(
        self, groups: dict[int, tuple[str, ...]], rebalance: bool = True, *, rejoin: bool = False
    ) -> int:
        """A new config with `groups` added. A gid any earlier config held is refused
        (`gid_used`) unless `rejoin`: only for the same group whose nodes kept their data."""
        return await self._change(Join(groups, rebalance, rejoin))

    async def leave(self, gids: tuple[int, ...]) -> int:
        return await self._change(Leave(gids))

    async def move(self, buckets: tuple[int, ...], gid: int) -> int:
        return await self._change(Move(buckets, gid))

    async def _change(self, command: ConfigCommand) -> int:
        """Apply a change exactly once (retries reuse the seq); returns the new config num."""
        async with self._lock:
            self._seq += 1
            body = ConfigChange(self.client_id, self._seq, command)
            reply = await self.group.call(body, Deadline(self.timeout))
        if type(reply) is ConfigChanged:
            return reply.num
        raise _refusal(reply)


def _config_or_raise(reply: Any) -> dict[str, Any]:
    """The config a ConfigView holds, in the contract's `query --json` shape."""
    if type(reply) is ConfigView:
        return reply.to_json()
    raise _refusal(reply)


def _refusal(reply: Any) -> BadRequest:
    if type(reply) is ErrorReply:
        return BadRequest(reply.code, reply.message)
    return BadRequest("bad_reply", f"the config group answered {reply!r}")

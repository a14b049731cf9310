"""The config role's server: turns client requests into proposals and ReadIndex reads."""

from __future__ import annotations

import contextlib
from typing import Any

from eraft_trio.protocol.config import ConfigChange, ConfigQuery
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.roles.config import replies
from eraft_trio.roles.config.commands import SessionCommand, encode_command
from eraft_trio.runtime.errors import RuntimeErrorBase, error_reply
from eraft_trio.runtime.raft_node import RaftNode
from eraft_trio.transport.handshake import PeerInfo


class ConfigRoleServer:
    def __init__(self, node: RaftNode) -> None:
        self.node = node
        self._stats = {"changes": 0, "queries": 0}

    async def handle(self, peer: PeerInfo, body: Any) -> Any:
        try:
            if isinstance(body, ConfigChange):
                self._stats["changes"] += 1
                try:
                    entry = encode_command(SessionCommand(body.client_id, body.seq, body.command))
                except (TypeError, ValueError, OverflowError) as exc:
                    return ErrorReply(ErrorCode.BAD_COMMAND, f"cannot log {body!r}: {exc}")
                return replies.to_config_changed(await self.node.propose(entry))
            if isinstance(body, ConfigQuery):
                self._stats["queries"] += 1
                query = ("next", body.num) if body.after else ("query", body.num)
                return replies.to_config_view(await self.node.read(query))
        except RuntimeErrorBase as exc:
            return error_reply(exc)
        return ErrorReply(
            ErrorCode.BAD_REQUEST, f"the config role does not serve {type(body).__name__}"
        )

    def statistics(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"role": "config", **self._stats}
        # Status must render even when the tables are mid-restore.
        with contextlib.suppress(Exception):
            stats["config"] = self.node.read_local(("query", -1))
        return stats

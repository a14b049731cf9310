"""Errors the node runtime raises to the role servers above it."""

from __future__ import annotations

from eraft_trio.protocol.errors import ErrorCode, ErrorReply


class RuntimeErrorBase(Exception):
    """Base of the runtime's errors; role servers turn them into error replies."""

    code = ErrorCode.INTERNAL


class NotLeaderError(RuntimeErrorBase):
    """This node does not lead its group; `leader` is the leader's address when known."""

    code = ErrorCode.NOT_LEADER

    def __init__(self, leader: str | None) -> None:
        super().__init__(f"not leader (leader: {leader or 'unknown'})")
        self.leader = leader


class ProposalDropped(RuntimeErrorBase):
    """Leadership changed before the proposal committed: its outcome is unknown.

    Retrying with the same session sequence number is safe (exactly-once).
    """

    code = ErrorCode.RETRY


def error_reply(exc: Exception) -> ErrorReply:
    """The reply a role server sends for a runtime error (clients act on its code)."""
    if isinstance(exc, NotLeaderError):
        return ErrorReply(ErrorCode.NOT_LEADER, str(exc), leader=exc.leader)
    if isinstance(exc, ProposalDropped):
        return ErrorReply(ErrorCode.RETRY, str(exc))
    return ErrorReply(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")

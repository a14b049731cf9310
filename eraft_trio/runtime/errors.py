"""Errors the node runtime raises to the role servers above it."""

from __future__ import annotations


class RuntimeErrorBase(Exception):
    """Base of the runtime's errors; role servers turn them into error replies."""

    code = "internal"


class NotLeaderError(RuntimeErrorBase):
    """This node does not lead its group; `leader` is the leader's address when known."""

    code = "not_leader"

    def __init__(self, leader: str | None) -> None:
        super().__init__(f"not leader (leader: {leader or 'unknown'})")
        self.leader = leader


class ProposalDropped(RuntimeErrorBase):
    """Leadership changed before the proposal committed: its outcome is unknown.

    Retrying with the same session sequence number is safe (exactly-once).
    """

    code = "retry"


def error_reply(exc: Exception) -> dict[str, object]:
    """The reply a role server sends for a runtime error (clients act on `err`)."""
    if isinstance(exc, NotLeaderError):
        return {"err": "not_leader", "leader": exc.leader}
    if isinstance(exc, ProposalDropped):
        return {"err": "retry", "message": str(exc)}
    return {"err": "internal", "message": f"{type(exc).__name__}: {exc}"}

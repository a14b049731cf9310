"""Errors the Raft core raises to its driver."""

from __future__ import annotations


class RaftError(Exception):
    """Base of the core's errors."""


class NotLeader(RaftError):
    """This node cannot take the request: it is not leader, or is handing leadership off.

    `leader` is the node this one believes leads, when known, so callers can redirect.
    """

    def __init__(self, leader: int | None) -> None:
        super().__init__(f"not leader (leader is {leader})")
        self.leader = leader

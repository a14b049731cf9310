"""Client requests of the config role (type ids 72-79); answers are in replies.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Join:
    """Add groups (gid -> addresses); rebalance the buckets unless `rebalance` is False.

    A gid that an earlier config held is refused (roles/config/transitions.py), unless
    `rejoin` says the caller brings back that same group, its nodes still holding their
    data (undoing a leave of machines that kept running): that group walked every config
    since and knows what it handed off. Never set it for new machines under an old gid.
    """

    groups: dict[int, tuple[str, ...]]
    rebalance: bool = True
    rejoin: bool = False


@dataclass(frozen=True, slots=True)
class Leave:
    """Remove groups; their buckets spread evenly over the groups that remain."""

    gids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Move:
    """Give `buckets` to group `gid`."""

    buckets: tuple[int, ...]
    gid: int


ConfigCommand = Join | Leave | Move


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """A join / leave / move, exactly once: a retry carries the same client id and seq.
    The config role writes it to its log in its own encoding (roles/config/commands.py)."""

    client_id: int
    seq: int
    command: Join | Leave | Move


@dataclass(frozen=True, slots=True)
class ConfigQuery:
    """Config `num` (-1: latest); with `after`, the config that follows `num` instead."""

    num: int
    after: bool = False

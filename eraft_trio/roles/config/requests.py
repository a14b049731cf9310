"""Client requests of the config role, as registered wire types (codec ids 72-79)."""

from __future__ import annotations

from dataclasses import dataclass

from eraft_trio.transport.codec import register


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """A join / leave / move: `command` is an encoded SessionCommand (commands.py)."""

    command: bytes


@dataclass(frozen=True, slots=True)
class ConfigQuery:
    """Config `num` (-1: latest); with `after`, the config that follows `num` instead."""

    num: int
    after: bool = False


register(72, ConfigChange)
register(73, ConfigQuery)

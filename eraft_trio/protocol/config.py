"""Client requests of the config role, as registered wire types (codec ids 72-79)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """A join / leave / move: `command` is an encoded SessionCommand (commands.py)."""

    command: bytes


@dataclass(frozen=True, slots=True)
class ConfigQuery:
    """Config `num` (-1: latest); with `after`, the config that follows `num` instead."""

    num: int
    after: bool = False

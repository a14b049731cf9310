"""The config's JSON form (`eraft ctl query --json`, docs/reference.md), checked on the way in.

One parser for both roles: the config role reads it back in its tests and tools, the
shard role takes its copy of every config from it (roles/shard/placement.py), so
neither depends on the other's code and both refuse the same malformed configs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KEYS = frozenset({"num", "buckets", "groups"})


def parse_config_json(
    data: Any, *, exact: bool = True
) -> tuple[int, tuple[int, ...], dict[int, tuple[str, ...]]]:
    """(num, buckets, groups) of a config's JSON form; ValueError naming what is wrong.

    `exact`: refuse keys other than num, buckets and groups. Groups keep the order given.
    """
    if not isinstance(data, Mapping) or not (set(data) == KEYS if exact else set(data) >= KEYS):
        only = "exactly" if exact else "at least"
        raise ValueError(f"a config is an object with {only} num, buckets and groups")
    num, buckets, groups = data["num"], data["buckets"], data["groups"]
    if not is_int(num) or num < 0:
        raise ValueError(f"config num must be a non-negative integer, not {num!r}")
    if not isinstance(buckets, list | tuple) or not all(
        is_int(gid) and gid >= 0 for gid in buckets
    ):
        raise ValueError("config buckets must be a list of non-negative gids")
    if not isinstance(groups, Mapping):
        raise ValueError("config groups must be an object of gid -> addresses")
    parsed: dict[int, tuple[str, ...]] = {}
    for key, addresses in groups.items():
        gid = gid_of(key)
        if not isinstance(addresses, list | tuple) or not all(
            isinstance(address, str) for address in addresses
        ):
            raise ValueError(f"config group {key} must list its addresses as strings")
        parsed[gid] = tuple(addresses)
    return num, tuple(buckets), parsed


def gid_of(key: Any) -> int:
    """A group key as a gid: JSON object keys are strings; msgpack may carry the integer."""
    if is_int(key):
        gid: int = key
    elif isinstance(key, str) and key.isascii() and key.isdecimal():
        gid = int(key)
    else:
        raise ValueError(f"config group key {key!r} is not a decimal gid")
    if gid <= 0:
        raise ValueError(f"config group key {key!r} is not a positive gid")
    return gid


def is_int(value: object) -> bool:
    # bool is an int subclass; a JSON `true` is never a gid or a number here.
    return isinstance(value, int) and not isinstance(value, bool)

"""The shard role's copy of one config: bucket owners and group addresses, from the JSON form.

The shard role depends only on the config's JSON form (`query --json` in the design),
never on the config role's code, so the two can change independently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

NO_GROUP = 0  # the gid of an unassigned bucket


@dataclass(frozen=True, slots=True)
class Placement:
    """Config `num`: `buckets[b]` is the gid owning bucket b; `groups` maps gid to addresses.

    Config 0 (the empty tuple of buckets) assigns nothing: every bucket's owner is gid 0.
    """

    num: int = 0
    buckets: tuple[int, ...] = ()
    groups: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def owner(self, bucket: int) -> int:
        return self.buckets[bucket] if bucket < len(self.buckets) else NO_GROUP

    def addresses(self, gid: int) -> list[str]:
        return list(self.groups.get(gid, ()))

    def to_json(self) -> dict[str, Any]:
        return {
            "num": self.num,
            "buckets": list(self.buckets),
            "groups": {str(gid): list(self.groups[gid]) for gid in sorted(self.groups)},
        }

    @classmethod
    def from_json(cls, data: Any) -> Placement:
        """Parse the JSON form; ValueError naming what is wrong."""
        if not isinstance(data, Mapping) or not {"num", "buckets", "groups"} <= set(data):
            raise ValueError("a config is an object with num, buckets and groups")
        num, buckets, groups = data["num"], data["buckets"], data["groups"]
        if not _is_int(num) or num < 0:
            raise ValueError(f"config num must be a non-negative integer, not {num!r}")
        if not isinstance(buckets, list | tuple) or not all(
            _is_int(gid) and gid >= 0 for gid in buckets
        ):
            raise ValueError("config buckets must be a list of non-negative gids")
        if not isinstance(groups, Mapping):
            raise ValueError("config groups must be an object of gid -> addresses")
        parsed: dict[int, tuple[str, ...]] = {}
        for key, addresses in groups.items():
            gid = _gid_of(key)
            if not isinstance(addresses, list | tuple) or not all(
                isinstance(address, str) for address in addresses
            ):
                raise ValueError(f"config group {key} must list its addresses as strings")
            parsed[gid] = tuple(addresses)
        return cls(num, tuple(buckets), {gid: parsed[gid] for gid in sorted(parsed)})

    def encode(self) -> bytes:
        """Deterministic bytes whatever order the groups were given in."""
        pairs = [[gid, list(self.groups[gid])] for gid in sorted(self.groups)]
        return msgpack.packb([self.num, list(self.buckets), pairs], use_bin_type=True)

    @classmethod
    def decode(cls, data: bytes) -> Placement:
        num, buckets, pairs = msgpack.unpackb(data, raw=False, use_list=True)
        return cls(num, tuple(buckets), {gid: tuple(addresses) for gid, addresses in pairs})


def _gid_of(key: Any) -> int:
    # JSON object keys are strings; msgpack may carry the integer itself.
    if _is_int(key):
        gid: int = key
    elif isinstance(key, str) and key.isascii() and key.isdecimal():
        gid = int(key)
    else:
        raise ValueError(f"config group key {key!r} is not a decimal gid")
    if gid <= NO_GROUP:
        raise ValueError(f"config group key {key!r} is not a positive gid")
    return gid


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

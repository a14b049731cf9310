"""The shard role's copy of one config: bucket owners and group addresses, from the JSON form.

The shard role depends only on the config's JSON form (`query --json`, docs/reference.md),
never on the config role's code, so the two can change independently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from eraft_trio.protocol.config_json import parse_config_json

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
        num, buckets, groups = parse_config_json(data, exact=False)
        return cls(num, buckets, {gid: groups[gid] for gid in sorted(groups)})

    def encode(self) -> bytes:
        """Deterministic bytes whatever order the groups were given in."""
        pairs = [[gid, list(self.groups[gid])] for gid in sorted(self.groups)]
        return msgpack.packb([self.num, list(self.buckets), pairs], use_bin_type=True)

    @classmethod
    def decode(cls, data: bytes) -> Placement:
        num, buckets, pairs = msgpack.unpackb(data, raw=False, use_list=True)
        return cls(num, tuple(buckets), {gid: tuple(addresses) for gid, addresses in pairs})

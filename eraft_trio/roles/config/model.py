"""One config of the chain: which group serves each bucket, and each group's addresses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from eraft_trio.protocol.config_json import parse_config_json

NO_GROUP = 0  # the gid of an unassigned bucket


@dataclass(frozen=True, slots=True)
class Config:
    """Config `num`: `buckets[b]` is the gid serving bucket b (0: none); `groups` maps gid to addresses.

    `groups` is normalised to ascending gid order, so that iterating it, encoding it and
    printing it give the same result on every replica whatever order it was built in.
    """

    num: int
    buckets: tuple[int, ...]
    groups: dict[int, tuple[str, ...]]

    def __post_init__(self) -> None:
        # Frozen: normalise through object.__setattr__, once, at construction.
        object.__setattr__(self, "buckets", tuple(self.buckets))
        object.__setattr__(
            self, "groups", {gid: tuple(self.groups[gid]) for gid in sorted(self.groups)}
        )

    @classmethod
    def initial(cls, bucket_count: int) -> Config:
        """Config 0: no groups, every bucket unassigned."""
        if bucket_count <= 0:
            raise ValueError(f"bucket count must be positive, not {bucket_count}")
        return cls(0, (NO_GROUP,) * bucket_count, {})

    def load(self) -> dict[int, int]:
        """Buckets served per group, every group of the config included (ascending gid)."""
        counts = dict.fromkeys(self.groups, 0)
        for gid in self.buckets:
            if gid in counts:
                counts[gid] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        """The contract's `query --json` shape: gids become decimal strings (JSON keys)."""
        return {
            "num": self.num,
            "buckets": list(self.buckets),
            "groups": {str(gid): list(addresses) for gid, addresses in self.groups.items()},
        }

    @classmethod
    def from_json(cls, data: Any) -> Config:
        """Inverse of `to_json`; raises ValueError naming what is wrong."""
        num, buckets, groups = parse_config_json(data)
        return cls(num, buckets, groups)

    def encode(self) -> bytes:
        """Deterministic msgpack bytes for the config table (groups as gid-sorted pairs)."""
        pairs = [[gid, list(addresses)] for gid, addresses in self.groups.items()]
        return msgpack.packb([self.num, list(self.buckets), pairs], use_bin_type=True)

    @classmethod
    def decode(cls, data: bytes) -> Config:
        num, buckets, pairs = msgpack.unpackb(data, raw=False, use_list=True)
        return cls(num, tuple(buckets), {gid: tuple(addresses) for gid, addresses in pairs})

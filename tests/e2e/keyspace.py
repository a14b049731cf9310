"""Test keys chosen by bucket (the contract's crc32 % buckets), and unique values to write."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from eraft_trio.protocol.keys import bucket_of


def keys_per_bucket(prefix: str, buckets: int, per_bucket: int = 1) -> dict[int, list[bytes]]:
    """`per_bucket` keys `prefix-N` in each of the `buckets` buckets, the first found."""
    found: dict[int, list[bytes]] = {b: [] for b in range(buckets)}
    numbers = itertools.count()
    while any(len(keys) < per_bucket for keys in found.values()):
        key = f"{prefix}-{next(numbers)}".encode()
        keys = found[bucket_of(key, buckets)]
        if len(keys) < per_bucket:
            keys.append(key)
    return found


def flat(by_bucket: dict[int, list[bytes]], buckets: Iterable[int] | None = None) -> list[bytes]:
    chosen = sorted(by_bucket) if buckets is None else sorted(buckets)
    return [key for b in chosen for key in by_bucket[b]]


def owned_by(config: dict[str, object], gid: int) -> set[int]:
    """The buckets `config` (query's JSON form) gives group `gid`."""
    owners = config["buckets"]
    assert isinstance(owners, list)
    return {b for b, owner in enumerate(owners) if owner == gid}

"""The bucket of a key: the one function the client and the shard role both use.

docs/reference.md, "The bucket of a key": `crc32(hashed) % buckets` (zlib.crc32,
unsigned), where `hashed` is the whole key unless the key holds a hash tag, as in Redis
Cluster: the bytes between its first `{` and the first `}` after it, when there is at
least one byte between them. `user{42}:name` and `user{42}:email` hash `42`, so they
share a bucket and one transaction may write both; `{}x` and `x{` hash the whole key.
"""

from __future__ import annotations

import zlib


def hash_tag(key: bytes) -> bytes:
    """The part of `key` its bucket is computed from (the whole key when it has no tag)."""
    start = key.find(b"{")
    if start < 0:
        return key
    end = key.find(b"}", start + 1)
    if end <= start + 1:  # no closing brace, or an empty tag
        return key
    return key[start + 1 : end]


def bucket_of(key: bytes, nbuckets: int) -> int:
    """The contract's bucket of a key: zlib.crc32 (unsigned) of its hash tag, modulo `nbuckets`."""
    return zlib.crc32(hash_tag(key)) % nbuckets

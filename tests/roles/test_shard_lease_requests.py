"""Lease requests the shard leader refuses before proposing them, and results turned into
replies (roles/shard/lease_server.py; issue 16)."""

from __future__ import annotations

from eraft_trio.protocol.errors import ErrorCode
from eraft_trio.protocol.lease import KvPutLeased
from eraft_trio.roles.shard.lease_server import lease_refusal

MAX_VALUE = 1 << 20


def test_a_leased_put_of_the_empty_key_is_refused() -> None:
    refusal = lease_refusal(KvPutLeased(1, 1, b"", b"v", 1 << 40 | 1), MAX_VALUE)
    assert refusal is not None and refusal.code == ErrorCode.BAD_REQUEST
    assert lease_refusal(KvPutLeased(1, 1, b"k", b"v", 1 << 40 | 1), MAX_VALUE) is None

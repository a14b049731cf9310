"""The lease table's rows: a key row can never collide with a header or outgrow LMDB's
key limit, and a key no lease may hold is refused in apply (issue 16, findings 1 and 2)."""

from __future__ import annotations

import pytest
from roles.test_shard_leases import NBUCKETS, T0, TTL, Clerk, get, serving_group

from eraft_trio.protocol.limits import MAX_KEY_BYTES
from eraft_trio.roles.shard import lease_tables
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.lease_commands import ExpireLeases, KeepAliveLease
from eraft_trio.storage.view import MemoryView


def test_an_empty_key_row_never_overwrites_the_lease_header() -> None:
    view = MemoryView()
    lease_id = 1 << 40 | 1
    lease_tables.store(view, lease_id, lease_tables.Lease(TTL, T0 + TTL, 1), None)
    lease_tables.attach(view, lease_id, b"")
    assert lease_tables.load(view, lease_id) == lease_tables.Lease(TTL, T0 + TTL, 1)
    assert list(lease_tables.key_rows(view, lease_id)) == [b""]
    assert lease_tables.holder(view, 1, b"") == lease_id


def test_every_lease_row_fits_lmdb_for_the_longest_key() -> None:
    view = MemoryView()
    lease_id = 1 << 40 | 1
    lease_tables.attach(view, lease_id, b"k" * MAX_KEY_BYTES)
    longest_row = max(len(row) for row in view.tables[lease_tables.LEASES])
    assert len(b"lease\x00") + longest_row <= 511


def test_a_lease_put_with_an_empty_key_is_refused_and_the_lease_lives_on() -> None:
    _, group = serving_group()
    clerk = Clerk(group)
    lease = clerk.grant(b"", T0)["lease"]
    refused = clerk.put(b"", b"v", lease, T0)
    assert refused["err"] == "bad_request"
    assert get(group, b"") is None
    assert group.propose(KeepAliveLease(lease, T0 + 10))["ok"]
    assert group.propose(ExpireLeases(T0 + 10 * TTL))["expired"] == 1
    assert group.replicas[0].tables == group.replicas[1].tables == group.replicas[2].tables


def test_a_transferred_row_must_be_one_the_lease_tables_write() -> None:
    bucket, lease_id = 2, 2 << 40 | 1
    view = MemoryView()
    lease_tables.attach(view, lease_id, b"k")
    (holder_row, held_by), (key_row, key) = sorted(view.tables[lease_tables.LEASES].items())
    assert lease_tables.row_problem(bucket, holder_row, held_by) is None
    assert lease_tables.row_problem(bucket, key_row, key) is None
    assert lease_tables.row_problem(bucket, key_row, b"other") is not None
    assert lease_tables.row_problem(bucket, key_row[:8] + b"k", key) is not None
    assert lease_tables.row_problem(bucket, key_row, b"k" * (MAX_KEY_BYTES + 1)) is not None
    assert lease_tables.row_problem(bucket, holder_row, (3 << 40 | 1).to_bytes(8, "big"))
    assert lease_tables.row_problem(bucket, holder_row, b"\x00" * 8) is not None


def test_a_grant_in_a_bucket_past_the_lease_id_range_is_refused_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lease id has 24 bits of bucket: a bigger bucket must refuse the entry, never
    raise while applying it (a committed entry must not raise in apply). The range is
    made small here: a config of 2**24 buckets would not fit a test."""
    _, group = serving_group()
    monkeypatch.setattr(lease_tables, "MAX_LEASE_BUCKET", 0)
    key = next(b"k%d" % n for n in range(100) if bucket_of(b"k%d" % n, NBUCKETS) > 0)
    assert Clerk(group).grant(key, T0)["err"] == "bad_request"

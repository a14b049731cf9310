"""Leases across a bucket move: which keys a lease holds is the keys' own state, and a
moved lease gets a TTL on the new group's clock when its bucket is served there
(issue 16, findings 4 and 5)."""

from __future__ import annotations

from roles.memory_cluster import MemoryCluster
from roles.test_shard_leases import NBUCKETS, T0, TTL, Clerk, get

from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.lease_commands import ExpireLeases

KEY = b"lock{a}:x"


def moved_cluster() -> tuple[MemoryCluster, list[int]]:
    cluster = MemoryCluster(NBUCKETS, [1, 2])
    owners = [1] * NBUCKETS
    cluster.add_config(owners)
    cluster.settle()
    owners[bucket_of(KEY, NBUCKETS)] = 2
    return cluster, owners


def test_a_key_detached_and_written_again_after_a_move_outlives_the_lease() -> None:
    """The plain put at the new group lands on the very revision number the leased put
    had at the old one (revisions are per group); the lease's expiry must not take it."""
    cluster, owners = moved_cluster()
    old, new = cluster.groups[1], cluster.groups[2]
    clerk = Clerk(old)
    for n in range(30):  # the old group's log runs ahead of the new one's
        clerk.plain_put(b"pad{zz}%d" % n, b"p", T0)
    lease = clerk.grant(KEY, T0)["lease"]
    attached_at = clerk.put(KEY, b"holder", lease, T0)["revision"]
    cluster.add_config(owners)
    cluster.settle()
    new_clerk = Clerk(new, 9)
    while len(new.log) + 1 < attached_at:
        new_clerk.plain_put(b"other{a}%d" % len(new.log), b"o", T0 + 1)
    new_clerk.plain_put(KEY, b"plain", T0 + 2)  # at revision attached_at on main
    assert new.propose(ExpireLeases(T0 + 100 * TTL))["expired"] == 1
    assert get(new, KEY) == b"plain"


def test_a_key_written_again_without_the_lease_is_detached_in_place() -> None:
    cluster, _ = moved_cluster()
    group = cluster.groups[1]
    clerk = Clerk(group)
    lease = clerk.grant(KEY, T0)["lease"]
    assert clerk.put(KEY, b"holder", lease, T0)["ok"]
    assert clerk.put(b"lock{a}:y", b"held", lease, T0)["ok"]
    assert clerk.plain_put(KEY, b"plain", T0)["ok"]
    assert clerk.revoke(lease, T0)["deleted"] == 1
    assert get(group, KEY) == b"plain"
    assert get(group, b"lock{a}:y") is None

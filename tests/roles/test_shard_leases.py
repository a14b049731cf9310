"""Leases in the pure shard state machine: grant, attach, keep-alive, expiry deleting keys
alike on every replica, revoke, a new leader's promotion, exactly-once, and transfer."""

from __future__ import annotations

from typing import Any

from roles.memory_cluster import MemoryCluster, MemoryGroup

from eraft_trio.roles.shard import lease_tables
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import Put, decode_command, encode_command
from eraft_trio.roles.shard.lease_commands import (
    ExpireLeases,
    GrantLease,
    KeepAliveLease,
    LeasePut,
    PromoteLeases,
    RevokeLease,
)

NBUCKETS = 4
TTL = 5000
T0 = 1_000_000  # the leader's clock at the first stamp, ms


def serving_group(replicas: int = 3) -> tuple[MemoryCluster, MemoryGroup]:
    cluster = MemoryCluster(NBUCKETS, [1, 2], replicas=replicas)
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    return cluster, cluster.groups[1]


class Clerk:
    """One client id against one group, stamping every request with a clock it is given."""

    def __init__(self, group: MemoryGroup, client_id: int = 7) -> None:
        self.group, self.client_id, self.seq = group, client_id, 0

    def grant(self, key: bytes, now: int, ttl: int = TTL) -> Any:
        self.seq += 1
        return self.group.propose(GrantLease(self.client_id, self.seq, key, ttl, now, True))

    def put(self, key: bytes, value: bytes, lease: int, now: int, condition: Any = None) -> Any:
        self.seq += 1
        return self.group.propose(
            LeasePut(self.client_id, self.seq, key, value, lease, now, True, condition)
        )

    def plain_put(self, key: bytes, value: bytes, now: int) -> Any:
        self.seq += 1
        return self.group.propose(Put(self.client_id, self.seq, key, value, now, True))

    def revoke(self, lease: int, now: int) -> Any:
        self.seq += 1
        return self.group.propose(RevokeLease(self.client_id, self.seq, lease, now, True))


def get(group: MemoryGroup, key: bytes) -> bytes | None:
    value: bytes | None = group.read(("get", key))["value"]
    return value


def tagged(n: int) -> bytes:
    return b"lock{a}:%d" % n


def test_the_codec_round_trips_every_lease_command() -> None:
    commands = [
        GrantLease(1, 2, b"k", 3000, 5, True),
        GrantLease(2**64 - 1, 1, b"", 1000, 0, None),
        KeepAliveLease(2**45 + 3, 9),
        RevokeLease(1, 3, 17, 10, False),
        LeasePut(1, 4, b"k", b"v", 17, 11, True, None),
        LeasePut(1, 4, b"k", b"v", 17, 11, True, 0),
        LeasePut(1, 4, b"k", b"v", 17, 11, None, b"old"),
        ExpireLeases(12),
        PromoteLeases(13),
    ]
    for command in commands:
        assert decode_command(encode_command(command)) == command


def test_a_lease_id_names_the_bucket_of_its_key() -> None:
    _, group = serving_group()
    clerk = Clerk(group)
    first = clerk.grant(tagged(1), T0)
    second = clerk.grant(tagged(2), T0)
    bucket = bucket_of(tagged(1), NBUCKETS)
    assert first == {"ok": True, "lease": (bucket << 40) | 1, "ttl_ms": TTL, "revision": 2}
    assert second["lease"] == (bucket << 40) | 2


def test_keys_of_an_expired_lease_go_at_one_entry_on_every_replica() -> None:
    _, group = serving_group()
    clerk = Clerk(group)
    lease = clerk.grant(tagged(0), T0)["lease"]
    for n in range(3):
        assert clerk.put(tagged(n), b"v", lease, T0 + n)["ok"]
    assert clerk.plain_put(b"lock{a}:other", b"stays", T0)["ok"]
    keys_before = group.read(("status",))["buckets"][bucket_of(tagged(0), NBUCKETS)]["keys"]

    early = group.propose(ExpireLeases(T0 + TTL - 1))
    assert early == {"ok": True, "expired": 0, "deleted": 0, "more": False}
    assert get(group, tagged(0)) == b"v"
    index = len(group.log) + 1
    assert group.propose(ExpireLeases(T0 + TTL)) == {
        "ok": True,
        "expired": 1,
        "deleted": 3,
        "more": False,
    }
    for view in group.replicas:
        answer = group.machine.read(view, ("status",))
        assert answer["lease_expiry"] == {"index": index, "leases": 1, "keys": 3}
        bucket = [b for b in answer["buckets"] if b["bucket"] == bucket_of(tagged(0), NBUCKETS)]
        assert bucket[0]["keys"] == keys_before - 3
        for n in range(3):
            assert group.machine.read(view, ("get", tagged(n))) == {"value": None}
    assert group.replicas[0].tables == group.replicas[1].tables == group.replicas[2].tables
    assert get(group, b"lock{a}:other") == b"stays"
    assert group.read(("lease_clock",))["next_deadline_ms"] is None
    assert clerk.put(tagged(9), b"v", lease, T0 + TTL)["err"] == "lease_not_found"


def test_keep_alive_holds_a_lease_past_its_ttl() -> None:
    _, group = serving_group()
    clerk = Clerk(group)
    lease = clerk.grant(tagged(0), T0)["lease"]
    clerk.put(tagged(0), b"v", lease, T0)
    kept = group.propose(KeepAliveLease(lease, T0 + TTL - 1))
    assert kept == {"ok": True, "lease": lease, "ttl_ms": TTL}
    assert group.propose(ExpireLeases(T0 + TTL + 100))["expired"] == 0
    assert get(group, tagged(0)) == b"v"
    assert group.propose(ExpireLeases(T0 + 2 * TTL - 1))["expired"] == 1
    assert get(group, tagged(0)) is None
    gone = group.propose(KeepAliveLease(lease, T0 + 2 * TTL))
    assert gone["err"] == "lease_not_found"


def test_a_due_lease_cannot_be_kept_alive_or_used_even_before_its_expiry_entry() -> None:
    _, group = serving_group()
    clerk = Clerk(group)
    lease = clerk.grant(tagged(0), T0)["lease"]
    assert group.propose(KeepAliveLease(lease, T0 + TTL))["err"] == "lease_not_found"
    assert clerk.put(tagged(0), b"v", lease, T0 + TTL)["err"] == "lease_not_found"


def test_revoke_deletes_the_lease_and_its_keys_in_one_entry() -> None:
    _, group = serving_group()
    clerk = Clerk(group)
    lease = clerk.grant(tagged(0), T0)["lease"]
    for n in range(2):
        clerk.put(tagged(n), b"v", lease, T0)
    revoked = clerk.revoke(lease, T0 + 1)
    assert revoked == {"ok": True, "revision": len(group.log), "deleted": 2}
    assert get(group, tagged(0)) is None and get(group, tagged(1)) is None
    assert clerk.revoke(lease, T0 + 2)["err"] == "lease_not_found"
    assert group.read(("lease_clock",))["next_deadline_ms"] is None


def test_a_key_rewritten_without_the_lease_is_detached() -> None:
    """The lock recipe depends on it: a released lock key taken by the next holder must
    not be deleted when the first holder's lease ends."""
    _, group = serving_group()
    first, second = Clerk(group, 1), Clerk(group, 2)
    old = first.grant(tagged(0), T0)["lease"]
    first.put(tagged(0), b"first", old, T0)
    first.put(tagged(1), b"first", old, T0)
    new = second.grant(tagged(0), T0 + 10, ttl=10 * TTL)["lease"]
    second.put(tagged(0), b"second", new, T0 + 10)  # another lease
    first.plain_put(tagged(1), b"plain", T0 + 10)  # no lease
    assert first.revoke(old, T0 + 20)["deleted"] == 0
    assert get(group, tagged(0)) == b"second"
    assert get(group, tagged(1)) == b"plain"


def test_a_put_with_a_lease_of_another_bucket_or_unknown_is_refused() -> None:
    _, group = serving_group()
    clerk = Clerk(group)
    lease = clerk.grant(tagged(0), T0)["lease"]
    other = next(b"k%d" % n for n in range(100) if bucket_of(b"k%d" % n, NBUCKETS) != lease >> 40)
    refused = clerk.put(other, b"v", lease, T0)
    assert refused["err"] == "lease_bucket" and "hash tag" in refused["message"]
    unknown = clerk.put(tagged(0), b"v", lease + 1, T0)
    assert unknown["err"] == "lease_not_found"
    assert get(group, other) is None and get(group, tagged(0)) is None
    bad_ttl = clerk.grant(tagged(0), T0, ttl=10)
    assert bad_ttl["err"] == "bad_request"


def test_a_failed_compare_attaches_nothing() -> None:
    _, group = serving_group()
    clerk = Clerk(group)
    lease = clerk.grant(tagged(0), T0)["lease"]
    assert clerk.put(tagged(0), b"mine", lease, T0, condition=0)["succeeded"] is True
    failed = clerk.put(tagged(1), b"x", lease, T0, condition=3)
    assert failed["succeeded"] is False
    assert lease_tables.load(group.view, lease) == lease_tables.Lease(TTL, T0 + TTL, 1)


def test_grant_revoke_and_put_with_a_lease_are_exactly_once() -> None:
    _, group = serving_group()
    grant = GrantLease(7, 1, tagged(0), TTL, T0, True)
    first = group.propose(grant)
    assert group.propose(grant) == first  # the retry: the same lease, not a second one
    assert group.read(("lease_clock",))["next_deadline_ms"] == T0 + TTL
    lease = first["lease"]
    put = LeasePut(7, 2, tagged(0), b"v", lease, T0, False, 0)
    assert group.propose(put)["succeeded"] is True
    assert group.propose(put)["succeeded"] is True  # answered from the session
    revoke = RevokeLease(7, 3, lease, T0, False)
    assert group.propose(revoke)["deleted"] == 1
    assert group.propose(revoke)["deleted"] == 1


def test_a_lease_request_retried_without_a_session_is_refused_not_applied() -> None:
    _, group = serving_group()
    lease = Clerk(group).grant(tagged(0), T0)["lease"]
    # Client 8 never wrote to this bucket, so an unmarked request is a retry whose session
    # expired: it may have applied before, so it is refused rather than run again.
    revoke = group.propose(RevokeLease(8, 5, lease, T0, False))
    assert revoke["err"] == "session_expired"
    assert "the request is not applied now" in revoke["message"]
    grant = group.propose(GrantLease(8, 6, tagged(1), TTL, T0, False))
    assert grant["err"] == "session_expired"
    assert group.read(("lease_clock",))["next_deadline_ms"] == T0 + TTL  # still one lease
    assert Clerk(group, client_id=9).put(tagged(0), b"v", lease, T0)["ok"] is True  # not revoked


def test_a_promotion_extends_every_lease_before_any_expires() -> None:
    _, group = serving_group()
    clerk = Clerk(group)
    lease = clerk.grant(tagged(0), T0)["lease"]
    clerk.put(tagged(0), b"v", lease, T0)
    # The group had no leader for longer than the TTL; the new one promotes first.
    new_leader_now = T0 + 3 * TTL
    assert group.propose(PromoteLeases(new_leader_now)) == {
        "ok": True,
        "promoted_ms": new_leader_now,
    }
    assert group.propose(ExpireLeases(new_leader_now + 1))["expired"] == 0
    # Expiry met it in the index and wrote the promoted deadline.
    assert group.read(("lease_clock",))["next_deadline_ms"] == new_leader_now + TTL
    assert group.propose(KeepAliveLease(lease, new_leader_now + TTL - 1))["ok"]
    assert get(group, tagged(0)) == b"v"
    assert group.propose(ExpireLeases(new_leader_now + 3 * TTL))["expired"] == 1


def test_expiry_is_bounded_and_says_more() -> None:
    _, group = serving_group(replicas=1)
    clerk = Clerk(group)
    count = 150
    for n in range(count):
        clerk.grant(tagged(n), T0)
    first = group.propose(ExpireLeases(T0 + TTL))
    assert first == {"ok": True, "expired": 100, "deleted": 0, "more": True}
    assert group.propose(ExpireLeases(T0 + TTL)) == {
        "ok": True,
        "expired": 50,
        "deleted": 0,
        "more": False,
    }


def test_leases_move_with_their_bucket_and_drop_with_it() -> None:
    cluster, g1 = serving_group(replicas=2)
    clerk = Clerk(g1)
    lease = clerk.grant(tagged(0), T0)["lease"]
    clerk.put(tagged(0), b"v", lease, T0)
    clerk.put(tagged(1), b"v", lease, T0)
    bucket = lease >> 40
    owners = [1] * NBUCKETS
    owners[bucket] = 2
    cluster.add_config(owners)
    cluster.settle(max_bytes=40)  # small chunks: the lease rows span several
    g2 = cluster.groups[2]
    assert get(g2, tagged(0)) == b"v"
    # Dropped at the old owner with the bucket: no row of it remains there.
    for view in g1.replicas:
        assert not [r for r in view.tables.get("lease", {}) if r[:8] >= lease.to_bytes(8, "big")]
        assert view.tables.get("ldl", {}) == {}
    # The new owner's clock knows nothing yet: the lease arrived with its deadline.
    assert g2.read(("lease_clock",))["next_deadline_ms"] == T0 + TTL
    assert g2.propose(KeepAliveLease(lease, T0 + 10))["ok"]
    assert g2.propose(ExpireLeases(T0 + TTL + 20))["expired"] == 1
    assert get(g2, tagged(0)) is None and get(g2, tagged(1)) is None
    # The counter moved too: the next lease of the bucket does not reuse an id.
    assert Clerk(g2, 9).grant(tagged(5), T0 + TTL + 30)["lease"] == lease + 1


def test_a_handed_off_lease_does_not_expire_at_the_old_owner() -> None:
    cluster, g1 = serving_group(replicas=1)
    clerk = Clerk(g1)
    lease = clerk.grant(tagged(0), T0)["lease"]
    clerk.put(tagged(0), b"v", lease, T0)
    owners = [1] * NBUCKETS
    owners[lease >> 40] = 2
    cluster.add_config(owners)
    assert cluster.offer_next_config(1)["ok"]
    assert g1.read(("lease_clock",))["next_deadline_ms"] is None
    assert g1.propose(ExpireLeases(T0 + 10 * TTL))["expired"] == 0
    cluster.settle()
    assert get(cluster.groups[2], tagged(0)) == b"v"

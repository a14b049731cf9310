"""Leases across a bucket move: which keys a lease holds is the keys' own state, and a
moved lease gets a TTL on the new group's clock when its bucket is served there
(issue 16, findings 4 and 5)."""

from __future__ import annotations

from dataclasses import replace

import msgpack
from roles.memory_cluster import MemoryCluster
from roles.test_shard_leases import NBUCKETS, T0, TTL, Clerk, get
from roles.test_shard_limits import RecordingNode, shard_server

from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import InstallChunk, decode_command, encode_command
from eraft_trio.roles.shard.lease_commands import ExpireLeases, KeepAliveLease
from eraft_trio.roles.shard.pull_stream import PullProgress
from eraft_trio.roles.shard.server import ShardRoleServer

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


def move_stamped(cluster: MemoryCluster, owners: list[int], stamp_ms: int) -> None:
    """Move the bucket as the new owner's leader does: every chunk stamped with its clock."""
    cluster.add_config(owners)
    for gid in (1, 2):
        cluster.offer_next_config(gid)
    old, new = cluster.groups[1], cluster.groups[2]
    while pulls := new.read(("pulls",)):
        pull = pulls[0]
        chunk = old.read(("fetch", pull["num"], pull["bucket"], pull["cursor"], 64))
        install = replace(MemoryCluster.install_command(pull, chunk), stamp_ms=stamp_ms)
        assert new.propose(install)["applied"]
    cluster.settle()


def test_a_moved_lease_lives_a_ttl_from_the_install_on_a_stale_clock() -> None:
    """The new group's clock is 0 (it applied no stamped entry): the last chunk's stamp
    moves it, and the bucket's leases get a TTL from then (issue 16, finding 5)."""
    cluster, owners = moved_cluster()
    old, new = cluster.groups[1], cluster.groups[2]
    clerk = Clerk(old)
    lease = clerk.grant(KEY, T0)["lease"]
    clerk.put(KEY, b"me", lease, T0)
    assert old.propose(KeepAliveLease(lease, T0 + 3000))["ok"]  # deadline T0 + 8000
    assert new.read(("lease_clock",))["now_ms"] == 0
    move_stamped(cluster, owners, T0 + 4900)  # the move took the holder's 4.9 s
    assert new.read(("lease_clock",))["now_ms"] == T0 + 4900
    assert new.propose(ExpireLeases(T0 + 8001))["expired"] == 0
    assert get(new, KEY) == b"me"
    assert new.propose(KeepAliveLease(lease, T0 + 9000))["ok"]
    assert new.propose(ExpireLeases(T0 + 9000 + TTL))["expired"] == 1
    assert get(new, KEY) is None


def test_install_chunks_decode_with_and_without_a_stamp() -> None:
    rows = ((b"k", bytes(16) + b"v"),)
    for chunk in (
        InstallChunk(2, 1, None, rows, (), False),
        InstallChunk(2, 1, None, rows, (), True, ((bytes(8), bytes(8)),)),
        InstallChunk(2, 1, None, rows, (), True, (), stamp_ms=1234),
        InstallChunk(2, 1, b"kk", (), (), True, ((bytes(8), bytes(8)),), stamp_ms=1234),
    ):
        assert decode_command(encode_command(chunk)) == chunk
    assert len(msgpack.unpackb(encode_command(InstallChunk(2, 1, None, rows, (), False)))) == 7


def test_the_leader_stamps_every_install_chunk_with_its_clock() -> None:
    """The real puller's side of the stamp above: ShardRoleServer proposes each chunk
    with its wall clock in ms."""
    node = RecordingNode()
    role = shard_server(node).role
    server = ShardRoleServer(node, role, wall_clock=lambda: 1234.5)  # type: ignore[arg-type]
    chunk = InstallChunk(2, 1, None, (), (), True)
    server._begin_install(chunk, PullProgress(1, 2, 1, 0.0))
    installed = decode_command(node.proposed[-1])
    assert installed == InstallChunk(2, 1, None, (), (), True, stamp_ms=1_234_500)

"""Sessions with a lifetime, at the level of the pure shard state machine.

Time reaches the state machine only through log entries (leader stamps on writes,
ExpireSessions entries), so every replica must expire the same sessions at the same
index; a retried write whose session expired must be refused, never applied twice.
"""

from __future__ import annotations

import random

import pytest
from roles.memory_cluster import MemoryCluster, MemoryGroup

from eraft_trio.roles.shard import sessions, tables
from eraft_trio.roles.shard.buckets import bucket_of
from eraft_trio.roles.shard.commands import (
    Delete,
    ExpireSessions,
    InstallChunk,
    NewConfig,
    Put,
    ShardCommand,
    decode_command,
    encode_command,
)
from eraft_trio.roles.shard.sessions import EXPIRE_BATCH
from eraft_trio.roles.shard.tables import SESSION_AGES, SESSIONS
from eraft_trio.roles.shard.transfer import read_chunk
from eraft_trio.storage.view import MemoryView

NBUCKETS = 4
T0 = 1_700_000_000_000  # ms; any wall-clock reading will do
TTL = 60_000


def serving_group(replicas: int = 3) -> MemoryGroup:
    cluster = MemoryCluster(NBUCKETS, [1], replicas=replicas)
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    return cluster.groups[1]


def session_count(view: MemoryView) -> int:
    assert len(view.tables.get(SESSIONS, {})) == len(view.tables.get(SESSION_AGES, {}))
    return len(view.tables.get(SESSIONS, {}))


def test_replicas_expire_the_same_sessions_at_the_same_index() -> None:
    group = serving_group(replicas=3)
    rng = random.Random(7)
    # Writes stamped by three "leaders" whose clocks disagree by up to 5 s, interleaved
    # with expiry entries proposed by whichever leader thought something was due.
    stamp = T0
    counts = []
    for step in range(400):
        stamp += rng.randrange(0, 2000)
        skew = rng.choice((-5000, 0, 3000))
        if step % 25 == 24:
            group.propose(ExpireSessions(stamp + skew, TTL))
        else:
            client = rng.randrange(60)
            key = f"key-{rng.randrange(20)}".encode()
            group.propose(Put(client, step, key, b"v", stamp + skew, True))
        first = group.replicas[0]
        for other in group.replicas[1:]:
            assert other.tables == first.tables, f"replicas differ after entry {len(group.log)}"
        counts.append(session_count(first))
    # Expiry did happen (the count went down at some entries) and the clock is the
    # largest stamp seen, not the last one.
    assert any(later < earlier for earlier, later in zip(counts, counts[1:], strict=False))
    stamps = [_stamp(decode_command(entry)) for entry in group.log]
    assert tables.group_now_ms(group.view) == max(stamp for stamp in stamps if stamp is not None)
    assert stamps[-1] != max(s for s in stamps if s is not None)  # a slower leader stamped last


def _stamp(command: ShardCommand) -> int | None:
    if isinstance(command, Put | Delete):
        return command.stamp_ms
    return command.now_ms if isinstance(command, ExpireSessions) else None


def test_replaying_the_same_log_expires_at_the_same_index() -> None:
    """A replica that applies the log later (or from the start after a restart) deletes the
    same sessions at the same entry: nothing depends on when it applies."""
    group = serving_group(replicas=1)
    for client in range(10):
        group.propose(Put(client, 1, f"k{client}".encode(), b"v", T0 + client * 10_000, True))
    reply = group.propose(ExpireSessions(T0 + 100_000, TTL))
    assert reply == {"ok": True, "expired": 4, "more": False}  # used at T0 + 0..30 s
    late = MemoryView()
    for index, entry in enumerate(group.log, start=1):
        answer = group.machine.apply(late, index, entry)
        if index == len(group.log):
            assert answer == reply
    assert late.tables == group.view.tables


def test_a_session_is_never_expired_early() -> None:
    group = serving_group(replicas=1)
    used = T0 + 999  # the very end of second T0/1000
    group.propose(Put(1, 1, b"k", b"v", used, True))
    assert group.propose(ExpireSessions(used + TTL - 1, TTL))["expired"] == 0
    assert session_count(group.view) == 1
    # A second at most late: due once even the last millisecond of its second is TTL old.
    assert group.propose(ExpireSessions(used + TTL + 1000, TTL))["expired"] == 1
    assert session_count(group.view) == 0


def test_a_retried_write_whose_session_expired_is_refused_not_applied_twice() -> None:
    group = serving_group(replicas=1)
    assert group.propose(Put(5, 1, b"k", b"first", T0, True))["ok"] is True
    # Seq 2 is applied but its answer is lost; the client stalls for longer than the TTL.
    retried = Put(5, 2, b"k", b"mine", T0 + 1000, False)
    assert group.propose(retried)["ok"] is True
    assert group.propose(Put(6, 1, b"k", b"someone else's", T0 + 2000, True))["ok"] is True
    assert group.propose(ExpireSessions(T0 + 2000 + TTL + 1000, TTL))["expired"] == 2
    # The retry finds no session: without the refusal it would overwrite the later value.
    reply = group.propose(retried)
    assert reply["err"] == "session_expired"
    assert "expired" in reply["message"]
    assert group.read(("get", b"k")) == {"value": b"someone else's"}
    assert session_count(group.view) == 0  # a refusal creates no session either
    # Deletes follow the same rule.
    assert group.propose(Delete(5, 3, b"k", T0 + 200_000, False))["err"] == "session_expired"
    assert group.read(("get", b"k")) == {"value": b"someone else's"}


def test_a_new_session_is_accepted_and_an_old_style_write_still_applies() -> None:
    group = serving_group(replicas=1)
    assert group.propose(Put(9, 1, b"a", b"1", T0, True))["version"] == 1
    # A write with the mark while the session exists is an ordinary next write.
    second = group.propose(Put(9, 2, b"a", b"2", T0 + 10, True))
    assert second["version"] == 2
    assert group.propose(Put(9, 2, b"a", b"stale retry", T0 + 20, True)) == second
    assert group.read(("get", b"a")) == {"value": b"2"}
    # Entries from before sessions expired carry neither stamp nor mark: applied as then.
    assert group.propose(Put(10, 1, b"b", b"old client"))["version"] == 1
    assert group.read(("get", b"b")) == {"value": b"old client"}
    assert session_count(group.view) == 2


def test_the_clock_never_goes_backwards() -> None:
    group = serving_group(replicas=1)
    group.propose(Put(1, 1, b"k", b"v", T0 + 50_000, True))
    # A new leader whose clock is behind: its stamps do not turn the clock back, and its
    # idea of "now" cannot keep alive what the group's clock says is due.
    group.propose(Put(2, 1, b"j", b"v", T0, True))
    assert tables.group_now_ms(group.view) == T0 + 50_000
    # Client 2's session was used at the group's time, not at its leader's stamp, so the
    # slow leader's expiries do not see it as older than it is.
    session = tables.load_session(group.view, bucket_of(b"j", NBUCKETS), 2)
    assert session is not None and session.used_s == (T0 + 50_000) // 1000
    assert group.propose(ExpireSessions(T0 + 1000, 40_000))["expired"] == 0
    assert group.propose(ExpireSessions(T0 + 50_000 + 40_000, 40_000))["expired"] == 0
    assert group.propose(ExpireSessions(T0 + 50_000 + 41_000, 40_000))["expired"] == 2


def test_one_expiry_entry_deletes_a_bounded_batch() -> None:
    group = serving_group(replicas=1)
    many = 2 * EXPIRE_BATCH + 500
    for client in range(many):
        group.propose(Put(client, 1, b"k", b"v", T0 + client, True))
    replies = [group.propose(ExpireSessions(T0 + TTL + 10_000, TTL)) for _ in range(4)]
    assert [r["expired"] for r in replies] == [EXPIRE_BATCH, EXPIRE_BATCH, 500, 0]
    assert [r["more"] for r in replies] == [True, True, False, False]
    assert session_count(group.view) == 0


def test_the_session_clock_says_when_the_leader_should_propose_an_expiry() -> None:
    group = serving_group(replicas=1)
    assert group.read(("session_clock",)) == {"now_ms": 0, "oldest_s": None}
    group.propose(Put(1, 1, b"k", b"v", T0 + 5000, True))
    group.propose(Put(2, 1, b"k", b"v", T0 + 9000, True))
    clock = group.read(("session_clock",))
    assert clock == {"now_ms": T0 + 9000, "oldest_s": (T0 + 5000) // 1000}
    assert not sessions.is_due(clock["oldest_s"], T0 + 5000 + TTL - 1, TTL)
    assert sessions.is_due(clock["oldest_s"], T0 + 5000 + TTL + 1000, TTL)
    assert not sessions.is_due(None, T0 * 2, TTL)


def test_sessions_move_with_their_bucket_and_keep_their_age() -> None:
    cluster = MemoryCluster(NBUCKETS, [1, 2], replicas=2)
    cluster.add_config([1] * NBUCKETS)
    cluster.settle()
    g1, g2 = cluster.groups[1], cluster.groups[2]
    key = b"moving"
    bucket = bucket_of(key, NBUCKETS)
    g1.propose(Put(1, 1, key, b"old", T0, True))  # soon due
    stored_reply = g1.propose(Put(2, 1, key, b"new", T0 + 50_000, True))  # not yet
    owners = [1] * NBUCKETS
    owners[bucket] = 2
    cluster.add_config(owners)
    cluster.settle(max_bytes=64)  # one session per chunk
    # The old owner dropped the bucket: its sessions and their age rows are gone.
    assert session_count(g1.view) == 0
    moved = {cid: s.used_s for cid, s in tables.sessions(g2.view, bucket, None)}
    assert moved == {1: T0 // 1000, 2: (T0 + 50_000) // 1000}
    # A retry of client 2's write reaches the new owner and is recognised.
    assert g2.propose(Put(2, 1, key, b"new", T0 + 60_000, False)) == stored_reply
    # The new owner expires by the ages the sessions brought along.
    assert g2.propose(ExpireSessions(T0 + TTL + 2000, TTL))["expired"] == 1
    assert [cid for cid, _ in tables.sessions(g2.view, bucket, None)] == [2]
    assert g2.replicas[0].tables == g2.replicas[1].tables
    assert g2.propose(Put(1, 2, key, b"dup", T0 + TTL + 3000, False))["err"] == "session_expired"


def test_a_session_from_an_owner_without_ages_keeps_none_and_is_not_expired() -> None:
    """Regression (review): such a session was stamped with the new owner's clock, 0 in a
    group that has had no write, so the next expiry deleted it and a retry of its last
    write was applied a second time."""
    group = serving_group(replicas=1)
    view = MemoryView()
    group.propose(Put(1, 1, b"k", b"v", T0, True))
    bucket = bucket_of(b"k", NBUCKETS)
    chunk = read_chunk(group.view, bucket, None, 1 << 16)
    first_reply = {"ok": True, "revision": len(group.log), "version": 1}
    assert chunk.sessions == [(1, 1, first_reply, T0 // 1000)]
    reply = chunk.to_reply()
    reply["sessions"] = [entry[:3] for entry in reply["sessions"]]  # what an old owner sends
    machine = group.machine
    other = {"num": 1, "buckets": [2] * NBUCKETS, "groups": {"2": ["x:1"]}}
    machine.apply(view, 1, encode_command(NewConfig(other)))
    following = {"num": 2, "buckets": [1] * NBUCKETS, "groups": {"1": ["y:1"]}}
    machine.apply(view, 2, encode_command(NewConfig(following)))
    machine.apply(view, 3, encode_command(Put(7, 1, b"zz", b"v", T0 + 30_000, True)))
    install = InstallChunk(
        2,
        bucket,
        None,
        tuple((k, v) for k, v in reply["rows"]),
        ((1, 1, first_reply, None),),
        True,
    )
    assert machine.apply(view, 4, encode_command(install))["applied"] is True
    assert tables.load_session(view, bucket, 1) == tables.Session(1, first_reply, None)
    machine.apply(view, 5, encode_command(ExpireSessions(T0 + 10 * TTL, TTL)))
    assert tables.load_session(view, bucket, 1) == tables.Session(1, first_reply, None)
    # The retry is recognised as the write already applied, not applied again.
    retry = machine.apply(view, 6, encode_command(Put(1, 1, b"k", b"again", T0 + 10 * TTL, None)))
    assert retry == first_reply
    assert tables.get_value(view, bucket, b"k") == b"v"


@pytest.mark.parametrize("stamp", [None, T0])
def test_refused_writes_keep_the_tables_deterministic(stamp: int | None) -> None:
    """A write to a bucket not served still moves the clock (its stamp is the leader's
    time all the same), identically on every replica."""
    group = serving_group(replicas=2)
    group.propose(encode_command(Put(1, 1, b"k", b"v", stamp, False)))
    assert group.replicas[0].tables == group.replicas[1].tables

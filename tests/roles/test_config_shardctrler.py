"""The MIT 6.824 shardctrler tests (test_test.go), carried over to the pure config state machine."""

from __future__ import annotations

import random
from typing import Any

from eraft_trio.roles.config.commands import (
    ConfigCommand,
    Join,
    Leave,
    Move,
    SessionCommand,
    encode_command,
)
from eraft_trio.roles.config.model import Config
from eraft_trio.roles.config.state_machine import ConfigStateMachine
from eraft_trio.storage.view import MemoryView

NBUCKETS = 10  # the lab's NShards


class Replica:
    """One config replica: a state machine over its own MemoryView, fed log entries in order."""

    def __init__(self, buckets: int = NBUCKETS) -> None:
        self.machine = ConfigStateMachine(buckets)
        self.view = MemoryView()
        self.applied = 0

    def apply(self, entry: bytes) -> Any:
        self.applied += 1
        return self.machine.apply(self.view, self.applied, entry)

    def query(self, num: int | None = None) -> Config:
        return Config.from_json(self.machine.read(self.view, ("query", num)))


class Clerk:
    """The lab's clerk: one session, a fresh seq per call, entries appended to a shared log."""

    def __init__(self, replica: Replica, client_id: int, log: list[bytes] | None = None) -> None:
        self.replica, self.client_id, self.seq = replica, client_id, 0
        self.log = log if log is not None else []

    def call(self, command: ConfigCommand) -> Any:
        self.seq += 1
        entry = encode_command(SessionCommand(self.client_id, self.seq, command))
        self.log.append(entry)
        return self.replica.apply(entry)

    def join(self, groups: dict[int, tuple[str, ...]]) -> Any:
        return self.call(Join(groups))

    def leave(self, *gids: int) -> Any:
        return self.call(Leave(gids))

    def move(self, bucket: int, gid: int) -> Any:
        return self.call(Move((bucket,), gid))


def servers(gid: int, count: int = 3) -> tuple[str, ...]:
    return tuple(f"10.0.{gid % 250}.{gid // 250 + 1}:{6000 + node}" for node in range(count))


def check(config: Config, gids: set[int]) -> None:
    """The lab's check(): exactly these groups, every bucket served by one of them, balanced."""
    assert set(config.groups) == gids
    if gids:
        assert all(owner in gids for owner in config.buckets)
        loads = config.load().values()
        assert max(loads) <= min(loads) + 1


def test_basic_leave_join() -> None:
    """TestBasic 'Basic leave/join'."""
    replica = Replica()
    clerk = Clerk(replica, 1)
    check(replica.query(), set())
    assert clerk.join({1: servers(1)}) == {"ok": True, "num": 1}
    check(replica.query(), {1})
    assert clerk.join({2: servers(2)}) == {"ok": True, "num": 2}
    check(replica.query(), {1, 2})
    assert replica.query().groups[2] == servers(2)
    assert clerk.leave(1) == {"ok": True, "num": 3}
    check(replica.query(), {2})
    assert clerk.leave(2)["code"] == "last_group"
    check(replica.query(), {2})


def test_historical_queries() -> None:
    """TestBasic 'Historical queries': every past config answers as it was, on every replica."""
    log: list[bytes] = []
    first = Replica()
    clerk = Clerk(first, 1, log)
    clerk.join({1: servers(1)})
    clerk.join({2: servers(2)})
    clerk.leave(1)
    clerk.move(3, 2)
    history = [first.query(num) for num in range(first.query().num + 1)]
    second = Replica()
    for entry in log:
        second.apply(entry)
    assert [second.query(num) for num in range(len(history))] == history
    assert history[0] == Config.initial(NBUCKETS)
    assert set(history[2].groups) == {1, 2}
    assert first.machine.read(first.view, ("query", len(history)))["code"] == "no_such_config"


def test_move() -> None:
    """TestBasic 'Move': a moved bucket goes to its gid and nothing else changes."""
    replica = Replica()
    clerk = Clerk(replica, 1)
    clerk.join({503: servers(503)})
    clerk.join({504: servers(504)})
    for bucket in range(NBUCKETS):
        before = replica.query()
        target = 503 if bucket < NBUCKETS // 2 else 504
        assert clerk.move(bucket, target)["ok"]
        after = replica.query()
        assert after.num == before.num + 1
        assert after.buckets[bucket] == target
        assert [o for b, o in enumerate(after.buckets) if b != bucket] == [
            o for b, o in enumerate(before.buckets) if b != bucket
        ]
    assert replica.query().buckets == (503,) * 5 + (504,) * 5


def test_concurrent_leave_join() -> None:
    """TestBasic 'Concurrent leave/join': interleaved clients, ending with the expected groups."""
    replica = Replica()
    order = random.Random(7)
    steps: list[tuple[Clerk, ConfigCommand]] = []
    clerks = [Clerk(replica, 100 + i) for i in range(10)]
    for i, clerk in enumerate(clerks):
        gid = i + 1
        steps += [
            (clerk, Join({gid + 1000: servers(gid + 1000)})),
            (clerk, Join({gid: servers(gid)})),
        ]
    order.shuffle(steps)
    for clerk, command in steps:
        assert clerk.call(command)["ok"]
    for i, clerk in enumerate(clerks):
        assert clerk.leave(i + 1001)["ok"]
    check(replica.query(), set(range(1, 11)))


def test_minimal_transfers_after_joins() -> None:
    """TestBasic 'Minimal transfers after joins': buckets of old groups move only to new ones."""
    replica = Replica()
    clerk = Clerk(replica, 1)
    for gid in range(1, 6):
        clerk.join({gid: servers(gid)})
    before = replica.query()
    for gid in range(6, 11):
        clerk.join({gid: servers(gid)})
    after = replica.query()
    check(after, set(range(1, 11)))
    for bucket in range(NBUCKETS):
        if after.buckets[bucket] <= 5:
            assert after.buckets[bucket] == before.buckets[bucket]


def test_minimal_transfers_after_leaves() -> None:
    """TestBasic 'Minimal transfers after leaves': buckets of remaining groups stay put."""
    replica = Replica()
    clerk = Clerk(replica, 1)
    for gid in range(1, 11):
        clerk.join({gid: servers(gid)})
    before = replica.query()
    for gid in range(6, 11):
        clerk.leave(gid)
    after = replica.query()
    check(after, set(range(1, 6)))
    for bucket in range(NBUCKETS):
        if before.buckets[bucket] <= 5:
            assert after.buckets[bucket] == before.buckets[bucket]


def test_multi_group_join_leave() -> None:
    """TestMulti 'Multi-group join/leave'."""
    replica = Replica()
    clerk = Clerk(replica, 1)
    assert clerk.join({1: servers(1), 2: servers(2)}) == {"ok": True, "num": 1}
    check(replica.query(), {1, 2})
    assert clerk.join({3: servers(3)})["ok"]
    check(replica.query(), {1, 2, 3})
    assert replica.query().groups[3] == servers(3)
    assert clerk.leave(1, 2) == {"ok": True, "num": 3}
    check(replica.query(), {3})


def test_concurrent_multi_leave_join() -> None:
    """TestMulti 'Concurrent multi leave/join'."""
    replica = Replica()
    order = random.Random(11)
    clerks = [Clerk(replica, 200 + i) for i in range(10)]
    steps: list[tuple[Clerk, ConfigCommand]] = []
    for i, clerk in enumerate(clerks):
        gid = i + 1
        steps.append((clerk, Join({gid: servers(gid), gid + 1000: servers(gid + 1000)})))
    order.shuffle(steps)
    for clerk, command in steps:
        assert clerk.call(command)["ok"]
    for i, clerk in enumerate(clerks):
        assert clerk.leave(i + 1001)["ok"]
    check(replica.query(), set(range(1, 11)))


def test_minimal_transfers_after_multijoins() -> None:
    """TestMulti 'Minimal transfers after multijoins'."""
    replica = Replica()
    clerk = Clerk(replica, 1)
    clerk.join({gid: servers(gid) for gid in range(1, 6)})
    before = replica.query()
    clerk.join({gid: servers(gid) for gid in range(6, 11)})
    after = replica.query()
    check(after, set(range(1, 11)))
    for bucket in range(NBUCKETS):
        if after.buckets[bucket] <= 5:
            assert after.buckets[bucket] == before.buckets[bucket]


def test_minimal_transfers_after_multileaves() -> None:
    """TestMulti 'Minimal transfers after multileaves'."""
    replica = Replica()
    clerk = Clerk(replica, 1)
    clerk.join({gid: servers(gid) for gid in range(1, 11)})
    before = replica.query()
    clerk.leave(*range(6, 11))
    after = replica.query()
    check(after, set(range(1, 6)))
    for bucket in range(NBUCKETS):
        if before.buckets[bucket] <= 5:
            assert after.buckets[bucket] == before.buckets[bucket]


def test_same_config_on_servers() -> None:
    """TestMulti 'Check Same config on servers': replicas fed one log agree on every config."""
    log: list[bytes] = []
    leader = Replica()
    clerks = [Clerk(leader, 300 + i, log) for i in range(3)]
    rng = random.Random(3)
    for gid in range(1, 8):
        rng.choice(clerks).join({gid: servers(gid)})
    for gid in (2, 5):
        rng.choice(clerks).leave(gid)
    rng.choice(clerks).move(0, 7)
    followers = [Replica(), Replica()]
    for follower in followers:
        for entry in log:
            follower.apply(entry)
    for num in range(leader.query().num + 1):
        assert {repr(f.query(num)) for f in followers} == {repr(leader.query(num))}
    assert all(f.view.tables == leader.view.tables for f in followers)

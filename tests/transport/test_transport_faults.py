"""Fault rules: matching, seeded decisions, and drop/delay/duplicate through real senders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trio
from transport_helpers import CLUSTER, HOST, RecordingHandler, start_server, wait_until

from eraft_trio.raft.types import Heartbeat
from eraft_trio.transport.errors import RequestTimeout
from eraft_trio.transport.faults import FAULTS, FaultRules
from eraft_trio.transport.peer import PeerSender
from eraft_trio.transport.rpc import RpcClient


@pytest.fixture(autouse=True)
def clean_faults() -> Iterator[None]:
    FAULTS.clear()
    FAULTS.seed(1)
    yield
    FAULTS.clear()


def test_no_rules_means_send_once_now() -> None:
    rules = FaultRules()
    assert not rules
    assert rules.plan("a:1", "b:2") == (0.0,)


def test_most_specific_rule_wins() -> None:
    rules = FaultRules()
    rules.set(drop=1.0)
    rules.set("10.0.0.1", "*", duplicate=1.0)
    rules.set("10.0.0.1:5", "10.0.0.2:6", delay_ms=(5, 5))
    assert rules.plan("10.0.0.9:1", "x:1") == ()
    assert len(rules.plan("10.0.0.1:7", "x:1")) == 2
    assert rules.plan("10.0.0.1:5", "10.0.0.2:6") == (0.005,)


def test_same_seed_same_decisions() -> None:
    def decisions(seed: int) -> list[tuple[float, ...]]:
        rules = FaultRules(seed)
        rules.set(drop=0.3, duplicate=0.3, delay_ms=(1, 50))
        return [rules.plan("a:1", "b:1") for _ in range(200)]

    assert decisions(7) == decisions(7)
    assert decisions(7) != decisions(8)
    plans = decisions(7)
    assert {len(p) for p in plans} == {0, 1, 2}
    assert all(0.001 <= d <= 0.05 for p in plans for d in p)


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError):
        FaultRules().set(drop=1.5)
    with pytest.raises(ValueError):
        FaultRules().set(delay_ms=(10, 1))


def sender_from(own: str, port: int) -> PeerSender:
    return PeerSender((HOST, port), cluster=CLUSTER, node=1, group=1, own_addr=own)


async def test_drop_rule_cuts_one_link_only(nursery: trio.Nursery) -> None:
    handler = RecordingHandler()
    server = await start_server(nursery, handler)
    cut = sender_from("127.0.0.2:1", server.port)
    kept = sender_from("127.0.0.3:1", server.port)
    for sender in (cut, kept):
        await nursery.start(sender.run)
    FAULTS.set("127.0.0.2", f"{HOST}:{server.port}", drop=1.0)
    for i in range(20):
        cut.send(Heartbeat(1, 2, 0, i))
        kept.send(Heartbeat(1, 3, 0, i))
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.pushes) >= 20)
    assert {body.src for body in handler.push_bodies()} == {3}
    # Dropped on send, so nothing of the cut link is queued to turn up later.
    assert (cut.statistics()["sent"], cut.statistics()["queue_length"]) == (0, 0)
    assert FAULTS.statistics()["dropped"] == 20


async def test_delay_rule_delivers_later_without_blocking_the_sender(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    handler = RecordingHandler()
    server = await start_server(nursery, handler)
    sender = sender_from("127.0.0.1:1", server.port)
    await nursery.start(sender.run)
    with trio.fail_after(5):
        await wait_until(lambda: sender.statistics()["connected"])
    FAULTS.set(delay_ms=(200, 300))
    sent_at = trio.current_time()
    assert sender.send(Heartbeat(1, 1, 0, 1))
    assert sender.statistics()["queue_length"] == 0  # held by the delay, not queued yet
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.pushes) == 1)
    assert 0.2 <= handler.push_times[0] - sent_at <= 0.35  # virtual time of the mock clock


async def test_duplicate_rule_delivers_twice(nursery: trio.Nursery) -> None:
    handler = RecordingHandler()
    server = await start_server(nursery, handler)
    sender = sender_from("127.0.0.1:1", server.port)
    await nursery.start(sender.run)
    FAULTS.set(duplicate=1.0)
    for i in range(5):
        sender.send(Heartbeat(1, 1, 0, i))
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.pushes) == 10)
    assert sorted(body.commit for body in handler.push_bodies()) == sorted(list(range(5)) * 2)


async def test_rpc_drop_times_out_and_duplicate_runs_the_handler_twice(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    handler = RecordingHandler()
    server = await start_server(nursery, handler)
    async with RpcClient((HOST, server.port), CLUSTER, local_host="127.0.0.5") as client:
        FAULTS.set("127.0.0.5", "*", drop=1.0)
        with pytest.raises(RequestTimeout):
            await client.call("lost", timeout=1.0)
        assert handler.requests == []
        FAULTS.set("127.0.0.5", "*", duplicate=1.0)
        assert await client.call("twice", timeout=5.0) == ("echo", "twice")
        with trio.fail_after(5):
            await handler.wait_for(lambda: handler.requests == ["twice", "twice"])

"""kill -9 of every node after (or amid) concurrent acknowledged writes loses none of them."""

from __future__ import annotations

import pytest
import trio

from .cluster import ProcessGroup
from .config_writes import Ack, ConfigWriter

WRITERS = 20
JOINS_PER_WRITER = 10
# Amid the writes: the kill comes once this many are acknowledged, the rest in flight.
ACKS_BEFORE_KILL_AMID = 100


@pytest.mark.parametrize("amid_writes", [False, True], ids=["after-writes", "amid-writes"])
async def test_acknowledged_joins_survive_kill_of_every_node(
    config_group: ProcessGroup, amid_writes: bool
) -> None:
    group = config_group
    leader, _ = await group.wait_for_leader()
    acks: list[Ack] = []
    enough = trio.Event()

    async def write(writer_index: int) -> None:
        writer = ConfigWriter(group, client_id=1000 + writer_index)
        writer.leader = leader
        for k in range(JOINS_PER_WRITER):
            acks.append(await writer.join(1 + writer_index * JOINS_PER_WRITER + k))
            if len(acks) >= ACKS_BEFORE_KILL_AMID:
                enough.set()

    async with trio.open_nursery() as nursery:
        for writer_index in range(WRITERS):
            nursery.start_soon(write, writer_index)
        if amid_writes:
            await enough.wait()
            group.kill()
            # Writes in flight now have unknown outcomes; only the acknowledged ones count.
            nursery.cancel_scope.cancel()
    # No grace period: whatever a node had not fsynced when it acknowledged is lost here.
    group.kill()

    if amid_writes:
        assert len(acks) >= ACKS_BEFORE_KILL_AMID
    else:
        assert len(acks) == WRITERS * JOINS_PER_WRITER
    # Each acknowledged join made its own config.
    assert len({ack.num for ack in acks}) == len(acks)

    group.start()
    leader, _ = await group.wait_for_leader()
    reader = ConfigWriter(group, client_id=1)
    reader.leader = leader
    for ack in acks:
        config = await reader.query(ack.num)
        assert config["num"] == ack.num
        assert str(ack.gid) in config["groups"], f"acknowledged join {ack} lost"
    latest = await reader.query()
    # Unacknowledged joins may have landed too, but nothing else.
    assert latest["num"] >= max(ack.num for ack in acks)
    assert set(latest["groups"]) >= {str(ack.gid) for ack in acks}
    assert set(latest["groups"]) <= {str(gid) for gid in range(1, WRITERS * JOINS_PER_WRITER + 1)}
    if not amid_writes:
        assert latest["num"] == max(ack.num for ack in acks)
        assert set(latest["groups"]) == {str(ack.gid) for ack in acks}

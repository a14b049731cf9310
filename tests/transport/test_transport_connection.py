"""FramedConnection's one-writer-at-a-time sends: coalescing, push, flush and failures."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from eraft_trio.transport.connection import FramedConnection
from eraft_trio.transport.errors import ConnectionLost


def connected_pair() -> tuple[FramedConnection, FramedConnection]:
    left, right = trio.testing.memory_stream_pair()
    return FramedConnection(left), FramedConnection(right)


async def receive_all(conn: FramedConnection, count: int) -> list[object]:
    got: list[object] = []
    while len(got) < count:
        got.extend(await conn.receive_batch())
    return got


async def test_messages_pushed_by_many_tasks_at_once_go_out_in_one_write_in_order() -> None:
    sender, receiver = connected_pair()
    async with trio.open_nursery() as nursery:
        for n in range(20):

            async def send(n: int = n) -> None:
                sender.queue(["message", n])
                await sender.push()

            nursery.start_soon(send)
    assert sender.writes == 1
    assert sender.frames_sent == 20
    assert sorted(m[1] for m in await receive_all(receiver, 20)) == list(range(20))  # type: ignore[index]


async def test_flush_returns_only_once_frames_left_to_another_writer_are_written() -> None:
    left, right = trio.testing.lockstep_stream_pair()  # every send_all waits for a reader
    sender, receiver = FramedConnection(left), FramedConnection(right)
    flushed = trio.Event()
    async with trio.open_nursery() as nursery:
        sender.queue("first")
        nursery.start_soon(sender.push)  # becomes the writer, blocks in send_all
        await trio.testing.wait_all_tasks_blocked()

        async def second() -> None:
            sender.queue("second")
            await sender.flush()
            flushed.set()

        nursery.start_soon(second)
        await trio.testing.wait_all_tasks_blocked()
        assert not flushed.is_set()  # the writer is stuck on "first": "second" is not out
        assert await receive_all(receiver, 2) == ["first", "second"]
        await flushed.wait()


async def test_a_broken_connection_fails_flush_and_drops_what_was_queued() -> None:
    sender, _receiver = connected_pair()
    await sender.aclose()
    sender.queue("lost")
    with pytest.raises(ConnectionLost):
        await sender.push()
    await sender.flush()  # the failed push dropped its frame: nothing left to report
    sender.queue("lost too")
    with pytest.raises(ConnectionLost):
        await sender.flush()


async def test_a_pusher_cancelled_before_writing_leaves_its_frame_for_the_next_write() -> None:
    sender, receiver = connected_pair()
    with trio.CancelScope() as scope:
        scope.cancel()
        sender.queue("later")
        await sender.push()
    assert scope.cancelled_caught and not sender.broken
    sender.queue("now")
    await sender.push()
    assert await receive_all(receiver, 2) == ["later", "now"]


async def test_with_a_writer_task_push_only_wakes_it_and_close_ends_it() -> None:
    sender, receiver = connected_pair()
    async with trio.open_nursery() as nursery:
        await nursery.start(sender.run_writer)
        for n in range(5):
            sender.queue(n)
            await sender.push()
        assert sender.writes == 0  # nothing written by the pushers themselves
        assert await receive_all(receiver, 5) == [0, 1, 2, 3, 4]
        assert sender.writes == 1
        await sender.aclose()  # the writer task notices and returns: the nursery can end


async def test_a_failed_write_ends_the_writer_task_with_connection_lost() -> None:
    sender, receiver = connected_pair()
    await receiver.aclose()
    with pytest.raises(BaseExceptionGroup) as caught:
        async with trio.open_nursery() as nursery:
            await nursery.start(sender.run_writer)
            sender.queue("nobody listens")
            await sender.push()
    assert caught.group_contains(ConnectionLost)
    assert sender.broken

"""The server's fast path: requests a handler starts from the connection's reader (no task
each) are answered with their own ids, errors stay per request, answers ready together go
out in one write, and slots and in-flight bytes are held until the answer and freed when
the connection ends first."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from transport_helpers import CLUSTER, HOST, FastHandler, raw_connection, start_server

from eraft_trio.protocol import envelope as messages
from eraft_trio.protocol.envelope import Request, Response
from eraft_trio.transport.errors import RemoteError
from eraft_trio.transport.rpc import RpcClient


async def test_started_requests_get_their_own_answers_next_to_task_ones(
    nursery: trio.Nursery,
) -> None:
    handler = FastHandler()
    server = await start_server(nursery, handler)
    results: dict[int, Any] = {}
    async with RpcClient((HOST, server.port), CLUSTER) as client:

        async def one_call(i: int) -> None:
            body: Any = ("fast", i) if i % 3 == 0 else ("now", i) if i % 3 == 1 else i
            results[i] = await client.call(body, timeout=10)

        with trio.fail_after(10):
            async with trio.open_nursery() as calls:
                for i in range(60):
                    calls.start_soon(one_call, i)
                await handler.wait_for(lambda: len(handler.pending) == 20)
                handler.answer_all()
    for i in range(60):
        expected = ("fast", i) if i % 3 == 0 else ("now", i) if i % 3 == 1 else ("echo", i)
        assert results[i] == expected
    stats = server.statistics()
    assert stats["requests"] == 60
    assert stats["requests_fast"] == 40
    assert stats["requests_in_flight"] == 0
    assert stats["inflight_bytes"] == 0
    assert len(handler.requests) == 20  # only the others reached on_request


async def test_answers_ready_together_go_out_in_one_write(nursery: trio.Nursery) -> None:
    handler = FastHandler()
    server = await start_server(nursery, handler)
    conn = await raw_connection(server.port)
    for i in range(50):
        conn.queue(Request(id=i, body=("fast", i)))
    await conn.flush()
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.pending) == 50)
    receives_before = conn.reader.receives
    handler.answer_all()
    answers: list[Response] = []
    with trio.fail_after(5):
        while len(answers) < 50:
            answers.extend(await conn.receive_batch())
    assert sorted(a.id for a in answers) == list(range(50))
    assert all(a.body == ("fast", a.id) for a in answers)
    assert conn.reader.receives - receives_before < 10


async def test_a_failed_start_or_answer_is_an_internal_error_of_that_request_only(
    nursery: trio.Nursery,
) -> None:
    handler = FastHandler()
    server = await start_server(nursery, handler)
    async with RpcClient((HOST, server.port), CLUSTER) as client:
        with pytest.raises(RemoteError) as caught:
            await client.call(("raise", 1), timeout=5)
        assert caught.value.code == messages.INTERNAL
        assert "start failed on purpose" in caught.value.message

        async def failing() -> None:
            with pytest.raises(RemoteError) as failed:
                await client.call(("fast", 2), timeout=5)
            assert failed.value.code == messages.INTERNAL

        with trio.fail_after(5):
            async with trio.open_nursery() as calls:
                calls.start_soon(failing)
                await handler.wait_for(lambda: len(handler.pending) == 1)
                handler.answer_all(ValueError("lost on purpose"))
        assert await client.call(("now", 3), timeout=5) == ("now", 3)
        # An answer that cannot be encoded is refused on its own as well.
        with pytest.raises(RemoteError) as unencodable:
            await client.call(("now", "unencodable"), timeout=5)
        assert unencodable.value.code == messages.INTERNAL
        assert client.statistics()["connects"] == 1
    assert server.statistics()["handler_errors"] == 3


async def test_a_started_request_holds_its_slot_until_answered(nursery: trio.Nursery) -> None:
    handler = FastHandler()
    server = await start_server(nursery, handler, max_concurrent_requests=2)
    conn = await raw_connection(server.port)
    for i in range(5):
        conn.queue(Request(id=i, body=("fast", i)))
    await conn.flush()
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.started) == 2)
    await trio.testing.wait_all_tasks_blocked()  # the reader waits for a slot: no third start
    assert len(handler.started) == 2
    assert server.statistics()["requests_in_flight"] == 2
    answers: list[Any] = []
    with trio.fail_after(5):
        while len(answers) < 5:
            handler.answer_all()
            answers.extend(await conn.receive_batch())
            await handler.wait_for(lambda: handler.pending or len(handler.started) == 5)
    assert sorted(a.id for a in answers) == list(range(5))


async def test_answers_after_the_connection_ended_are_dropped_and_free_nothing_twice(
    nursery: trio.Nursery,
) -> None:
    handler = FastHandler()
    server = await start_server(nursery, handler)
    conn = await raw_connection(server.port)
    for i in range(3):
        conn.queue(Request(id=i, body=("fast", i)))
    await conn.flush()
    with trio.fail_after(5):
        await handler.wait_for(lambda: len(handler.pending) == 3)
    assert server.statistics()["inflight_bytes"] > 0
    await conn.aclose()
    with trio.fail_after(5):
        while server.statistics()["connections_open"]:
            await trio.sleep(0.01)
    stats = server.statistics()
    assert (stats["requests_in_flight"], stats["inflight_bytes"]) == (0, 0)
    late = list(handler.pending)
    handler.answer_all()  # the client is gone: nothing to write, nothing to give back
    for _, answer in late:
        answer("twice", None)  # and a handler answering twice changes nothing either
    stats = server.statistics()
    assert (stats["requests_in_flight"], stats["inflight_bytes"]) == (0, 0)
    assert stats["responses_written"] == 0

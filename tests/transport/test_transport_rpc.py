"""RpcClient: timeouts, connection loss failing every call in flight, lazy reconnects."""

from __future__ import annotations

import pytest
import trio
from transport_helpers import CLUSTER, HOST, RecordingHandler, start_server

from eraft_trio.transport.errors import ConnectFailed, ConnectionLost, RequestTimeout
from eraft_trio.transport.rpc import RpcClient


async def test_call_times_out_as_request_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(nursery)
    async with RpcClient((HOST, server.port), CLUSTER) as client:
        with pytest.raises(RequestTimeout):
            await client.call("block", timeout=2.0)
        # The connection survives a timed-out call.
        assert await client.call("next", timeout=2.0) == ("echo", "next")
        assert client.statistics()["timeouts"] == 1
        assert client.statistics()["connects"] == 1


async def test_connection_loss_fails_every_call_in_flight_then_reconnects(
    nursery: trio.Nursery,
) -> None:
    handler = RecordingHandler()
    server = await start_server(nursery, handler)
    port = server.port
    outcomes: list[BaseException | object] = []
    async with RpcClient((HOST, port), CLUSTER) as client:

        async def blocked_call() -> None:
            try:
                outcomes.append(await client.call("block", timeout=30))
            except ConnectionLost as exc:
                outcomes.append(exc)

        with trio.fail_after(10):
            async with trio.open_nursery() as calls:
                for _ in range(5):
                    calls.start_soon(blocked_call)
                await handler.wait_for(lambda: len(handler.requests) == 5)
                server.close()
        assert len(outcomes) == 5
        assert all(isinstance(o, ConnectionLost) for o in outcomes)
        await start_server(nursery, handler, port=port)
        assert await client.call("back", timeout=5) == ("echo", "back")
        assert client.statistics()["connects"] == 2


async def test_nothing_listening_is_connect_failed(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    port = server.port
    server.close()
    async with RpcClient((HOST, port), CLUSTER) as client:
        with pytest.raises(ConnectFailed):
            await client.call("anyone?", timeout=5)


async def test_local_host_is_the_source_address(nursery: trio.Nursery) -> None:
    handler = RecordingHandler()
    server = await start_server(nursery, handler)
    async with RpcClient((HOST, server.port), CLUSTER, local_host="127.0.0.4") as client:
        assert await client.call(5, timeout=5) == ("echo", 5)
    assert handler.request_peers[0].address.startswith("127.0.0.4:")
    assert handler.request_peers[0].is_client


async def test_run_in_a_nursery_then_aclose(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    client = RpcClient(f"{HOST}:{server.port}", CLUSTER)
    await nursery.start(client.run)
    assert await client.call(b"x", timeout=5) == ("echo", b"x")
    await client.aclose()
    with pytest.raises(ConnectFailed):
        await client.call(b"y", timeout=5)


async def test_call_without_a_nursery_is_a_usage_error() -> None:
    client = RpcClient((HOST, 1), CLUSTER)
    with pytest.raises(RuntimeError):
        await client.call(1, timeout=1)

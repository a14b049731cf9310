"""Random and mutated frames thrown at a running server never disturb a well-behaved client."""

from __future__ import annotations

from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transport_helpers import CLUSTER, HOST, raw_connection, start_server, wait_until

from eraft_trio.protocol.envelope import ErrorFrame, Push, Request, Response
from eraft_trio.raft.types import AppendEntries, Entry, Heartbeat, RequestVote
from eraft_trio.transport.codec import encode
from eraft_trio.transport.errors import TransportError
from eraft_trio.transport.framing import encode_frame
from eraft_trio.transport.limits import ConnectionLimits
from eraft_trio.transport.rpc import RpcClient

VALID_MESSAGES = [
    Request(1, "hello"),
    Request(2, (1, b"two", [3])),
    Push(Heartbeat(term=3, src=1, dst=0, commit=9)),
    Push(RequestVote(term=4, src=2, dst=0, last_index=7, last_term=3)),
    Push(AppendEntries(5, 1, 0, 10, 4, (Entry(5, 11, b"x" * 20), Entry(5, 12, b"y")), 10)),
]


@st.composite
def hostile_bytes(draw: st.DrawFn) -> bytes:
    """A few frames: random bodies, mutated valid ones, lying length headers."""
    chunks = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["random", "mutated", "valid", "raw"]))
        if kind == "random":
            chunks.append(encode_frame(draw(st.binary(max_size=64))))
        elif kind == "raw":
            chunks.append(draw(st.binary(min_size=1, max_size=64)))
        else:
            body = bytearray(encode(draw(st.sampled_from(VALID_MESSAGES))))
            if kind == "mutated":
                for _ in range(draw(st.integers(1, 3))):
                    body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
            chunks.append(encode_frame(bytes(body)))
    return b"".join(chunks)


async def throw_and_check(attacks: list[tuple[bool, bytes]]) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_server(
            nursery,
            limits=ConnectionLimits(client_frame_bytes=4096, peer_frame_bytes=4096),
            handshake_timeout=2.0,
        )
        async with RpcClient((HOST, server.port), CLUSTER) as good:
            for handshake, data in attacks:
                bad = await raw_connection(server.port, handshake=handshake)
                await bad.stream.send_all(data)
                replies: list[Any] = []
                # Read what the server says for a moment (it may say nothing: a lying
                # length header leaves it waiting for the rest), then hang up.
                with trio.move_on_after(0.05):
                    try:
                        while (message := await bad.receive()) is not None:
                            replies.append(message)
                    except TransportError:
                        pass
                await bad.aclose()
                assert all(isinstance(m, Response | ErrorFrame) for m in replies)
                assert await good.call(("ping", len(data)), timeout=5) == (
                    "echo",
                    ("ping", len(data)),
                )
            assert good.statistics()["connects"] == 1
        # Every hostile connection is gone, none left half-served.
        with trio.fail_after(5):
            await wait_until(lambda: server.statistics()["connections_open"] == 0)
        nursery.cancel_scope.cancel()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(st.tuples(st.booleans(), hostile_bytes()), min_size=1, max_size=4))
def test_hostile_connections_never_disturb_a_good_client(
    attacks: list[tuple[bool, bytes]],
) -> None:
    trio.run(throw_and_check, attacks)

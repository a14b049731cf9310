"""serve_metrics over real loopback sockets: /metrics, /health, and requests it must refuse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from eraft_trio.runtime.metrics import CONTENT_TYPE, MAX_REQUEST_BYTES, serve_metrics

from .test_metrics_collector import recorded


class FakeNode:
    """A service whose statistics a test can change (or make fail) between requests."""

    def __init__(self) -> None:
        self.stats: dict[str, Any] = recorded()
        self.broken = False

    def statistics(self) -> dict[str, Any]:
        if self.broken:
            raise RuntimeError("store closed")
        return self.stats


@pytest.fixture
async def node() -> FakeNode:
    return FakeNode()


@pytest.fixture
async def port(node: FakeNode) -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        bound: int = await nursery.start(serve_metrics, "127.0.0.1:0", node)
        yield bound
        nursery.cancel_scope.cancel()


async def exchange(port: int, request: bytes) -> bytes:
    """Send raw request bytes; everything the server writes until it closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        received = b""
        while chunk := await stream.receive_some(65536):
            received += chunk
        return received


async def get(port: int, path: str, method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    raw = await exchange(port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *header_lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return status, headers, body


async def test_metrics_answers_the_text_format(port: int) -> None:
    status, headers, body = await get(port, "/metrics")
    assert status == "HTTP/1.1 200 OK"
    assert headers["Content-Type"] == CONTENT_TYPE
    assert int(headers["Content-Length"]) == len(body)
    assert b'eraft_raft_commit_index{group="1",node="0"} 17107.0\n' in body
    assert b"# TYPE eraft_requests_total counter\n" in body


async def test_query_strings_are_ignored(port: int) -> None:
    status, _, body = await get(port, "/metrics?name[]=eraft_raft_term")
    assert status == "HTTP/1.1 200 OK"
    assert b"eraft_raft_term" in body


async def test_health_follows_whether_a_leader_is_known(port: int, node: FakeNode) -> None:
    assert await get(port, "/health") == (
        "HTTP/1.1 200 OK",
        {"Content-Type": "text/plain; charset=utf-8", "Content-Length": "3", "Connection": "close"},
        b"ok\n",
    )
    node.stats["raft"].update(role="candidate", leader=None)
    status, _, body = await get(port, "/health")
    assert (status, body) == ("HTTP/1.1 503 Service Unavailable", b"no leader\n")


async def test_head_sends_the_headers_only(port: int) -> None:
    status, headers, body = await get(port, "/metrics", method="HEAD")
    assert status == "HTTP/1.1 200 OK"
    assert int(headers["Content-Length"]) > 0
    assert body == b""


async def test_other_paths_methods_and_garbage_are_refused(port: int) -> None:
    assert (await get(port, "/"))[0] == "HTTP/1.1 404 Not Found"
    assert (await get(port, "/metrics", method="POST"))[0] == "HTTP/1.1 405 Method Not Allowed"
    raw = await exchange(port, b"hello there\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 Bad Request\r\n")


async def test_an_oversized_request_is_dropped_unanswered(port: int) -> None:
    try:
        raw = await exchange(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * (2 * MAX_REQUEST_BYTES))
    except trio.BrokenResourceError:
        raw = b""  # closed with our bytes unread, the kernel resets the connection
    assert raw == b""
    assert (await get(port, "/health"))[0] == "HTTP/1.1 200 OK"


async def test_a_failing_statistics_call_is_a_500_and_the_server_goes_on(
    port: int, node: FakeNode
) -> None:
    node.broken = True
    assert (await get(port, "/metrics"))[0] == "HTTP/1.1 500 Internal Server Error"
    assert (await get(port, "/health"))[0] == "HTTP/1.1 503 Service Unavailable"
    node.broken = False
    assert (await get(port, "/metrics"))[0] == "HTTP/1.1 200 OK"


async def test_a_client_that_never_finishes_its_request_blocks_nobody(port: int) -> None:
    stalled = await trio.open_tcp_stream("127.0.0.1", port)
    async with stalled:
        await stalled.send_all(b"GET /metr")
        assert (await get(port, "/metrics"))[0] == "HTTP/1.1 200 OK"

"""Size limits at the shard node: an oversize request is refused before it reaches the log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eraft_trio.protocol.envelope import Request
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.limits import MAX_KEY_BYTES, request_refusal
from eraft_trio.protocol.replies import BucketChunk, Written
from eraft_trio.protocol.shard import KvDelete, KvGet, KvPut
from eraft_trio.raft.types import AppendEntries, Entry
from eraft_trio.roles.shard.commands import InstallChunk, Put, decode_command, encode_command
from eraft_trio.roles.shard.replies import to_written
from eraft_trio.roles.shard.server import CHUNK_BYTES, ShardRoleServer
from eraft_trio.runtime.role_file import MAX_VALUE_BYTES_CEILING, parse_role
from eraft_trio.runtime.waiter import Waiter
from eraft_trio.transport.codec import encode
from eraft_trio.transport.framing import DEFAULT_MAX_FRAME_SIZE, encode_frame
from eraft_trio.transport.handshake import PeerInfo
from eraft_trio.transport.limits import frame_limits_for

LIMIT = 1000


# What the state machine answers a first put of a key applied at log index 1.
PUT_RESULT = {"ok": True, "revision": 1, "version": 1}


class RecordingNode:
    """The part of RaftNode the request handler uses; it records what reached the log."""

    def __init__(self, leader: bool = True) -> None:
        self.is_leader = leader
        self.leader_address = "127.0.0.1:1" if not leader else None
        self.proposed: list[bytes] = []
        self.reads: list[Any] = []

    async def propose(self, command: bytes) -> Any:
        self.proposed.append(command)
        return PUT_RESULT

    async def read(self, query: Any) -> Any:
        self.reads.append(query)
        return {"value": None}

    def start_proposal(self, command: bytes) -> Waiter:
        self.proposed.append(command)
        waiter = Waiter()
        waiter.set(PUT_RESULT)
        return waiter

    def start_read(self, query: Any) -> Waiter:
        self.reads.append(query)
        waiter = Waiter()
        waiter.set({"value": None})
        return waiter


def shard_server(node: RecordingNode, limit: int = LIMIT) -> ShardRoleServer:
    raw = {
        "node": {"role": "shard", "id": 0, "data_dir": "data"},
        "raft": {"peers": ["127.0.0.1:6000"]},
        "shard": {"group": 1, "config_servers": ["127.0.0.1:6001"]},
        "limits": {"max_value_bytes": limit},
    }
    return ShardRoleServer(node, parse_role(raw, Path("shard.toml")))  # type: ignore[arg-type]


PEER = PeerInfo(address="127.0.0.1:2", node=None, group=0, cluster="test", version=1)


def test_the_refusal_names_the_limit_and_the_size() -> None:
    assert request_refusal(b"k", b"v" * LIMIT, LIMIT) is None
    refusal = request_refusal(b"k", b"v" * (LIMIT + 1), LIMIT)
    assert refusal == ErrorReply(
        ErrorCode.VALUE_TOO_LARGE,
        f"value of {LIMIT + 1} bytes exceeds the limit of {LIMIT} bytes (max_value_bytes)",
    )


def test_keys_are_held_to_the_storage_limit() -> None:
    assert request_refusal(b"k" * MAX_KEY_BYTES, None, LIMIT) is None
    refusal = request_refusal(b"k" * (MAX_KEY_BYTES + 1), b"v", LIMIT)
    assert refusal is not None and refusal.code is ErrorCode.KEY_TOO_LONG
    assert str(MAX_KEY_BYTES) in refusal.message


async def test_an_oversize_put_never_reaches_the_log() -> None:
    node = RecordingNode()
    reply = await shard_server(node).handle(PEER, KvPut(1, 1, b"k", b"v" * (LIMIT + 1)))
    assert reply.code is ErrorCode.VALUE_TOO_LARGE
    assert f"limit of {LIMIT} bytes" in reply.message
    assert node.proposed == []


async def test_a_put_of_exactly_the_limit_is_proposed() -> None:
    node = RecordingNode()
    reply = await shard_server(node).handle(PEER, KvPut(1, 1, b"k", b"v" * LIMIT))
    assert reply == Written(revision=1, version=1)
    assert len(node.proposed) == 1


@pytest.mark.parametrize(
    "body",
    [KvGet(b"k" * (MAX_KEY_BYTES + 1)), KvDelete(1, 1, b"k" * (MAX_KEY_BYTES + 1))],
    ids=["get", "delete"],
)
async def test_a_key_too_long_is_refused_before_the_log_or_a_read(body: Any) -> None:
    node = RecordingNode()
    reply = await shard_server(node).handle(PEER, body)
    assert reply.code is ErrorCode.KEY_TOO_LONG
    assert (node.proposed, node.reads) == ([], [])


async def test_a_compared_value_over_the_limit_never_reaches_the_log() -> None:
    node = RecordingNode()
    server = shard_server(node)
    over = b"v" * (LIMIT + 1)
    for body in (KvPut(1, 1, b"k", b"v", if_value=over), KvDelete(1, 2, b"k", if_value=over)):
        assert (await server.handle(PEER, body)).code is ErrorCode.VALUE_TOO_LARGE
    both = await server.handle(PEER, KvPut(1, 3, b"k", b"v", if_version=1, if_value=b"v"))
    assert both.code is ErrorCode.BAD_REQUEST
    assert node.proposed == []
    await server.handle(PEER, KvPut(1, 4, b"k", b"v", if_version=0))
    proposed = decode_command(node.proposed[0])
    assert isinstance(proposed, Put) and (proposed.seq, proposed.condition) == (4, 0)


async def test_a_follower_redirects_instead_of_refusing() -> None:
    """Clients take whoever answers for the leader, so only the leader refuses."""
    node = RecordingNode(leader=False)
    reply = await shard_server(node).handle(PEER, KvPut(1, 1, b"k", b"v" * (LIMIT + 1)))
    assert (reply.code, reply.leader) == (ErrorCode.NOT_LEADER, "127.0.0.1:1")
    assert node.proposed == []


def test_a_value_at_the_ceiling_fits_one_frame_wherever_it_travels() -> None:
    """The put, the log entry that carries it to followers, and a migration chunk that
    holds it after a full chunk of other rows: each stays one frame under the frame limit."""
    value = b"v" * MAX_VALUE_BYTES_CEILING
    key = b"k" * MAX_KEY_BYTES
    rows = ((b"a", b"x" * CHUNK_BYTES), (key, value))
    put = encode_command(Put(1, 1, key, value))
    chunk = encode_command(InstallChunk(1, 0, None, rows, (), False))
    cas = encode_command(Put(1, 1, key, value, condition=value))
    failed_cas = {"ok": True, "succeeded": False, "value": value, "version": 1, "mod_revision": 1}
    messages = [
        KvPut(1, 1, key, value),
        KvPut(1, 1, key, value, if_value=value),  # compared and written value both whole
        AppendEntries(1, 0, 1, 0, 0, (Entry(1, 1, put), Entry(1, 2, chunk)), 0),
        AppendEntries(1, 0, 1, 0, 0, (Entry(1, 1, cas), Entry(1, 2, chunk)), 0),
        BucketChunk([list(row) for row in rows], [], False),
        to_written(failed_cas),  # the answer, and a session that travels alone in a chunk
        BucketChunk([], [[1, 1, failed_cas, 0]], False),
    ]
    for message in messages:
        assert len(encode_frame(encode(message))) < DEFAULT_MAX_FRAME_SIZE


def test_a_cas_put_at_the_value_limit_fits_the_nodes_own_frame_limits() -> None:
    """Review finding: a CAS put whose value and if_value were each at max_value_bytes was
    twice the node's client frame limit: the node closed the connection (frame_too_large)
    and the client retried until its timeout. Both limits now hold such a put, its entry
    in AppendEntries, and its session's answer."""
    limit = 1 << 20
    client_frame, peer_frame = frame_limits_for(limit, CHUNK_BYTES)
    key, value = b"k" * MAX_KEY_BYTES, b"v" * limit
    request = Request(1, KvPut(1, 1, key, value, if_value=value))
    assert len(encode_frame(encode(request))) <= client_frame
    cas = encode_command(Put(1, 1, key, value, condition=value))
    append = AppendEntries(1, 0, 1, 0, 0, (Entry(1, 1, cas),), 0)
    assert len(encode_frame(encode(append))) <= peer_frame

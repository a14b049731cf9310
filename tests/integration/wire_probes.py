"""Hostile byte streams for a node's port (hypothesis strategies), and reading what it answers."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from functools import partial
from typing import Any

import msgpack
from hypothesis import strategies as st

from eraft_trio.protocol.envelope import (
    BAD_HANDSHAKE,
    BAD_VERSION,
    FRAME_TOO_LARGE,
    MALFORMED,
    PROTOCOL_VERSION,
    UNEXPECTED,
    WRONG_CLUSTER,
    Hello,
    Request,
    Response,
    Welcome,
)
from eraft_trio.protocol.node import StatusRequest
from eraft_trio.transport.codec import (
    EXT_MESSAGE,
    EXT_TUPLE,
    decode,
    encode,
    registered_types,
    type_id_of,
)
from eraft_trio.transport.errors import ProtocolError
from eraft_trio.transport.framing import DEFAULT_MAX_FRAME_SIZE, HEADER, encode_frame
from eraft_trio.transport.handshake import ANY_CLUSTER

# What a probe requires of the node besides closing the connection after our EOF.
ANSWERED = "answered"  # a Response to the request it sent


@dataclass(frozen=True)
class Probe:
    """Bytes to send on a fresh connection; `expect` an ErrorFrame code, ANSWERED, or None
    when anything goes as long as the node closes the connection and keeps running."""

    kind: str
    payload: bytes
    expect: str | None


def frame(message: Any) -> bytes:
    return encode_frame(encode(message))


def hello(cluster: str, version: int = PROTOCOL_VERSION) -> bytes:
    return frame(Hello(version=version, cluster=cluster, node=None, group=0))


def raw_message(type_id: int, *fields: Any) -> msgpack.ExtType:
    """Message ext `type_id` with `fields`, whether or not the id is registered."""
    return msgpack.ExtType(EXT_MESSAGE, msgpack.packb([type_id, *fields], use_bin_type=True))


def raw_frame(value: Any) -> bytes:
    return encode_frame(msgpack.packb(value, use_bin_type=True))


def unknown_type_probe(cluster: str, type_id: int, in_request: bool) -> Probe:
    """An unregistered message: in place of the Hello, or as the body of a valid Request."""
    unknown = raw_message(type_id, 1)
    if in_request:
        request = raw_message(type_id_of(Request), 1, unknown)
        return Probe("unknown type id in a request", hello(cluster) + raw_frame(request), MALFORMED)
    return Probe("unknown type id", raw_frame(unknown), MALFORMED)


def valid_session(cluster: str) -> bytes:
    """What a correct client sends first: its Hello, then a request."""
    return hello(cluster) + frame(Request(id=1, body=StatusRequest()))


# msgpack values a Request body may hold; none of them is a request the node knows.
_plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=8,
)


def probes(cluster: str) -> st.SearchStrategy[Probe]:
    """Every kind of bad input docs/protocol.md and docs/reference.md name, plus well-formed requests for nothing."""
    known = set(registered_types())
    unknown_ids = st.integers(0, 2**32).filter(lambda i: i not in known)
    session = valid_session(cluster)
    return st.one_of(
        st.builds(lambda b: Probe("random bytes", b, None), st.binary(max_size=300)),
        st.builds(
            lambda b: Probe("random bytes after hello", hello(cluster) + b, None),
            st.binary(min_size=1, max_size=300),
        ),
        st.integers(0, len(session) - 1).map(
            lambda cut: Probe("truncated session", session[:cut], None)
        ),
        st.builds(
            lambda prefix, length, tail: Probe(
                "oversized length prefix",
                (hello(cluster) if prefix else b"") + HEADER.pack(length) + tail,
                FRAME_TOO_LARGE,
            ),
            st.booleans(),
            st.integers(DEFAULT_MAX_FRAME_SIZE + 1, 2**32 - 1),
            st.binary(max_size=64),
        ),
        st.builds(partial(unknown_type_probe, cluster), unknown_ids, st.booleans()),
        st.builds(
            lambda code: Probe(
                "unknown ext type",
                raw_frame(msgpack.ExtType(code, b"\x90")),
                MALFORMED,
            ),
            st.integers(0, 127).filter(lambda c: c not in (EXT_MESSAGE, EXT_TUPLE)),
        ),
        st.builds(
            lambda version: Probe("wrong protocol version", hello(cluster, version), BAD_VERSION),
            st.integers(-(2**63), 2**64 - 1).filter(lambda v: v != PROTOCOL_VERSION),
        ),
        st.builds(
            lambda other: Probe("wrong cluster", hello(other), WRONG_CLUSTER),
            # The empty name is a client's "any cluster" (handshake.ANY_CLUSTER), welcomed.
            st.text(max_size=30).filter(lambda c: c not in (cluster, ANY_CLUSTER)),
        ),
        st.just(Probe("request before hello", frame(Request(1, StatusRequest())), BAD_HANDSHAKE)),
        st.sampled_from(
            [
                Welcome(PROTOCOL_VERSION, cluster, None),
                Response(1, None),
                Hello(PROTOCOL_VERSION, cluster, None, 0),
            ]
        ).map(lambda m: Probe("unexpected message", hello(cluster) + frame(m), UNEXPECTED)),
        st.builds(
            lambda request_id, body: Probe(
                "request for nothing",
                hello(cluster) + frame(Request(request_id, body)),
                ANSWERED,
            ),
            st.integers(0, 2**63 - 1),
            _plain_values,
        ),
        st.lists(
            st.tuples(st.integers(0, len(session) - 1), st.integers(0, 255), st.booleans()),
            min_size=1,
            max_size=4,
        ).map(lambda edits: Probe("mutated session", _mutate(session, edits), None)),
    )


def _mutate(data: bytes, edits: list[tuple[int, int, bool]]) -> bytes:
    """Overwrite (or insert) a byte at each position."""
    out = bytearray(data)
    for position, value, insert in edits:
        if insert:
            out.insert(position, value)
        else:
            out[min(position, len(out) - 1)] = value
    return bytes(out)


def exchange(address: tuple[str, int], payload: bytes, timeout: float) -> tuple[bytes, bool]:
    """Send `payload`, end our side, read until the node closes: (bytes received, closed?).

    `closed` is False only when the node kept the connection open past `timeout`.
    """
    received = bytearray()
    with socket.create_connection(address, timeout=timeout) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the node closed first (it may refuse before reading everything)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            return bytes(received), False
        except OSError:
            pass  # a reset is a close too
    return bytes(received), True


def ask(address: tuple[str, int], payload: bytes, timeout: float) -> list[Any]:
    """Send `payload` and read until a Response arrives or the node closes; the messages.

    Our side stays open meanwhile: a node drops the unanswered requests of a client that
    has closed (even half-closed) its connection, since nobody is left to read them.
    """
    received = bytearray()
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(payload)
        with contextlib.suppress(TimeoutError, OSError):
            while not any(isinstance(m, Response) for m in replies(bytes(received))):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
    return replies(bytes(received))


def replies(data: bytes) -> list[Any]:
    """The messages in the node's byte stream (an undecodable tail ends the list)."""
    messages = []
    pos = 0
    while len(data) - pos >= HEADER.size:
        (length,) = HEADER.unpack_from(data, pos)
        body = data[pos + HEADER.size : pos + HEADER.size + length]
        if len(body) < length:
            break
        try:
            messages.append(decode(body))
        except ProtocolError:
            break
        pos += HEADER.size + length
    return messages

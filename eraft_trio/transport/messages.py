"""The transport's own messages: handshake, error frames and the request/response/push envelopes."""

from __future__ import annotations

from dataclasses import dataclass

from eraft_trio.transport.codec import register

PROTOCOL_VERSION = 1

# ErrorFrame codes. Peers and operators see them, so only ever add codes.
BAD_VERSION = "bad_version"  # Hello with a protocol version this node does not speak
WRONG_CLUSTER = "wrong_cluster"  # Hello naming another cluster
BAD_HANDSHAKE = "bad_handshake"  # the first frame was not a Hello, or none came in time
MALFORMED = "malformed"  # a frame that does not decode, or an unknown message type
FRAME_TOO_LARGE = "frame_too_large"  # a frame over the size limit
UNEXPECTED = "unexpected"  # a valid message this side of the connection does not accept
INTERNAL = "internal"  # the handler failed on a request (sent as that request's Response)


@dataclass(frozen=True, slots=True)
class Hello:
    """Sent first by the connecting side. `node` None: a client; `group`: the sender's Raft group (0: config)."""

    version: int
    cluster: str
    node: int | None
    group: int


@dataclass(frozen=True, slots=True)
class Welcome:
    """The accepting side's answer to an acceptable Hello."""

    version: int
    cluster: str
    node: int | None


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """Sent just before closing on bad input; also the body of a Response whose handler failed."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Request:
    """A call expecting one Response with the same id; ids are unique per connection."""

    id: int
    body: object


@dataclass(frozen=True, slots=True)
class Response:
    id: int
    body: object


@dataclass(frozen=True, slots=True)
class Push:
    """A one-way message (Raft messages between peers); nothing answers it."""

    body: object


register(16, Hello)
register(17, Welcome)
register(18, ErrorFrame)
register(19, Request)
register(20, Response)
register(21, Push)

"""The transport's own messages: handshake, error frames and the request/response/push
envelopes (type ids 16-63). ErrorFrame codes are the transport's refusals, apart from
the ErrorCode of the answers (errors.py)."""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOL_VERSION = 1

# ErrorFrame codes. Peers and operators see them, so only ever add codes.
BAD_VERSION = "bad_version"  # Hello with a protocol version this node does not speak
WRONG_CLUSTER = "wrong_cluster"  # Hello naming another cluster
BAD_HANDSHAKE = "bad_handshake"  # the first frame was not a Hello, or none came in time
MALFORMED = "malformed"  # a frame that does not decode, or an unknown message type
FRAME_TOO_LARGE = "frame_too_large"  # a frame over the size limit
UNEXPECTED = "unexpected"  # a valid message this side of the connection does not accept
INTERNAL = "internal"  # the handler failed on a request (sent as that request's Response)
AUTH_REQUIRED = "auth_required"  # one side demands the cluster secret, the other has none
AUTH_FAILED = "auth_failed"  # a proof of the cluster secret did not verify
TLS_REQUIRED = "tls_required"  # plain TCP to a node that accepts TLS only
TLS_FAILED = "tls_failed"  # the TLS handshake failed (untrusted or missing certificate)
BUSY = "busy"  # refused at accept: too many connections (open, or in their handshake)


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
class Challenge:
    """The accepting side's answer to a Hello when it holds a cluster secret: its fresh nonce."""

    nonce: bytes


@dataclass(frozen=True, slots=True)
class ClientProof:
    """The connecting side's fresh nonce and its MAC over the handshake (security.py)."""

    nonce: bytes
    mac: bytes


@dataclass(frozen=True, slots=True)
class ServerProof:
    """The accepting side's MAC over the same handshake, sent just before its Welcome."""

    mac: bytes


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
class RequestBatch:
    """Requests written together as one frame (`ids[i]` with `bodies[i]`); each is answered
    as if it had come alone, and the answers may come back in ResponseBatch frames."""

    ids: list[int]
    bodies: list[object]


@dataclass(frozen=True, slots=True)
class ResponseBatch:
    """Responses written together as one frame; sent only to a side that sent a RequestBatch."""

    ids: list[int]
    bodies: list[object]


@dataclass(frozen=True, slots=True)
class Push:
    """A one-way message (Raft messages between peers); nothing answers it."""

    body: object

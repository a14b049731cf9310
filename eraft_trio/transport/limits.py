"""What a node's connections may cost: how many, how large a frame, how many bytes in flight.

docs/security.md ("Limits") lists them with their defaults and the role-file keys that
set them; the node computes the frame limits from its value limit and chunk sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

# The largest handshake message is a Hello naming the cluster (a role-file string, at most
# MAX_CLUSTER_NAME_BYTES) or a ClientProof (two 32-byte fields): a few hundred bytes.
# Before a connection has proved itself, nothing larger is read.
HANDSHAKE_FRAME_BYTES = 4 << 10
MAX_CLUSTER_NAME_BYTES = 1 << 10
# Around a value or a chunk of rows: the request envelope, the key (at most 500 bytes), the
# msgpack headers and the fields of the command or message that carries it.
FRAME_OVERHEAD_BYTES = 64 << 10
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_MAX_UNAUTHENTICATED = 128
DEFAULT_MAX_INFLIGHT_BYTES = 128 << 20
DEFAULT_CONNECTION_INFLIGHT_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The accepting side's limits; `client_frame_bytes` and `peer_frame_bytes` apply once
    the handshake says who is at the other end (a client, or a node of the cluster)."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_unauthenticated: int = DEFAULT_MAX_UNAUTHENTICATED
    handshake_frame_bytes: int = HANDSHAKE_FRAME_BYTES
    client_frame_bytes: int = (1 << 20) + FRAME_OVERHEAD_BYTES
    peer_frame_bytes: int = (2 << 20) + FRAME_OVERHEAD_BYTES
    max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES
    connection_inflight_bytes: int = DEFAULT_CONNECTION_INFLIGHT_BYTES

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.max_unauthenticated > self.max_connections:
            raise ValueError("max_unauthenticated must not exceed max_connections")
        largest = max(self.client_frame_bytes, self.peer_frame_bytes)
        # A frame must fit in what one connection (and the node) may hold, or it would
        # wait for room that never comes.
        if self.connection_inflight_bytes < largest:
            raise ValueError(
                f"connection_inflight_bytes ({self.connection_inflight_bytes}) must hold "
                f"the largest frame ({largest})"
            )
        if self.max_inflight_bytes < self.connection_inflight_bytes:
            raise ValueError("max_inflight_bytes must not be below connection_inflight_bytes")

    def frame_limit(self, is_client: bool) -> int:
        return self.client_frame_bytes if is_client else self.peer_frame_bytes


def frame_limits_for(max_value_bytes: int, chunk_bytes: int) -> tuple[int, int]:
    """(client, peer) frame limits of a node that accepts values up to `max_value_bytes`
    and moves state in chunks of `chunk_bytes` (snapshots, bucket migration, AppendEntries).

    A chunk stops before the row that would overflow it unless that row is alone, so the
    largest peer frame is a chunk or a single row; the sum covers both with room to spare.
    The largest request is a compare-and-set put: its value and its `if_value` may each
    be `max_value_bytes` (docs/reference.md, limits), and so may its log entry.
    """
    client = 2 * max_value_bytes + FRAME_OVERHEAD_BYTES
    peer = chunk_bytes + 2 * max_value_bytes + FRAME_OVERHEAD_BYTES
    return client, peer

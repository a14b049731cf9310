"""A node's connection limits, from its role file and the sizes its parts move state in."""

from __future__ import annotations

import logging
import resource

from eraft_trio.raft.config import RaftConfig
from eraft_trio.roles.shard.server import CHUNK_BYTES as MIGRATION_CHUNK_BYTES
from eraft_trio.runtime.raft_node import SNAPSHOT_CHUNK_BYTES
from eraft_trio.runtime.role_file import RoleFile, RoleFileError
from eraft_trio.transport.limits import (
    DEFAULT_CONNECTION_INFLIGHT_BYTES,
    ConnectionLimits,
    frame_limits_for,
)

log = logging.getLogger(__name__)

# File descriptors the node needs besides its accepted connections: storage, listeners,
# its own connections to peers and the config group, the metrics endpoint.
SPARE_FILE_DESCRIPTORS = 256


def state_chunk_bytes(raft: RaftConfig) -> int:
    """The largest batch of state one node sends another: a snapshot chunk, a migration
    chunk, or the entries of one AppendEntries."""
    return max(SNAPSHOT_CHUNK_BYTES, MIGRATION_CHUNK_BYTES, raft.max_msg_bytes)


def connection_limits_for(role: RoleFile, raft: RaftConfig) -> ConnectionLimits:
    """RoleFileError naming `limits.max_inflight_bytes` when it cannot hold the largest frame."""
    client_frame, peer_frame = frame_limits_for(role.max_value_bytes, state_chunk_bytes(raft))
    per_connection = min(
        role.max_inflight_bytes, max(DEFAULT_CONNECTION_INFLIGHT_BYTES, 2 * peer_frame)
    )
    if role.max_inflight_bytes < peer_frame:
        raise RoleFileError(
            role.path,
            "limits.max_inflight_bytes",
            f"must be at least {peer_frame} (the largest frame a peer may send, "
            "from max_value_bytes and the chunk size)",
        )
    return ConnectionLimits(
        max_connections=role.max_connections,
        max_unauthenticated=role.max_unauthenticated_connections,
        client_frame_bytes=client_frame,
        peer_frame_bytes=peer_frame,
        max_inflight_bytes=role.max_inflight_bytes,
        connection_inflight_bytes=per_connection,
    )


def raise_open_file_limit(limits: ConnectionLimits) -> None:
    """Raise the soft limit on open files towards what `max_connections` needs (up to the
    hard limit), as Go programs do at start; a default of 1024 would refuse connections
    below the cap with EMFILE instead of a clear `busy`."""
    wanted = limits.max_connections + SPARE_FILE_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if target > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < wanted:
            log.warning(
                "open files are limited to %d (hard limit): fewer than the %d that "
                "max_connections = %d needs",
                target,
                wanted,
                limits.max_connections,
            )

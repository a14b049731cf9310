"""Wire messages of the node runtime: snapshot chunks and status requests (codec ids 64-71)."""

from __future__ import annotations

from dataclasses import dataclass

from eraft_trio.raft.types import SnapshotMeta
from eraft_trio.transport.codec import register


@dataclass(frozen=True, slots=True)
class SnapshotChunk:
    """One piece of a snapshot stream from leader `src` to `dst` (a Request; acked each).

    `seq` counts chunks from 0; the receiver stages them in order and steps
    InstallSnapshot into its core once the chunk with `done` arrives.
    """

    term: int
    src: int
    dst: int
    meta: SnapshotMeta
    seq: int
    data: bytes
    done: bool


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """Ask a node for its statistics() (any role)."""


@dataclass(frozen=True, slots=True)
class TransferLeadership:
    """Ask a leader to hand leadership to node `target` of its group."""

    target: int


register(64, SnapshotChunk)
register(65, StatusRequest)
register(66, TransferLeadership)

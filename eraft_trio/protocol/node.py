"""Wire messages of the node runtime: snapshot chunks, status, leadership, drain and
membership requests (type ids 64-71)."""

from __future__ import annotations

from dataclasses import dataclass

from eraft_trio.raft.types import SnapshotMeta


@dataclass(frozen=True, slots=True)
class SnapshotChunk:
    """One piece of a snapshot stream from leader `src` to `dst` (a Request; acked each).

    `(term, src, transfer)` names one transfer: `transfer` is the sender's own counter,
    so two transfers of the same snapshot from the same leader in the same term differ.
    `seq` counts that transfer's chunks from 0, and the receiver takes only the next
    one it expects. `rows` and `checksum` are the sender's totals so far, this chunk
    included (rows, and the CRC-32 of every chunk's `data` in order): the receiver
    checks what it staged against them, and steps InstallSnapshot into its core only
    once the chunk with `done` (no data of its own) agrees.
    """

    term: int
    src: int
    dst: int
    meta: SnapshotMeta
    transfer: int
    seq: int
    data: bytes
    done: bool
    rows: int
    checksum: int


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """Ask a node for its statistics() (any role)."""


@dataclass(frozen=True, slots=True)
class TransferLeadership:
    """Ask a leader to hand leadership to node `target` of its group."""

    target: int


@dataclass(frozen=True, slots=True)
class Drain:
    """Drain a node (`drained`: move leadership off it and keep it from campaigning),
    or undrain it. Answered with Drained (replies.py)."""

    drained: bool


@dataclass(frozen=True, slots=True)
class MemberList:
    """Ask any node of a group for its members as it sees them (membership_service.py)."""


@dataclass(frozen=True, slots=True)
class MemberChange:
    """Ask a group's leader to change its members (membership_service.py).

    `action`: "add" (`addr` joins as a learner), "promote" (the learner at `addr` becomes
    a voter, once caught up) or "remove" (the member at `addr` leaves).
    """

    action: str
    addr: str

"""The Raft core's vocabulary: log entries, persistent state and messages, as frozen dataclasses.

These types sit at the bottom of the import graph so that storage and transport can
encode them without importing anything above. Node ids are small integers: a node's
index in its group's `peers` list.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class EntryKind(enum.IntEnum):
    NORMAL = 0  # an application command; `data` is opaque to the core
    NOOP = 1  # appended by every new leader so it can commit in its own term (§5.4.2, §8)


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    data: bytes = b""
    kind: EntryKind = EntryKind.NORMAL


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk before a node answers anyone (Figure 2, "persistent state")."""

    term: int = 0
    vote: int | None = None
    commit: int = 0


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """The last log position a snapshot covers; index 0 means "no snapshot"."""

    index: int = 0
    term: int = 0


# --- messages -----------------------------------------------------------------------------
# Every message names its sender (`src`), its receiver (`dst`) and the sender's term.


@dataclass(frozen=True, slots=True)
class RequestVote:
    """A vote request (§5.2), or a pre-vote probe (thesis §9.6) when `pre_vote` is set.

    A pre-vote carries the term the candidate *would* use (its term + 1) without the
    candidate having incremented its own. `transfer` marks a campaign started by
    TimeoutNow, which voters honour even while they believe a leader is alive.
    """

    term: int
    src: int
    dst: int
    last_index: int
    last_term: int
    pre_vote: bool = False
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class VoteResponse:
    term: int
    src: int
    dst: int
    granted: bool
    pre_vote: bool = False


@dataclass(frozen=True, slots=True)
class AppendEntries:
    term: int
    src: int
    dst: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int


@dataclass(frozen=True, slots=True)
class AppendResponse:
    """Answer to AppendEntries.

    On success `index` is the last index the follower now matches. On rejection,
    `index` is the rejected `prev_index` and the hints follow the fast backtracking of
    §5.3: `hint_index` is where the leader should look next and `hint_term` the term of
    the follower's entry there (0 when the follower's log is simply too short).
    """

    term: int
    src: int
    dst: int
    success: bool
    index: int
    hint_index: int = 0
    hint_term: int = 0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Leader liveness plus the commit index the follower may safely adopt.

    `read_seq` > 0 asks the follower to echo it back; it confirms leadership for the
    ReadIndex reads waiting on that sequence number (thesis §6.4).
    """

    term: int
    src: int
    dst: int
    commit: int
    read_seq: int = 0


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    term: int
    src: int
    dst: int
    read_seq: int = 0


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """Asks `dst` to replace its state with a snapshot (§7).

    The core only names the snapshot; its bytes travel out of band. On the leader the
    driver streams the state machine's current state in chunks and, on the follower,
    steps this message into the core (with `meta` describing what was actually
    received) only once every chunk is staged. `meta` may therefore be newer on
    arrival than when the leader's core emitted it; both are committed prefixes.
    """

    term: int
    src: int
    dst: int
    meta: SnapshotMeta


@dataclass(frozen=True, slots=True)
class SnapshotResponse:
    """`index` is the follower's commit index after handling the snapshot."""

    term: int
    src: int
    dst: int
    success: bool
    index: int


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leadership transfer: tells the target to campaign at once (thesis §3.10)."""

    term: int
    src: int
    dst: int


Message = (
    RequestVote
    | VoteResponse
    | AppendEntries
    | AppendResponse
    | Heartbeat
    | HeartbeatResponse
    | InstallSnapshot
    | SnapshotResponse
    | TimeoutNow
)

MESSAGE_TYPES: tuple[type, ...] = (
    RequestVote,
    VoteResponse,
    AppendEntries,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    SnapshotResponse,
    TimeoutNow,
)


# --- the core's outputs -------------------------------------------------------------------


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile facts the driver reacts to (wake waiters, redirect clients)."""

    role: Role
    leader: int | None


@dataclass(frozen=True, slots=True)
class ReadState:
    """ReadIndex answer: the read tagged `ctx` may be served once `index` is applied."""

    ctx: int
    index: int


@dataclass(slots=True)
class Ready:
    """One batch of work for the driver: persist, send, apply, then `advance(ready)`.

    Order of the driver's duties:
    1. send `messages` right away (they do not depend on this batch being durable);
    2. durably write, in one transaction: `snapshot` (restore the staged state machine
       and reset the log to start after it), then `entries` (replacing any stored
       entries from `entries[0].index` on), then `hard_state`;
       `committed` may be applied in that same transaction (they are all already
       durable in the log);
    3. only then send `persisted_messages` and answer clients of `committed`;
    4. call `advance(ready)`.
    """

    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: SnapshotMeta | None = None
    messages: list[Message] = field(default_factory=list)
    persisted_messages: list[Message] = field(default_factory=list)
    committed: list[Entry] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    soft_state: SoftState | None = None

    def is_empty(self) -> bool:
        return not (
            self.hard_state
            or self.entries
            or self.snapshot
            or self.messages
            or self.persisted_messages
            or self.committed
            or self.read_states
            or self.soft_state
        )

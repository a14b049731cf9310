"""The Raft core's vocabulary: log entries, persistent state and messages, as frozen dataclasses.

These types sit at the bottom of the import graph so that storage and transport can
encode them without importing anything above. Node ids are small integers: a node's
index in its group's `peers` list.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from eraft_trio.raft.membership import Membership


class EntryKind(enum.IntEnum):
    NORMAL = 0  # an application command; `data` is opaque to the core
    NOOP = 1  # appended by every new leader so it can commit in its own term (§5.4.2, §8)
    # `data` is the group's whole membership after a change (Membership.encode), in force
    # from the moment the entry is in a node's log (docs/divergence.md, "Membership").
    CONF_CHANGE = 2


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
    """The last log position a snapshot covers; index 0 means "no snapshot".

    `membership` is the group's membership at `index`, None while it is still the
    membership the group was started with (RaftConfig.peers).
    """

    index: int = 0
    term: int = 0
    membership: Membership | None = None


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
    """One batch of work for the driver, acknowledged with `advance(ready)`.

    One Ready is outstanding at a time: calling `ready()` again before `advance()` is
    an error, and whatever is stepped into the core meanwhile (messages, proposals,
    reads) goes into the next one; that is the group commit. What the node's driver
    (eraft_trio/runtime/raft_node.py) does with each, in this order:

    1. `messages` are sent at once: they need nothing of this batch on disk (a
       leader's appends, heartbeats, snapshots and TimeoutNow, in a term it made
       durable when it campaigned, thesis §10.2.1; pre-votes). An InstallSnapshot is
       not sent as it is: it starts a transfer of the state machine's latest snapshot in chunks,
       whose outcome the driver reports with `report_snapshot`; the receiving driver
       steps the InstallSnapshot into its core only once every chunk is staged.
    2. `snapshot`: the staged snapshot is installed into the state machine, after
       every apply queued before it, and waited for.
    3. `committed` go to the apply pipeline, which applies them in log order in the
       state store's own transactions while the driver goes on with step 4 and
       later batches. They are durable already (the core hands out only entries it
       knows are stable), so applying them before this batch's write ends is safe.
       Proposers are answered from inside the apply.
    4. One durable log write (one fdatasync): the log reset to start after
       `snapshot`, if any; then `entries`, replacing any stored entries from
       `entries[0].index` on; then `hard_state`; with any compaction the driver
       decided. Nothing is written for a batch without these.
    5. `persisted_messages` are sent: they vouch for what step 4 made durable
       (votes, acknowledgements of entries; Figure 2's rule that persistent state
       is updated before responding).
    6. `read_states`: the read tagged `ctx` is served once the state machine has
       applied `index` (thesis §6.4).
    7. `soft_state`, if the node stopped leading: every waiting proposal fails with
       "outcome unknown" and every waiting read with not-leader.
    8. `advance(ready)`: the log write is done and `committed` is handed to the
       apply pipeline, not necessarily applied; the core's `applied` counts what
       was handed out, and the driver compacts the log only up to what the state
       machine holds.
    """

    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: SnapshotMeta | None = None
    messages: list[Message] = field(default_factory=list)
    persisted_messages: list[Message] = field(default_factory=list)
    committed: list[Entry] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    soft_state: SoftState | None = None

"""The leader's view of one follower's replication: probe, replicate or snapshot.

As in etcd-io/raft: in PROBE the leader sends one AppendEntries at a time until it
finds where the logs match; in REPLICATE it streams optimistically, with at most
`max_inflight` unacknowledged messages; in SNAPSHOT it waits for a snapshot transfer.
"""

from __future__ import annotations

import enum
from collections import deque


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Progress:
    """Read its fields freely; change them only through the methods, which keep the
    state, the window and the indexes consistent with each other."""

    __slots__ = (
        "_match",
        "_next",
        "_state",
        "_probe_sent",
        "_inflight",
        "_pending_snapshot",
        "_snapshot_ticks",
        "_recent_active",
    )

    def __init__(self, next_index: int, *, recent_active: bool = False) -> None:
        self._match = 0
        self._next = next_index
        self._state = ProgressState.PROBE
        self._probe_sent = False
        # Last index of each AppendEntries in flight (REPLICATE only), oldest first.
        self._inflight: deque[int] = deque()
        self._pending_snapshot = 0
        self._snapshot_ticks = 0
        # Heard from since the last check-quorum round (thesis §6.2).
        self._recent_active = recent_active

    @property
    def match(self) -> int:
        """The follower's log is known to match ours up to here."""
        return self._match

    @property
    def next(self) -> int:
        """The next index to send."""
        return self._next

    @property
    def state(self) -> ProgressState:
        return self._state

    @property
    def pending_snapshot(self) -> int:
        """In SNAPSHOT: the index of the snapshot being sent."""
        return self._pending_snapshot

    @property
    def recent_active(self) -> bool:
        return self._recent_active

    # --- state changes ----------------------------------------------------------------------

    def become_probe(self) -> None:
        if self._state is ProgressState.SNAPSHOT:
            self._next = max(self._match + 1, self._pending_snapshot + 1)
        else:
            self._next = self._match + 1
        self._state = ProgressState.PROBE
        self._probe_sent = False
        self._inflight.clear()
        self._pending_snapshot = 0

    def become_replicate(self) -> None:
        self._state = ProgressState.REPLICATE
        self._next = self._match + 1
        self._probe_sent = False
        self._inflight.clear()

    def become_snapshot(self, index: int) -> None:
        self._state = ProgressState.SNAPSHOT
        self._pending_snapshot = index
        self._snapshot_ticks = 0
        self._inflight.clear()

    def snapshot_failed(self) -> None:
        """The snapshot in flight was lost or refused: probe again, forgetting it."""
        self._pending_snapshot = 0
        self.become_probe()

    def tick_snapshot(self, timeout_ticks: int) -> bool:
        """Count a tick in SNAPSHOT; True once the transfer has had `timeout_ticks`."""
        self._snapshot_ticks += 1
        return self._snapshot_ticks >= timeout_ticks

    # --- answers from the follower ----------------------------------------------------------

    def maybe_update(self, index: int) -> bool:
        """A successful append up to `index`; False if the answer is stale."""
        updated = index > self._match
        if updated:
            self._match = index
            self._probe_sent = False
        self._next = max(self._next, index + 1)
        while self._inflight and self._inflight[0] <= index:
            self._inflight.popleft()
        return updated

    def maybe_decrease(self, rejected: int, hint: int) -> bool:
        """A rejected append at `rejected`; False if the rejection is stale (§5.3)."""
        if self._state is ProgressState.REPLICATE:
            if rejected <= self._match:
                return False
            self._next = self._match + 1
            return True
        if self._next - 1 != rejected:
            return False
        self._next = max(min(rejected, hint + 1), self._match + 1)
        self._probe_sent = False
        return True

    def mark_recent_active(self) -> None:
        self._recent_active = True

    def reset_recent_active(self) -> None:
        """Start a new check-quorum round: not heard from yet."""
        self._recent_active = False

    def allow_probe(self) -> None:
        """The follower answered a heartbeat: it is alive, so the next probe may go."""
        self._probe_sent = False

    def free_first_inflight(self) -> None:
        """Release the oldest append of the window, as if it had been acknowledged."""
        if self._inflight:
            self._inflight.popleft()

    # --- sending ------------------------------------------------------------------------------

    def sent_entries(self, last_index: int) -> None:
        """Bookkeeping after sending entries up to `last_index`."""
        if self._state is ProgressState.REPLICATE:
            self._next = last_index + 1
            self._inflight.append(last_index)
        else:
            self._probe_sent = True

    def is_paused(self, max_inflight: int) -> bool:
        if self._state is ProgressState.PROBE:
            return self._probe_sent
        if self._state is ProgressState.REPLICATE:
            return len(self._inflight) >= max_inflight
        return True

    def describe(self) -> dict[str, object]:
        return {
            "match": self._match,
            "next": self._next,
            "state": self._state.value,
            "inflight": len(self._inflight),
            "recent_active": self._recent_active,
        }

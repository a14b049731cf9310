"""Bytes in flight: a node-wide budget for received frames, and each connection's share of it.

A request's bytes are counted from the moment its frame is reserved (before the body of
a large frame is read) until its answer is queued. A connection that wants more than its
share, or more than the node has left, waits: it stops reading, so TCP slows its sender
(docs/security.md, "Limits").
"""

from __future__ import annotations

from collections import deque

import trio


class InflightBudget:
    """At most `capacity` bytes taken at once, node-wide; takers are served in arrival
    order, so a large frame is not starved by a stream of small ones."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be positive, not {capacity}")
        self.capacity = capacity
        self.used = 0
        self.waits = 0  # takes that had to wait: a node under memory pressure shows it here
        self._waiters: deque[tuple[int, trio.Event]] = deque()

    def try_take(self, n: int) -> bool:
        n = self._clamp(n)
        if self._waiters or self.used + n > self.capacity:
            return False
        self.used += n
        return True

    async def take(self, n: int) -> None:
        """Wait until `n` bytes fit (a take larger than the whole budget waits for all of it)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self.try_take(n):
            # Bytes taken must reach the caller: a cancellation here would lose them from
            # the budget for good (review finding), so this checkpoint only yields.
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        self.waits += 1
        entry = (self._clamp(n), trio.Event())
        self._waiters.append(entry)
        try:
            await entry[1].wait()
        except BaseException:
            if entry[1].is_set():
                self.give_back(n)  # granted just as we were cancelled
            else:
                self._waiters.remove(entry)
                self._grant()  # we may have been the head that blocked the others
            raise

    def give_back(self, n: int) -> None:
        self.used -= self._clamp(n)
        assert self.used >= 0, "gave back more than was taken"
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self.used + self._waiters[0][0] <= self.capacity:
            n, event = self._waiters.popleft()
            self.used += n
            event.set()

    def _clamp(self, n: int) -> int:
        return min(n, self.capacity)

    def statistics(self) -> dict[str, int]:
        return {
            "inflight_bytes": self.used,
            "inflight_capacity": self.capacity,
            "inflight_waiting": len(self._waiters),
            "inflight_waits": self.waits,
        }


class ConnectionShare:
    """One connection's part of the node budget: at most `limit` bytes of its own, and
    everything it holds is given back when the connection closes (`give_back_all`).

    Only the connection's reader takes; its request tasks give back.
    """

    def __init__(self, budget: InflightBudget, limit: int) -> None:
        self.budget = budget
        self.limit = limit
        self.held = 0
        self._freed = trio.Event()

    def try_take(self, n: int) -> bool:
        """Take `n` bytes now if they fit, without a checkpoint (the common case)."""
        if self.held and self.held + n > self.limit:
            return False
        if not self.budget.try_take(n):
            return False
        self.held += n
        return True

    async def take(self, n: int) -> None:
        # Waiting for our own requests to finish comes first, so one connection cannot
        # queue for more of the node budget than its share.
        while self.held and self.held + n > self.limit:
            self._freed = trio.Event()
            await self._freed.wait()
        await self.budget.take(n)
        self.held += n

    def give_back(self, n: int) -> None:
        self.held -= n
        self.budget.give_back(n)
        self._freed.set()

    def give_back_all(self) -> None:
        if self.held:
            self.give_back(self.held)

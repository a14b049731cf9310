"""Deadlines and backoff shared by the client's retry loops."""

from __future__ import annotations

import random

import trio

from eraft_trio.errors import OperationTimeout

# A single try never waits longer than this, so a stalled connection (a cut TCP link
# does not reset) costs one try, not the whole operation.
MAX_TRY_SECONDS = 2.0


class Deadline:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.at = trio.current_time() + timeout
        self._backoff = 0.005

    @property
    def remaining(self) -> float:
        return self.at - trio.current_time()

    def try_timeout(self) -> float:
        remaining = self.remaining
        if remaining <= 0:
            raise OperationTimeout(f"no answer within {self.timeout:g}s")
        return min(remaining, max(MAX_TRY_SECONDS, self.timeout / 4))

    async def backoff(self, what: str) -> None:
        """Sleep a little (growing, jittered) before the next try, or time out."""
        delay = min(self._backoff * (0.5 + random.random()), max(0.0, self.remaining))
        self._backoff = min(self._backoff * 2, 0.25)
        if self.remaining <= delay:
            raise OperationTimeout(f"no answer within {self.timeout:g}s (last: {what})")
        await trio.sleep(delay)

"""The k-way merge of a scan's bucket pages into one stream in key order (no I/O).

Each bucket is an ordered stream of its own, fetched a page at a time from its cursor
(the last key fetched). The smallest key of the whole scan is known only once every
bucket that may still have rows has some buffered, so `wanted()` names the buckets to
fetch before `pop()` may answer. Buffers hold at most one page per bucket, so memory is
bounded by buckets x page size, whatever the scan's length.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from eraft_trio.errors import EraftError
from eraft_trio.protocol.scan import ScanBucketPage, ScanCursor, ScanRow


@dataclass(frozen=True, slots=True)
class ScanItem:
    """One key of a scan: its value (None when the scan asked for keys only), its version
    and its mod revision, as read by the key's group (docs/reference.md, "Scans")."""

    key: bytes
    value: bytes | None
    version: int
    mod_revision: int


class ScanMerge:
    """The buckets of one scan: cursors, buffered rows and the heap of their first keys."""

    def __init__(self, buckets: Iterable[int], after: bytes | None) -> None:
        self._cursors: dict[int, bytes | None] = dict.fromkeys(buckets, after)
        self._open = set(self._cursors)  # buckets whose rows past the cursor are unknown
        self._buffers: dict[int, deque[ScanRow]] = {}
        self._heap: list[tuple[bytes, int]] = []  # (first buffered key, bucket)

    def wanted(self) -> list[ScanCursor]:
        """The buckets to fetch next (open, nothing buffered), in bucket order."""
        return [
            ScanCursor(bucket, self._cursors[bucket])
            for bucket in sorted(self._open)
            if not self._buffers.get(bucket)
        ]

    def add(self, page: ScanBucketPage) -> bool:
        """Take one bucket's page; whether it moved the bucket on (rows, or its end).

        A page that does not follow the bucket's cursor in key order is a server bug that
        would repeat or skip keys: EraftError, rather than a wrong answer.
        """
        bucket = page.bucket
        if bucket not in self._open or self._buffers.get(bucket):
            raise EraftError(f"a scan page for bucket {bucket}, which was not asked for")
        previous = self._cursors[bucket]
        for row in page.rows:
            if previous is not None and row[0] <= previous:
                raise EraftError(f"a scan page of bucket {bucket} is out of key order")
            previous = row[0]
        if page.rows:
            self._buffers[bucket] = deque(page.rows)
            self._cursors[bucket] = previous
            heapq.heappush(self._heap, (page.rows[0][0], bucket))
        if not page.more:
            self._open.discard(bucket)
        return bool(page.rows) or not page.more

    def pop(self) -> ScanItem | None:
        """The smallest key not yet taken; None when the scan has no more. Only once
        `wanted()` is empty (every open bucket has rows buffered)."""
        if not self._heap:
            return None
        _, bucket = heapq.heappop(self._heap)
        buffer = self._buffers[bucket]
        key, value, version, mod_revision = buffer.popleft()
        if buffer:
            heapq.heappush(self._heap, (buffer[0][0], bucket))
        return ScanItem(bytes(key), None if value is None else bytes(value), version, mod_revision)

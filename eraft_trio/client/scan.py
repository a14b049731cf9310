"""Client.scan: every key with a prefix, from every bucket, in key order, a page at a time.

The driver of ScanMerge (scan_merge.py): it asks each group that owns buckets still
wanted for one page of them (one KvScan per group, groups at once), and hands the pages
to the merge. A bucket the group no longer serves (`moved`) or a group that does not
answer makes it refresh its config and ask the new owner from the same cursor, so a
scan outlives bucket moves; the cursor is the last key fetched, so no key comes twice.
The operation timeout bounds each stall (a page not answered), not the whole scan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import trio

from eraft_trio.client.kv_client import Client, single_exception
from eraft_trio.client.scan_merge import ScanItem, ScanMerge
from eraft_trio.errors import BadRequest, EraftError
from eraft_trio.group_calls.deadline import Deadline
from eraft_trio.group_calls.group_caller import GroupUnreachable
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.keys import bucket_of, hash_tag
from eraft_trio.protocol.limits import MAX_KEY_BYTES
from eraft_trio.protocol.scan import KvScan, ScanCursor, ScanPage

__all__ = ["ScanItem", "ScanIterator"]

# Rows of one bucket and bytes of one answer per request: a page of about 1 MiB, the
# size of a client frame, so a scan holds at most one such page per bucket.
PAGE_ROWS = 1000
PAGE_BYTES = 1 << 20
# A request names each bucket's cursor, a key of up to 500 bytes: 64 of them stay within
# the frame overhead a node allows a client (64 KiB) whatever its max_value_bytes.
BUCKETS_PER_REQUEST = 64
_REFUSALS = frozenset({ErrorCode.BAD_REQUEST, ErrorCode.KEY_TOO_LONG})


def _key_argument(value: str | bytes, what: str) -> bytes:
    data = value.encode() if isinstance(value, str) else bytes(value)
    if len(data) > MAX_KEY_BYTES:
        raise BadRequest(
            "key_too_long", f"{what} of {len(data)} bytes; the limit is {MAX_KEY_BYTES}"
        )
    return data


class ScanIterator(AsyncIterator[ScanItem]):
    """`async for item in client.scan(...)`: the items in key order, fetched as needed."""

    def __init__(
        self,
        client: Client,
        prefix: str | bytes = b"",
        *,
        limit: int | None = None,
        after: str | bytes | None = None,
        keys_only: bool = False,
        page_rows: int = PAGE_ROWS,
        page_bytes: int = PAGE_BYTES,
    ) -> None:
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 0
        ):
            raise BadRequest("bad_request", f"limit must be an integer >= 0, not {limit!r}")
        if page_rows < 1 or page_bytes < 1:
            raise BadRequest("bad_request", "page_rows and page_bytes must be >= 1")
        self._client = client
        self.prefix = _key_argument(prefix, "prefix")
        self.after = None if after is None else _key_argument(after, "after")
        self.limit = limit
        self.keys_only = bool(keys_only)
        self._page_rows = page_rows
        self._page_bytes = page_bytes
        self._merge: ScanMerge | None = None
        self._taken = 0
        self._stall: Deadline | None = None  # since the last page that moved the scan on
        self.buckets: tuple[int, ...] = ()  # the buckets scanned, known once it started

    def __aiter__(self) -> ScanIterator:
        return self

    async def __anext__(self) -> ScanItem:
        item = await self.next_item()
        if item is None:
            raise StopAsyncIteration
        return item

    async def next_item(self) -> ScanItem | None:
        """The next item in key order; None once the scan is over (or reached its limit)."""
        if self.limit is not None and self._taken >= self.limit:
            return None
        merge = self._merge or await self._start()
        while wanted := merge.wanted():
            await self._fetch(merge, wanted)
        item = merge.pop()
        if item is not None:
            self._taken += 1
        return item

    async def _start(self) -> ScanMerge:
        config = self._client.config or await self._client._refresh_config(
            Deadline(self._client.timeout), -1
        )
        nbuckets = len(config["buckets"])
        if hash_tag(self.prefix) != self.prefix:
            # Every key with this prefix has the prefix's hash tag, so the same bucket.
            buckets: list[int] = [bucket_of(self.prefix, nbuckets)]
        else:
            buckets = list(range(nbuckets))
        self.buckets = tuple(buckets)
        self._merge = ScanMerge(buckets, self.after)
        return self._merge

    async def _fetch(self, merge: ScanMerge, wanted: list[ScanCursor]) -> None:
        """One round: a page from each group owning wanted buckets; then, if a bucket is
        not where the config says (or has no owner), a newer config after a backoff."""
        client = self._client
        deadline = Deadline(client.timeout)
        config = client.config or await client._refresh_config(deadline, -1)
        rows = self._page_rows
        if self.limit is not None:
            rows = max(1, min(rows, self.limit - self._taken))
        requests: list[tuple[int, tuple[str, ...], KvScan]] = []
        by_group: dict[int, list[ScanCursor]] = {}
        lost = False  # a bucket with no group to ask
        for cursor in wanted:
            gid = config["buckets"][cursor.bucket]
            if gid == 0 or not config["groups"].get(str(gid)):
                lost = True
            else:
                by_group.setdefault(gid, []).append(cursor)
        for gid, cursors in by_group.items():
            addresses = tuple(config["groups"][str(gid)])
            for at in range(0, len(cursors), BUCKETS_PER_REQUEST):
                chunk = cursors[at : at + BUCKETS_PER_REQUEST]
                body = KvScan(chunk, self.prefix, rows, self._page_bytes, self.keys_only)
                requests.append((gid, addresses, body))
        answers: list[ScanPage | None] = [None] * len(requests)

        async def ask(n: int, gid: int, addresses: tuple[str, ...], body: KvScan) -> None:
            answers[n] = await self._ask(gid, addresses, body, deadline)

        try:
            async with trio.open_nursery() as nursery:
                for n, request in enumerate(requests):
                    nursery.start_soon(ask, n, *request)
        except BaseExceptionGroup as group:
            raise single_exception(group) from None
        progress, waiting, stale = False, lost, lost
        for answer in answers:
            if answer is None:
                # No member answers: the group may have left, its buckets with it.
                waiting = stale = True
                continue
            for page in answer.pages:
                progress = merge.add(page) or progress
            if answer.moved:
                waiting = True
                # Our config is stale unless the group is behind it (then it catches up).
                stale = stale or answer.num >= config["num"]
        if progress:
            self._stall = None
        if waiting or not progress:
            # (No progress without a bucket waiting would be a group leaving a bucket out
            # of its answer: backing off bounds that by the timeout too, not a busy loop.)
            self._stall = self._stall or Deadline(client.timeout)
            await self._stall.backoff("a bucket of the scan is not served where expected")
            if stale:
                await client._refresh_config(self._stall, config["num"])

    async def _ask(
        self, gid: int, addresses: tuple[str, ...], body: KvScan, deadline: Deadline
    ) -> ScanPage | None:
        """One group's page; None when no member answers (the config may be stale)."""
        group = self._client._group(gid, addresses)
        try:
            reply: Any = await group.call(body, deadline, raise_unreachable=True)
        except GroupUnreachable:
            return None
        if type(reply) is ScanPage:
            return reply
        if type(reply) is ErrorReply:
            if reply.code in _REFUSALS:
                raise BadRequest(reply.code, reply.message)
            raise EraftError(f"{reply.code}: {reply.message}")
        raise EraftError(f"a scan answered {type(reply).__name__}")

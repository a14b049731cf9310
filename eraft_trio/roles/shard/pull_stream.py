"""One bucket's pull as a stream: chunks fetched ahead of their installs, installed in order.

The network side of migration (trio), used by the shard server's leader. The fetcher
asks the old owner for the chunk after the cursor the previous chunk leaves once
installed (transfer.next_cursor), without waiting for that install; a bounded channel
holds at most CHUNKS_AHEAD fetched chunks, so memory stays bounded per bucket. The
installer proposes them in the order fetched, up to INSTALLS_AHEAD unanswered at once
(one chunk at a time left the log idle between a chunk's apply and the next proposal):
each InstallChunk names the cursor it follows, and the state machine applies it only if
that is the cursor it holds, so a chunk can never be installed out of order or twice.
The first chunk that does not apply ends the stream (those proposed behind it do not
apply either); the next attempt starts from the replicated cursor.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

from eraft_trio.protocol.errors import ErrorReply
from eraft_trio.protocol.replies import BucketChunk
from eraft_trio.protocol.shard import FetchBucket
from eraft_trio.roles.shard import transfer
from eraft_trio.roles.shard.commands import InstallChunk, session_entry, watch_event_entries

log = logging.getLogger(__name__)

CHUNKS_AHEAD = 2  # fetched chunks waiting for their install, per bucket
# Chunks of a bucket proposed and not yet answered: with 1 the log idled between a
# chunk's apply and the next proposal (tools/migration_bench.py, BENCHMARKS.md).
INSTALLS_AHEAD = 3

Fetch = Callable[[FetchBucket], Awaitable[BucketChunk | ErrorReply]]
# Proposes the chunk at once (behind every one proposed before it); the function it
# returns waits for the answer: whether the chunk applied.
BeginInstall = Callable[[InstallChunk], Callable[[], Awaitable[bool]]]


@dataclass
class PullProgress:
    """What this leader installed of one bucket so far, for `eraft ctl status`."""

    bucket: int
    num: int
    from_gid: int
    started: float  # trio.current_time() when this leader began pulling it
    bytes: int = 0
    rows: int = 0
    chunks: int = 0

    def add(self, install: InstallChunk) -> int:
        """Count an installed chunk; its bytes of keys and records (values with their
        16-byte version head)."""
        size = sum(len(key) + len(value) for key, value in install.rows)
        self.bytes += size
        self.rows += len(install.rows)
        self.chunks += 1
        return size

    def to_json(self, now: float) -> dict[str, Any]:
        seconds = max(now - self.started, 1e-9)
        return {
            "bucket": self.bucket,
            "num": self.num,
            "from_gid": self.from_gid,
            "bytes": self.bytes,
            "rows": self.rows,
            "chunks": self.chunks,
            "seconds": round(seconds, 3),
            "bytes_per_s": round(self.bytes / seconds),
        }


async def stream_bucket(
    pull: dict[str, Any], chunk_bytes: int, fetch: Fetch, begin_install: BeginInstall
) -> None:
    """Pull the bucket of a `("pulls",)` entry from its cursor on, until it is done or a
    chunk cannot be fetched or installed (errors of `fetch` and `install` propagate)."""
    send, receive = trio.open_memory_channel[InstallChunk](CHUNKS_AHEAD - 1)
    unanswered: collections.deque[Callable[[], Awaitable[bool]]] = collections.deque()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_fetch_ahead, pull, chunk_bytes, fetch, send)
        async for chunk in receive:
            unanswered.append(begin_install(chunk))
            if len(unanswered) < INSTALLS_AHEAD and not chunk.done:
                continue
            if not await _answered(unanswered, keep=0 if chunk.done else INSTALLS_AHEAD - 1):
                break
            if chunk.done:
                break
        else:
            await _answered(unanswered, keep=0)  # the fetch failed: settle what was proposed
        # Whatever was fetched ahead of a chunk that did not apply (or of the last) is moot.
        nursery.cancel_scope.cancel()


async def _answered(
    unanswered: collections.deque[Callable[[], Awaitable[bool]]], keep: int
) -> bool:
    """Wait for the oldest proposals until `keep` are left; False at one that did not apply."""
    while len(unanswered) > keep:
        if not await unanswered.popleft()():
            return False
    return True


async def _fetch_ahead(
    pull: dict[str, Any],
    chunk_bytes: int,
    fetch: Fetch,
    send: trio.MemorySendChannel[InstallChunk],
) -> None:
    bucket, num, cursor = pull["bucket"], pull["num"], pull["cursor"]
    async with send:
        while True:
            reply = await fetch(FetchBucket(num, bucket, cursor, chunk_bytes, with_events=True))
            if type(reply) is ErrorReply:
                log.debug("fetch of bucket %d: %s", bucket, reply)
                return  # closing the channel ends the stream once the installs caught up
            assert type(reply) is BucketChunk
            chunk = InstallChunk(
                num,
                bucket,
                cursor,
                tuple((key, value) for key, value in reply.rows),
                tuple(session_entry(fields) for fields in reply.sessions),
                reply.done,
                tuple((row, raw) for row, raw in reply.leases or ()),
                watch_event_entries(reply.events or []),
                reply.head,
            )
            await send.send(chunk)
            if chunk.done:
                return
            cursor = transfer.next_cursor(
                cursor, chunk.rows, chunk.sessions, chunk.leases, chunk.events
            )

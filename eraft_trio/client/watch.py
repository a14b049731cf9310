"""Watches on the client: a key's or a prefix's changes as an async iterator, resumable.

    async with client.watch(prefix=b"app/", from_revision=r) as events:
        async for event in events:      # WatchEvent(kind, key, value, version, ...)
            ...
        events.positions                # {bucket: next revision}: resume from here

Each watched bucket has a position, the next revision wanted from it. A single-key
watch polls the key's bucket; a prefix watch every bucket, one long poll per owning
group for all of that group's buckets (protocol/watch.py). A poll that finds nothing
is held open by the group's leader until a commit brings a change or `max_wait` ends.

Order and resumption: changes come in revision order per bucket, never across
buckets. A bucket's revisions only grow, also across leader changes and bucket moves,
so a position stays valid wherever the bucket goes: after a `wrong_group` answer the
bucket is polled at its new owner from the same position, and after `not_leader` at the
new leader; no change is missed or repeated. `positions` says how far the caller has
consumed (a change is counted once it was yielded), so a process that saves it can
resume with `positions=` after a restart.

Memory is bounded: pages are capped (`max_events`, `max_bytes`) and at most
`QUEUED_PAGES` pages wait for the caller; a slow caller slows the polls down.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import trio

from eraft_trio.errors import BadRequest, Compacted, EraftError, OperationTimeout, ServerError
from eraft_trio.group_calls.deadline import Deadline
from eraft_trio.group_calls.group_caller import GroupUnreachable
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.keys import bucket_of, hash_tag
from eraft_trio.protocol.watch import WatchPage, WatchRequest

if TYPE_CHECKING:
    from eraft_trio.client.kv_client import Client

log = logging.getLogger(__name__)

QUEUED_PAGES = 8  # pages fetched and not yet consumed, at most
DEFAULT_MAX_WAIT = 5.0  # seconds a poll may be held open by the leader
DEFAULT_MAX_EVENTS = 1000
DEFAULT_MAX_BYTES = 1 << 20
_PUT, _DELETE = 1, 2


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change: a put (`value`, and the key's `version` after it) or a delete (value
    None, version 0), at revision `mod_revision` of bucket `bucket`. `resume_revision`:
    where the bucket's position stands once this event is handled (a watch opened with
    `positions={bucket: resume_revision}` gets what follows it, nothing twice)."""

    kind: Literal["put", "delete"]
    key: bytes
    value: bytes | None
    version: int
    mod_revision: int
    bucket: int
    resume_revision: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class _Page:
    bucket: int
    events: list[WatchEvent]
    next: int


class Watch:
    """The events of one watch, as an async iterator; `positions` for resuming."""

    def __init__(self, receive: trio.MemoryReceiveChannel[_Page | BaseException]) -> None:
        self._receive = receive
        self._ready: collections.deque[tuple[WatchEvent, int]] = collections.deque()
        self._positions: dict[int, int] = {}
        self._queued: collections.Counter[int] = collections.Counter()  # pages per bucket
        self._error: BaseException | None = None  # what ended the watch (Compacted...)

    async def deliver(
        self, send: trio.MemorySendChannel[_Page | BaseException], page: _Page
    ) -> None:
        """Queue a page for the caller. A page without events only moves the bucket's
        position on: at once when none of its pages waits (so an idle caller never
        blocks the polls with positions), else behind them, in order."""
        if not page.events and not self._queued[page.bucket]:
            self._positions[page.bucket] = page.next
            return
        self._queued[page.bucket] += 1
        await send.send(page)

    @property
    def positions(self) -> dict[int, int]:
        """{bucket: the next revision this watch would yield from it} (0: from now, not
        yet asked): pass it as `positions=` to resume where the caller stopped."""
        return dict(self._positions)

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> WatchEvent:
        while not self._ready:
            if self._error is not None:
                raise self._error  # the watch is over: every later call says why
            item = await self._receive.receive()
            if isinstance(item, BaseException):
                self._error = item
                raise item
            self._queued[item.bucket] -= 1
            self._queue(item)
        event, position = self._ready.popleft()
        self._positions[event.bucket] = position
        return event

    def _queue(self, page: _Page) -> None:
        """A page's events, each with the position it leaves once yielded: within a
        revision the revision itself (the rest of it is still to come), after its last
        change the next one, after the page's last event the page's `next`."""
        events = page.events
        if not events:
            self._positions[page.bucket] = page.next
        for i, event in enumerate(events):
            if i + 1 == len(events):
                position = page.next
            elif events[i + 1].mod_revision != event.mod_revision:
                position = event.mod_revision + 1
            else:
                position = event.mod_revision
            self._ready.append((replace(event, resume_revision=position), position))

    def start(self, positions: dict[int, int]) -> None:
        self._positions.update(positions)


class _Router:
    """Which group polls which bucket; pollers hand back buckets that moved away."""

    def __init__(
        self,
        client: Client,
        match: bytes,
        prefix: bool,
        positions: dict[int, int],
        send: trio.MemorySendChannel[_Page | BaseException],
        limits: tuple[float, int, int],
        watch: Watch,
    ) -> None:
        self.client = client
        self.watch = watch
        self.match = match
        self.prefix = prefix
        self.positions = positions  # bucket -> next revision to ask (the pollers' own)
        self.send = send
        self.max_wait, self.max_events, self.max_bytes = limits
        self.homeless: set[int] = set(positions)
        self.owner: dict[int, int] = {}  # bucket -> gid polling it
        self.polls: dict[int, trio.CancelScope] = {}  # gid -> its poll in flight
        self.wake = trio.Event()
        self.seen_num = -1  # a config number a wrong_group answer said is current
        self.established = trio.Event()  # every position is a revision (none "from now")
        self._check_established()

    def _check_established(self) -> None:
        if all(self.positions.values()):
            self.established.set()

    async def run(self, nursery: trio.Nursery) -> None:
        backoff = 0.05
        while True:
            if not self.homeless:
                await self.wake.wait()
            self.wake = trio.Event()
            try:
                config = await self.client._refresh_config(
                    Deadline(self.client.timeout), self.seen_num
                )
            except EraftError as exc:
                log.debug("watch: config refresh: %s", exc)
                await trio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            for bucket in sorted(self.homeless):
                gid = config["buckets"][bucket]
                if gid == 0 or not config["groups"].get(str(gid)):
                    continue  # unassigned: look again later
                self.homeless.discard(bucket)
                self.owner[bucket] = gid
                if gid in self.polls:
                    self.polls[gid].cancel()  # ask again with this bucket too
                else:
                    self.polls[gid] = trio.CancelScope()
                    nursery.start_soon(self._poll_group, gid)
            if self.homeless:
                await trio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
            else:
                backoff = 0.05

    def _give_back(self, buckets: Iterable[int], num: int | None = None) -> None:
        for bucket in buckets:
            self.owner.pop(bucket, None)
            self.homeless.add(bucket)
        if num is not None:
            self.seen_num = max(self.seen_num, num)
        self.wake.set()

    async def _poll_group(self, gid: int) -> None:
        try:
            while True:
                mine = sorted(b for b, owner in self.owner.items() if owner == gid)
                if not mine:
                    return
                reply = await self._poll(gid, mine)
                if reply is not None:
                    await self._deliver(gid, mine, reply)
        finally:
            self.polls.pop(gid, None)
            if any(owner == gid for owner in self.owner.values()):
                # A bucket given to this group as the poller ended: poll it anew.
                self._give_back([b for b, owner in self.owner.items() if owner == gid])

    async def _poll(self, gid: int, buckets: list[int]) -> WatchPage | None:
        """One long poll of `gid` for `buckets`; None when there is no page to deliver
        (cancelled for a new bucket, the group unreachable, a timeout: asked again)."""
        config = self.client.config
        addresses = tuple((config or {}).get("groups", {}).get(str(gid), ()))
        if not addresses:
            self._give_back(buckets)
            return None
        group = self.client._group(gid, addresses)
        request = WatchRequest(
            [[b, self.positions[b]] for b in buckets],
            self.match,
            self.prefix,
            self.max_events,
            self.max_bytes,
            int(self.max_wait * 1000),
        )
        # Each try must outlast the leader's hold: Deadline.try_timeout gives a quarter.
        deadline = Deadline(4 * (self.max_wait + 2.0))
        scope = self.polls[gid] = trio.CancelScope()
        with scope:
            try:
                reply = await group.call(request, deadline, raise_unreachable=True)
            except GroupUnreachable:
                self._give_back(buckets)  # the group left: a newer config names the owner
                return None
            except (OperationTimeout, ServerError) as exc:
                # No leader for a while, or a node failing (a full disk): ask again.
                log.debug("watch: group %d: %s", gid, exc)
                await trio.sleep(0.5)
                return None
        if scope.cancelled_caught:
            return None
        if type(reply) is ErrorReply:
            if reply.code is ErrorCode.BUSY:
                await trio.sleep(0.5)
                return None
            raise BadRequest(reply.code, reply.message)
        if type(reply) is not WatchPage:
            raise EraftError(f"a watch answered {type(reply).__name__}")
        return reply

    async def _deliver(self, gid: int, asked: list[int], page: WatchPage) -> None:
        moved = []
        for bucket, status, next_revision, events in page.buckets:
            if bucket not in asked or self.owner.get(bucket) != gid:
                continue
            if status == "wrong_group":
                moved.append(bucket)
            elif status == "compacted":
                raise Compacted(bucket, next_revision)
            else:
                if not events and next_revision == self.positions[bucket]:
                    continue
                self.positions[bucket] = next_revision
                self._check_established()
                await self.watch.deliver(
                    self.send, _Page(bucket, _events(bucket, events), next_revision)
                )
        if moved:
            # The group may not have caught up with the config that moved the bucket to
            # it yet (or we with the one that moved it away): not a busy loop meanwhile.
            await trio.sleep(0.05)
            self._give_back(moved, page.num)


def _events(bucket: int, fields: list[Any]) -> list[WatchEvent]:
    return [
        WatchEvent(
            "put" if kind == _PUT else "delete",
            bytes(key),
            None if value is None else bytes(value),
            version,
            revision,
            bucket,
        )
        for revision, kind, key, value, version in fields
    ]


def watched_buckets(match: bytes, prefix: bool, nbuckets: int) -> list[int]:
    """The buckets a watch polls: a key's own; for a prefix every bucket, unless the
    prefix holds a whole hash tag (`user{42}:`): every key under it has that tag, so
    they all live in its bucket."""
    if not prefix or hash_tag(match) != match:
        return [bucket_of(match, nbuckets)]
    return list(range(nbuckets))


@asynccontextmanager
async def open_watch(
    client: Client,
    key: bytes | None,
    prefix: bytes | None,
    from_revision: int | None,
    positions: dict[int, int] | None,
    max_wait: float,
) -> AsyncIterator[Watch]:
    """What Client.watch opens (see there)."""
    if (key is None) == (prefix is None):
        raise BadRequest("bad_request", "watch one key or one prefix: give key or prefix=")
    if from_revision is not None and (
        not isinstance(from_revision, int) or isinstance(from_revision, bool) or from_revision < 1
    ):
        raise BadRequest("bad_request", f"from_revision must be >= 1, not {from_revision!r}")
    if max_wait <= 0:
        raise BadRequest("bad_request", "max_wait must be > 0 seconds")
    config = client.config or await client._refresh_config(Deadline(client.timeout), -1)
    nbuckets = len(config["buckets"])
    match = key if key is not None else prefix
    assert match is not None
    client._check_size(match, None)
    buckets = watched_buckets(match, key is None, nbuckets)
    start = {b: from_revision or 0 for b in buckets}
    for bucket, revision in (positions or {}).items():
        if bucket in start:
            start[bucket] = int(revision)
    send, receive = trio.open_memory_channel[_Page | BaseException](QUEUED_PAGES)
    watch = Watch(receive)
    watch.start(start)
    router = _Router(
        client,
        match,
        prefix is not None,
        dict(start),
        send,
        (max_wait, DEFAULT_MAX_EVENTS, DEFAULT_MAX_BYTES),
        watch,
    )

    async def route() -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(router.run, nursery)
        except BaseExceptionGroup as group:
            failures = group.subgroup(EraftError)
            if failures is None:
                raise
            # Compacted or a refusal: the caller gets it from the iterator.
            await send.send(_first(failures))
        except EraftError as exc:
            await send.send(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(route)
        try:
            # "From now" means from when watch() returns: every bucket's current revision
            # is known by then, so a change made after it is never missed.
            with trio.move_on_after(client.timeout) as waiting:
                await router.established.wait()
            if waiting.cancelled_caught:
                raise OperationTimeout(
                    f"the watched buckets' revisions not known within {client.timeout:g}s"
                )
            yield watch
        finally:
            nursery.cancel_scope.cancel()


def _first(group: BaseExceptionGroup[EraftError]) -> EraftError:
    while True:
        first = group.exceptions[0]
        if not isinstance(first, BaseExceptionGroup):
            return first
        group = first

"""The watch read: a page of each asked bucket's changes from a revision on, filtered by
key or prefix (the query `("watch", positions, key, is_prefix, max_events, max_bytes)`).

A page never splits a revision (a txn's changes come together), so a client resumes
from the `next` revision it is given without repeating or missing a change. Events that
do not match the filter are skipped but still move `next` on, so a quiet key in a busy
bucket does not fall behind the history's compaction. Each bucket is answered alone:
one that moved away (wrong_group) or whose asked revision was trimmed (compacted) does
not hold the others back.
"""

from __future__ import annotations

from typing import Any

from eraft_trio.roles.shard import replies, tables, watch_events
from eraft_trio.roles.shard.buckets import Phase
from eraft_trio.storage.view import TableView

OK = "ok"
WRONG_GROUP = str(replies.WRONG_GROUP)
COMPACTED = "compacted"
# History rows one request may look at, matching or not (bounds a read's time).
MAX_SCANNED = 20_000


def answer(view: TableView, args: list[Any]) -> dict[str, Any]:
    """The query's answer, {"num", "buckets": [[bucket, status, next, events]...]}, or
    bad_query for a malformed one. An event is [revision, kind, key, value, version]."""
    problem = _problem(args)
    if problem is not None:
        return replies.invalid(replies.BAD_QUERY, f"bad watch query: {problem}")
    positions, match, is_prefix, max_events, max_bytes = args
    config = tables.current_config(view)
    budget = _Budget(max_events, max_bytes)
    answered = []
    for bucket, start in positions:
        answered.append(_bucket_page(view, config, bucket, start, match, is_prefix, budget))
    return {"num": config.num, "buckets": answered}


class _Budget:
    """What is left of one request's events, bytes and scanned rows, over all its buckets."""

    def __init__(self, events: int, size: int) -> None:
        self.events = events
        self.size = size
        self.scanned = MAX_SCANNED

    def spent(self) -> bool:
        return self.events <= 0 or self.size <= 0 or self.scanned <= 0


def _bucket_page(
    view: TableView,
    config: Any,
    bucket: int,
    start: int,
    match: bytes,
    is_prefix: bool,
    budget: _Budget,
) -> list[Any]:
    if bucket >= len(config.buckets) or tables.bucket_state(view, bucket).phase != Phase.SERVING:
        return [bucket, WRONG_GROUP, start, []]
    head = watch_events.head(view, bucket) or watch_events.Head()
    if start == 0:  # "from now"
        return [bucket, OK, head.last_revision + 1, []]
    if start <= head.compacted:
        return [bucket, COMPACTED, head.compacted + 1, []]
    events: list[list[Any]] = []
    next_revision = start
    for row, data in watch_events.events_from(view, bucket, start):
        _, revision, _ = watch_events.split_event_key(row)
        if revision >= next_revision and budget.spent():
            return [bucket, OK, next_revision, events]  # at a revision's start, never inside
        budget.scanned -= 1
        next_revision = revision + 1
        event = watch_events.decode_event(row, data)
        if event.key == match or (is_prefix and event.key.startswith(match)):
            events.append([revision, event.kind, event.key, event.value, event.version])
            budget.events -= 1
            budget.size -= len(data)
    # Every event of the bucket seen: the next change will be past its last revision.
    return [bucket, OK, max(next_revision, head.last_revision + 1), events]


def _problem(args: list[Any]) -> str | None:
    if len(args) != 5:
        return "takes positions, key, is_prefix, max_events, max_bytes"
    positions, match, is_prefix, max_events, max_bytes = args
    if not isinstance(match, bytes) or not isinstance(is_prefix, bool):
        return "key must be bytes and is_prefix a boolean"
    if not (_is_int(max_events) and max_events > 0 and _is_int(max_bytes) and max_bytes > 0):
        return "max_events and max_bytes must be positive integers"
    if not isinstance(positions, list | tuple) or not positions:
        return "positions must be a non-empty list of [bucket, revision]"
    for position in positions:
        if not (
            isinstance(position, list | tuple)
            and len(position) == 2
            and all(_is_int(n) and 0 <= n < 2**63 for n in position)
        ):
            return f"position {position!r} is not [bucket, revision]"
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

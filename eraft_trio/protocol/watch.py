"""Watches: a long-poll read of key changes, served by a shard group's leader (type ids
136-143).

`WatchRequest` names, for buckets the group serves, the revision each should start
from (`positions`: [[bucket, revision]...]; revision 0: from now), a key (or a prefix
with `prefix`) to match, page limits, and how long the leader may hold the request
open when there is nothing to say (`max_wait_ms`, capped by the server). It answers at
once when any asked bucket has a matching change or a status other than "ok", else
when a commit brings one, else empty when the wait is over.

`WatchPage` gives per asked bucket [bucket, status, next, events]: status "ok",
"wrong_group" (not served here: ask the bucket's owner) or "compacted" (the asked
revision's changes are trimmed: `next` is the oldest kept); `next` is the revision to
ask for next time; events [revision, kind (1 put, 2 delete), key, value (None for a
delete), version (0 for a delete)] in revision order. Per bucket only: no order across
buckets. A refusal is an ErrorReply: not_leader, bad_request (malformed), busy (too many
watches held open at this node).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class WatchRequest:
    positions: list[Any]
    key: bytes
    prefix: bool
    max_events: int
    max_bytes: int
    max_wait_ms: int


@dataclass(frozen=True, slots=True)
class WatchPage:
    num: int
    buckets: list[Any]

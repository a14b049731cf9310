"""Sessions with a lifetime: the group's clock, and expiry in bounded batches.

The state machine has no clock. Time reaches it only as numbers in log entries: the
leader stamps its wall clock into every put and delete, and proposes an
ExpireSessions entry (its clock and its TTL) when its oldest session is due. The
group's clock is the largest stamp applied so far, so it never goes backwards across
leader changes, and every replica expires the same sessions at the same log index.

A session's last use is kept in whole seconds of that clock (a session written many
times a second touches its age index once a second). One is due once it has surely
been idle `ttl_ms`, even if it was used at the very end of its second: expiry is never
early, at most a second late. A clock jumping forward on a new leader makes sessions
expire early; that costs a client a `session_expired` error, never a duplicate write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from eraft_trio.roles.shard import replies, tables
from eraft_trio.roles.shard.commands import ExpireSessions
from eraft_trio.storage.view import TableView

# Sessions one ExpireSessions entry deletes at most, so no apply transaction grows with
# the number of idle clients; the leader proposes another while the answer says "more".
EXPIRE_BATCH = 1000


def second_of(now_ms: int) -> int:
    return now_ms // 1000


def expiry_horizon(now_ms: int, ttl_ms: int) -> int:
    """The last second whose sessions are due at `now_ms` (negative: none can be)."""
    return (now_ms - ttl_ms - 999) // 1000


def is_due(oldest_s: int | None, now_ms: int, ttl_ms: int) -> bool:
    """Whether a session last used at second `oldest_s` has expired at `now_ms`."""
    return oldest_s is not None and oldest_s <= expiry_horizon(now_ms, ttl_ms)


def apply_expire(view: TableView, command: ExpireSessions) -> dict[str, Any]:
    """Advance the clock to the entry's stamp, then delete up to EXPIRE_BATCH due sessions.

    The reply says how many went and whether more are due; the batch bound makes this
    entry's work independent of how many clients ever wrote.
    """
    now = tables.advance_now(view, command.now_ms)
    horizon = expiry_horizon(now, command.ttl_ms)
    if horizon < 0:
        return replies.ok(expired=0, more=False)
    due = list(tables.sessions_used_by(view, horizon, EXPIRE_BATCH + 1))
    for used_s, bucket, client_id in due[:EXPIRE_BATCH]:
        tables.delete_session(view, bucket, client_id, used_s)
    return replies.ok(expired=min(len(due), EXPIRE_BATCH), more=len(due) > EXPIRE_BATCH)


def clock(view: TableView) -> dict[str, Any]:
    """What the leader needs to decide whether to propose an expiry: the group's clock in
    ms and the oldest session's last use in seconds (None when no session is indexed)."""
    return {"now_ms": tables.group_now_ms(view), "oldest_s": tables.oldest_session_use(view)}


class SessionRequest(Protocol):
    """What makes a request exactly once: who sent it, its seq, and whether the client marks
    it as possibly its session's first in the bucket (None: an older client's, no mark)."""

    @property
    def client_id(self) -> int: ...

    @property
    def seq(self) -> int: ...

    @property
    def new_session(self) -> bool | None: ...


@dataclass(frozen=True, slots=True)
class GoAhead:
    """Apply the request now; `previous` is the session row its reply will replace."""

    previous: tables.Session | None


def check_session(
    view: TableView, bucket: int, request: SessionRequest, what: str
) -> dict[str, Any] | GoAhead:
    """The answer to give now without applying `request`, or GoAhead.

    The rules every exactly-once request follows (writes.apply_write says why):
    the seq of the stored session gets its stored reply again; a lower seq is an old
    retry whose caller has moved on and gets a plain ok; a request not marked as a new
    session that finds none is refused (session_expired), as it may have applied before
    its session expired. `what` names the request in that refusal ("the write").
    """
    session = tables.load_session(view, bucket, request.client_id)
    if session is not None and request.seq <= session.seq:
        return session.reply if request.seq == session.seq else replies.ok()
    if session is None and request.new_session is False:
        return replies.invalid(
            replies.SESSION_EXPIRED,
            f"the session of client {request.client_id} in bucket {bucket} expired (unused "
            f"longer than the group's session_ttl_s); {what} is not applied now, and an "
            "earlier try of it may or may not have been",
        )
    return GoAhead(session)


def store_reply(
    view: TableView,
    bucket: int,
    request: SessionRequest,
    reply: dict[str, Any],
    now_s: int,
    go: GoAhead,
) -> None:
    """Keep `reply` as the session's, last used at second `now_s`, so a retry gets it."""
    session = tables.Session(request.seq, reply, now_s)
    tables.store_session(view, bucket, request.client_id, session, go.previous)

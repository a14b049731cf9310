"""The shard server's lease side: lease requests into log entries, and the leader's lease clock.

Requests are stamped with the leader's wall clock like puts (the group's time moves only
through stamps: sessions.py). The clock loop runs on the leader only: once per term it
first proposes PromoteLeases (every lease extended to now + its TTL, so a new leader never
expires a lease for the time it took to be elected), then, whenever the earliest deadline
has passed by its clock, ExpireLeases until the answers say no more are due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from eraft_trio.errors import EraftError
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.lease import (
    KvPutLeased,
    LeaseAlive,
    LeaseGrant,
    LeaseGranted,
    LeaseKeepAlive,
    LeaseRevoke,
    LeaseRevoked,
)
from eraft_trio.protocol.limits import request_refusal
from eraft_trio.roles.shard import commands, conditions, leases, replies
from eraft_trio.roles.shard.lease_commands import (
    ExpireLeases,
    GrantLease,
    KeepAliveLease,
    LeasePut,
    PromoteLeases,
    RevokeLease,
)
from eraft_trio.runtime.errors import NotLeaderError, RuntimeErrorBase
from eraft_trio.runtime.raft_node import RaftNode
from eraft_trio.runtime.waiter import Waiter

log = logging.getLogger(__name__)

LEASE_REQUESTS = LeaseGrant | LeaseKeepAlive | LeaseRevoke | KvPutLeased
# How often the leader looks whether a lease is due: a lease ends at most this much past
# its deadline (plus the entry's commit), and the look is a local read.
LEASE_POLL_SECONDS = 0.2

ToReply = Callable[[dict[str, Any]], Any]
Started = tuple[Waiter, ToReply] | ErrorReply


def start_lease_request(node: RaftNode, body: Any, now_ms: int, max_value_bytes: int) -> Started:
    """The proposal of a lease request with what turns its result into the reply, or the
    refusal of a request bad on its face (only the leader refuses, as for puts)."""
    refusal = lease_refusal(body, max_value_bytes)
    if refusal is not None:
        if not node.is_leader:
            raise NotLeaderError(node.leader_address)
        return refusal
    command: commands.ShardCommand
    to_reply: ToReply
    if isinstance(body, LeaseGrant):
        command = GrantLease(
            body.client_id, body.seq, body.key, body.ttl_ms, now_ms, body.new_session
        )
        to_reply = _to_granted
    elif isinstance(body, LeaseKeepAlive):
        command, to_reply = KeepAliveLease(body.lease_id, now_ms), _to_alive
    elif isinstance(body, LeaseRevoke):
        command = RevokeLease(body.client_id, body.seq, body.lease_id, now_ms, body.new_session)
        to_reply = _to_revoked
    else:
        condition = conditions.from_request(body.if_version, body.if_value)
        assert not isinstance(condition, ErrorReply)  # lease_refusal checked it
        command = LeasePut(
            body.client_id,
            body.seq,
            body.key,
            body.value,
            body.lease_id,
            now_ms,
            body.new_session,
            condition,
        )
        to_reply = replies.to_written
    return node.start_proposal(commands.encode_command(command)), to_reply


_ID_FIELDS = ("client_id", "seq", "lease_id")
_MAX_U64 = 2**64 - 1


def lease_refusal(body: Any, max_value_bytes: int) -> ErrorReply | None:
    """The refusal of a lease request bad on its face, before it costs a log entry (an id
    outside 64 bits would not even encode into one)."""
    for name in _ID_FIELDS:
        value = getattr(body, name, None)
        if value is not None and not 0 <= value <= _MAX_U64:
            return ErrorReply(ErrorCode.BAD_REQUEST, f"{name} {value} is not in 0 .. 2**64-1")
    if isinstance(body, LeaseGrant):
        problem = leases.ttl_problem(body.ttl_ms)
        if problem is not None:
            return ErrorReply(ErrorCode.BAD_REQUEST, problem)
        return request_refusal(body.key, None, max_value_bytes)
    if isinstance(body, KvPutLeased):
        if not body.key:
            return ErrorReply(ErrorCode.BAD_REQUEST, leases.EMPTY_LEASE_KEY)
        condition = conditions.from_request(body.if_version, body.if_value)
        if isinstance(condition, ErrorReply):
            return condition
        return request_refusal(body.key, body.value, max_value_bytes) or request_refusal(
            body.key, body.if_value, max_value_bytes
        )
    return None


def _to_granted(result: dict[str, Any]) -> LeaseGranted | ErrorReply:
    if "lease" not in result:
        return replies.error_of(result) or _stale_seq()
    return LeaseGranted(result["lease"], result["ttl_ms"], result["revision"])


def _to_alive(result: dict[str, Any]) -> LeaseAlive | ErrorReply:
    return replies.error_of(result) or LeaseAlive(result["lease"], result["ttl_ms"])


def _to_revoked(result: dict[str, Any]) -> LeaseRevoked | ErrorReply:
    if "deleted" not in result:
        return replies.error_of(result) or _stale_seq()
    return LeaseRevoked(result["revision"], result["deleted"])


def _stale_seq() -> ErrorReply:
    """The answer to a late copy of a grant or revoke: the session has moved past its seq
    (leases.py answers a bare ok, as writes.py does), so its own answer is gone."""
    return ErrorReply(
        ErrorCode.STALE_SEQ,
        "a late copy of a request older than its session's last: it was applied (or not) "
        "before, and its answer is no longer kept",
    )


async def run_lease_clock(node: RaftNode, now_ms: Callable[[], int], stats: dict[str, Any]) -> None:
    """The leader's loop: promote once per term, then expire what is due (runs forever)."""
    promoted_term: int | None = None
    while True:
        await trio.sleep(LEASE_POLL_SECONDS)
        if not node.is_leader:
            promoted_term = None
            continue
        term = node.core.term
        try:
            if promoted_term != term:
                # Always, even when this node sees no lease yet: its applied state may
                # trail grants the previous leader committed.
                await node.propose(commands.encode_command(PromoteLeases(now_ms())))
                promoted_term = term
                continue
            await expire_due_leases(node, now_ms, stats)
        except (EraftError, RuntimeErrorBase) as exc:
            log.debug("lease clock: %s", exc)


async def expire_due_leases(
    node: RaftNode, now_ms: Callable[[], int], stats: dict[str, Any]
) -> int:
    """Propose expiries while the earliest deadline has passed; the leases expired."""
    clock = node.read_local(("lease_clock",))
    due = clock["next_deadline_ms"]
    # The group's clock may be ahead of ours (a previous leader's): it decides.
    if due is None or due > max(now_ms(), clock["now_ms"]):
        return 0
    expired = 0
    while True:
        reply = await node.propose(commands.encode_command(ExpireLeases(now_ms())))
        expired += int(reply.get("expired", 0))
        stats["leases_expired"] += int(reply.get("expired", 0))
        stats["lease_keys_expired"] += int(reply.get("deleted", 0))
        if not reply.get("more"):
            return expired

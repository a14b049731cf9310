"""Lease requests the shard leader refuses before proposing them, and results turned into
replies (roles/shard/lease_server.py; issue 16)."""

from __future__ import annotations

from typing import Any

import pytest
from roles.test_shard_leases import T0, TTL, serving_group

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.lease import KvPutLeased, LeaseGrant, LeaseKeepAlive, LeaseRevoke
from eraft_trio.roles.shard.commands import Put
from eraft_trio.roles.shard.lease_commands import GrantLease, RevokeLease
from eraft_trio.roles.shard.lease_server import _to_granted, _to_revoked, lease_refusal
from eraft_trio.roles.shard.server import _answer_from
from eraft_trio.runtime.waiter import Waiter

MAX_VALUE = 1 << 20


def test_a_leased_put_of_the_empty_key_is_refused() -> None:
    refusal = lease_refusal(KvPutLeased(1, 1, b"", b"v", 1 << 40 | 1), MAX_VALUE)
    assert refusal is not None and refusal.code == ErrorCode.BAD_REQUEST
    assert lease_refusal(KvPutLeased(1, 1, b"k", b"v", 1 << 40 | 1), MAX_VALUE) is None


def test_a_late_copy_of_a_grant_or_revoke_answers_stale_seq() -> None:
    """The state machine answers a seq below the session's with a bare ok; the reply is
    stale_seq, not a KeyError in the runtime's answering callback (issue 16, finding 3)."""
    _, group = serving_group()
    key = b"lock{a}:x"
    lease = group.propose(GrantLease(7, 5, key, TTL, T0, True))["lease"]
    assert group.propose(Put(7, 6, key, b"v", T0, False))["ok"]
    late_grant = group.propose(GrantLease(7, 5, key, TTL, T0 + 1, True))
    late_revoke = group.propose(RevokeLease(7, 4, lease, T0 + 1, True))
    for late, to_reply in ((late_grant, _to_granted), (late_revoke, _to_revoked)):
        reply = to_reply(late)
        assert isinstance(reply, ErrorReply) and reply.code == ErrorCode.STALE_SEQ
    assert isinstance(_to_granted({"err": "wrong_group", "num": 3}), ErrorReply)


def test_a_result_that_cannot_become_a_reply_fails_that_request_only() -> None:
    answers: list[tuple[object, object]] = []
    done = Waiter()
    done.set({"ok": True})

    def broken(result: dict[str, Any]) -> Any:
        raise KeyError("lease")

    _answer_from(done, broken, lambda reply, error: answers.append((reply, error)))
    ((reply, error),) = answers
    assert isinstance(reply, ErrorReply) and reply.code == ErrorCode.INTERNAL
    assert error is None


@pytest.mark.parametrize(
    "body",
    [
        LeaseKeepAlive(2**64),
        LeaseKeepAlive(-1),
        LeaseRevoke(-1, 1, 1 << 40 | 1),
        LeaseRevoke(1, 2**64, 1 << 40 | 1),
        LeaseGrant(2**64, 1, b"k", 5000),
        LeaseGrant(1, -5, b"k", 5000),
        KvPutLeased(1, 1, b"k", b"v", 2**70),
    ],
)
def test_ids_outside_64_bits_are_refused_before_the_log(body: object) -> None:
    """(issue 16, finding 8)"""
    refusal = lease_refusal(body, MAX_VALUE)
    assert refusal is not None and refusal.code == ErrorCode.BAD_REQUEST


def test_ids_at_the_64_bit_edges_are_proposed() -> None:
    assert lease_refusal(LeaseKeepAlive(2**64 - 1), MAX_VALUE) is None
    assert lease_refusal(LeaseRevoke(0, 2**64 - 1, 1 << 40 | 1), MAX_VALUE) is None

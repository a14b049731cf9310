"""The one set of error codes nodes answer with, and the one reply that carries them.

Users see these codes (`BadRequest.code`, the CLI's one-line messages, docs/reference.md),
so a code is only ever added, never renamed. The transport's own refusals (a bad
handshake, a frame too large) are ErrorFrame codes of the envelope (envelope.py), not these.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    # Any role: where to ask, and whether asking again can help.
    NOT_LEADER = "not_leader"  # ask the leader instead (ErrorReply.leader, when known)
    RETRY = "retry"  # leadership changed while the request waited: outcome unknown, retry
    INTERNAL = "internal"  # the handler failed (a full disk, a bug)
    BAD_REQUEST = "bad_request"  # a request this node's role does not serve, or names nothing
    BUSY = "busy"  # a membership change or snapshot install still in progress: ask again
    # Shard groups.
    WRONG_GROUP = "wrong_group"  # the key's bucket is not served here at config ErrorReply.num
    NOT_READY = "not_ready"  # a config, fetch or drop that must wait for this group to move on
    BAD_COMMAND = "bad_command"  # a log entry that does not decode to a command
    BAD_CONFIG = "bad_config"  # a config whose bucket count differs from the current one
    BAD_CHUNK = "bad_chunk"  # an install chunk whose rows do not follow the cursor in its bucket
    KEY_TOO_LONG = "key_too_long"  # a key longer than limits.MAX_KEY_BYTES
    VALUE_TOO_LARGE = "value_too_large"  # a put over the node's [limits] max_value_bytes
    BAD_QUERY = "bad_query"  # a read the state machine does not understand
    SESSION_EXPIRED = "session_expired"  # a retried write whose session expired meanwhile
    # Leases (roles/shard/leases.py, docs/reference.md "Leases").
    LEASE_NOT_FOUND = "lease_not_found"  # no such lease: never granted, revoked or expired
    LEASE_BUCKET = "lease_bucket"  # a put with a lease of another bucket than the key's
    LEASE_FULL = "lease_full"  # a lease already has leases.MAX_KEYS_PER_LEASE keys
    CROSS_BUCKET = "cross_bucket"  # a txn whose keys are in more than one bucket (names them)
    # A watch from a revision whose changes the bucket's bounded history no longer holds
    # (docs/reference.md, Watches): resume from a newer revision, after reading anew.
    COMPACTED = "compacted"
    # The config group.
    BAD_GID = "bad_gid"  # a gid outside 1 .. 2**63-1
    BAD_BUCKET = "bad_bucket"  # a bucket outside 0 .. buckets-1
    BAD_ADDRESS = "bad_address"  # a group without addresses, or an address not host:port
    GID_EXISTS = "gid_exists"  # join of a gid already in the config
    GID_USED = "gid_used"  # join of a gid an earlier config used (gids never alias)
    ADDRESS_IN_USE = "address_in_use"  # join of an address another group already has
    UNKNOWN_GID = "unknown_gid"  # leave of, or move to, a gid not in the config
    LAST_GROUP = "last_group"  # leave of every group while buckets are assigned
    STALE_SEQ = "stale_seq"  # a session seq older than that client's last one
    NO_SUCH_CONFIG = "no_such_config"  # a query past the latest config
    # Node administration (leadership, membership).
    TRANSFER = "transfer"  # a leadership transfer that could not start
    NOT_CAUGHT_UP = "not_caught_up"  # a learner not yet caught up with the log: ask again
    REFUSED = "refused"  # a membership change that does not make sense (one line says why)
    UNKNOWN = "unknown"  # a membership change whose outcome is unknown: look, then ask again
    # Snapshot chunks (leader to follower; the leader gives the transfer up on any refusal).
    STALE = "stale"  # from an older term, or the first chunk of an older transfer
    UNKNOWN_TRANSFER = "unknown_transfer"  # a later chunk of a transfer not being received
    OUT_OF_ORDER = "out_of_order"  # not the next chunk of the transfer being received
    CORRUPT = "corrupt"  # data that is not a chunk of rows
    MISMATCH = "mismatch"  # the sender's totals (or meta) disagree with what was staged
    NOT_A_MEMBER = "not_a_member"  # a chunk from a node that is not a member of this group


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A refusal: `code` says why, `message` in one line for people. `leader` goes with
    not_leader (the leader's address, None when unknown); `num` with wrong_group and
    not_ready (the answering group's config number)."""

    code: ErrorCode
    message: str = ""
    leader: str | None = None
    num: int | None = None

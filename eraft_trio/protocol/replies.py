"""The answers to every request, as typed messages; a refusal is an ErrorReply (errors.py).

A caller tells an answer from a refusal by its type (`type(reply) is ErrorReply`), never
by looking for keys. Fields use plain msgpack types, so the documented JSON shapes
(`query --json`, `member list --json`) are these fields as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Done:
    """A request carried out with nothing more to say (a leadership transfer started, a
    snapshot chunk taken)."""


DONE = Done()


# --- the shard role ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Value:
    """The answer to KvGet: the key's value, None when it has none."""

    value: bytes | None


@dataclass(frozen=True, slots=True)
class VersionedValue:
    """The answer to KvGetVersioned: the key's value, version (writes since it was created)
    and mod revision (the revision of its last write); None, 0, 0 when it does not exist."""

    value: bytes | None
    version: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Written:
    """The answer to KvPut and KvDelete (a conditional one: its comparison held): applied,
    exactly once even when retried, as the write at `revision` (its bucket's revision:
    the log index, or past the bucket's last revision; tables.revision_for). A put says the
    key's `version` after it; a delete whether it `deleted` a key that existed. Revision 0:
    a late duplicate of a write older than its session's latest, which changed nothing
    (its caller has moved on; revisions start at 1)."""

    revision: int
    version: int = 0
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class CompareFailed:
    """The answer to a conditional KvPut or KvDelete whose comparison failed: nothing was
    written; the key as compared (None, 0, 0 when it does not exist)."""

    value: bytes | None
    version: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class BucketChunk:
    """The answer to FetchBucket: rows `[key, value]` and sessions `[client_id, seq,
    reply, last_use_s]` after the cursor; `done` when nothing of the bucket follows.
    `leases`: the bucket's lease rows `[row key, value]` (roles/shard/lease_tables.py),
    after its sessions; None from an old owner that predates leases. `events`: its watch
    history `[revision, ordinal, event]` after the leases, and in the last chunk `head`,
    its watch head (roles/shard/watch_events.py); None from an owner before watches."""

    rows: list[Any]
    sessions: list[Any]
    done: bool
    leases: list[Any] | None = None
    events: list[Any] | None = None
    head: bytes | None = None


@dataclass(frozen=True, slots=True)
class Dropped:
    """The answer to DropBucket: the old owner let go of the bucket (`dropped`: it held rows)."""

    dropped: bool


# --- the config role -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigChanged:
    """The answer to ConfigChange: the change made config `num` (or had, for a retry)."""

    num: int


@dataclass(frozen=True, slots=True)
class ConfigView:
    """The answer to ConfigQuery: `buckets[b]` is the gid serving bucket b (0: none),
    `groups` the addresses of every gid, keyed by the gid in decimal (as in JSON)."""

    num: int
    buckets: list[int]
    groups: dict[str, list[str]]

    def to_json(self) -> dict[str, Any]:
        """The contract's `query --json` shape (docs/reference.md)."""
        return {"num": self.num, "buckets": self.buckets, "groups": self.groups}


# --- node administration -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Drained:
    """The answer to Drain: whether the node is drained now, and its Raft role."""

    drained: bool
    role: str


@dataclass(frozen=True, slots=True)
class Members:
    """The answer to MemberList: each member as `{"id", "addr", "role", "leader"}`, the
    leader's address when known, and the membership in one line (membership.describe)."""

    members: list[dict[str, Any]]
    leader: str | None
    joint: bool
    membership: str


@dataclass(frozen=True, slots=True)
class MemberChanged:
    """The answer to MemberChange: the change to node `id` is committed."""

    id: int

"""What the clients' versioned reads, writes and compare-and-sets return (reference.md §3).

A revision numbers the writes of one bucket (the log index of the write, or past the
bucket's last revision after a move: tables.revision_for); a version
counts a key's writes since it was created (0: the key does not exist). Both come from
the group's answers, decoded here once for every client.
"""

from __future__ import annotations

from dataclasses import dataclass

from eraft_trio.errors import EraftError
from eraft_trio.protocol.replies import CompareFailed, VersionedValue, Written


@dataclass(frozen=True, slots=True)
class GetResult:
    """A key as read: value None, version 0 and mod_revision 0 when it does not exist."""

    value: bytes | None
    version: int
    mod_revision: int  # the revision of the key's last write

    @classmethod
    def from_reply(cls, reply: VersionedValue | CompareFailed) -> GetResult:
        value = reply.value
        return cls(None if value is None else bytes(value), reply.version, reply.mod_revision)


@dataclass(frozen=True, slots=True)
class PutResult:
    revision: int  # this write's
    version: int  # the key's, after it

    @classmethod
    def from_reply(cls, reply: Written) -> PutResult:
        return cls(reply.revision, reply.version)


@dataclass(frozen=True, slots=True)
class DeleteResult:
    revision: int  # this write's
    deleted: bool  # whether the key existed

    @classmethod
    def from_reply(cls, reply: Written) -> DeleteResult:
        return cls(reply.revision, reply.deleted)


@dataclass(frozen=True, slots=True)
class CasResult:
    """A conditional put or delete: whether its comparison held.

    `current` is the key after the write when it succeeded, and the key as compared
    (nothing written) when it did not; `revision` is the write's, None when it failed.
    """

    succeeded: bool
    revision: int | None
    current: GetResult

    @classmethod
    def from_reply(cls, reply: Written | CompareFailed, written: bytes | None) -> CasResult:
        """From a conditional write's answer; `written` is the value a put wrote (None:
        a delete)."""
        if type(reply) is CompareFailed:
            return cls(False, None, GetResult.from_reply(reply))
        if type(reply) is not Written:
            raise EraftError(f"a conditional write answered {type(reply).__name__}")
        if written is None:
            return cls(True, reply.revision, GetResult(None, 0, 0))
        return cls(True, reply.revision, GetResult(written, reply.version, reply.revision))
